"""Data Manager filters of the Custom subset: the SQL each filter becomes, and the exact message
of each filter the emulator refuses (a 400 naming filters_json)."""

import pytest

from app.lifecycle.subsets import MAX_FILTER_ITEMS, FilterError, filter_condition

SUPPORTED_OPERATORS = "equal, not_equal, less, greater, less_or_equal, greater_or_equal, in, not_in"


def task_id(operator, value) -> dict:
    return {"filter": "filter:tasks:id", "operator": operator, "type": "Number", "value": value}


def ground_truth(operator, value) -> dict:
    return {"filter": "filter:tasks:ground_truth", "operator": operator, "type": "Boolean",
            "value": value}  # fmt: skip


def sql(filters) -> str:
    """The WHERE condition a filter group becomes, with its values inlined."""
    return str(filter_condition(filters).compile(compile_kwargs={"literal_binds": True}))


def refusal(filters) -> str:
    with pytest.raises(FilterError) as refused:
        filter_condition(filters)
    assert refused.value.validation_errors == {"filters_json": [str(refused.value)]}
    return str(refused.value)


@pytest.mark.parametrize(
    ("operator", "value", "condition"),
    [
        ("equal", 5, "task.id = 5"),
        ("not_equal", 5, "task.id != 5"),
        ("less", 5, "task.id < 5"),
        ("greater", 5, "task.id > 5"),
        ("less_or_equal", 5, "task.id <= 5"),
        ("greater_or_equal", 5, "task.id >= 5"),
        ("greater", 2.9, "task.id > 2"),  # a float is truncated as int() does
        ("in", {"min": 3, "max": 7}, "task.id BETWEEN 3 AND 7"),
        ("not_in", {"min": 3, "max": 7}, "task.id NOT BETWEEN 3 AND 7"),
    ],
)
def test_each_task_id_operator_becomes_its_sql_comparison(operator, value, condition):
    assert sql({"conjunction": "and", "items": [task_id(operator, value)]}) == condition


@pytest.mark.parametrize(
    ("operator", "value", "condition"),
    [
        ("equal", True, "task.has_ground_truth = true"),
        ("equal", False, "task.has_ground_truth = false"),
        ("not_equal", True, "task.has_ground_truth = false"),
        ("not_equal", False, "task.has_ground_truth = true"),
    ],
)
def test_ground_truth_filter_selects_tasks_with_or_without_it(operator, value, condition):
    assert sql({"conjunction": "and", "items": [ground_truth(operator, value)]}) == condition


def test_items_are_joined_by_the_conjunction_and_by_default_with_and():
    items = [task_id("greater", 1), task_id("less", 9)]
    assert sql({"conjunction": "and", "items": items}) == "task.id > 1 AND task.id < 9"
    assert sql({"conjunction": "or", "items": items}) == "task.id > 1 OR task.id < 9"
    assert sql({"items": items}) == "task.id > 1 AND task.id < 9"


@pytest.mark.parametrize("value", [-(2**63), 2**63 - 1])
def test_values_at_the_ends_of_a_64_bit_column_are_accepted(value):
    assert sql({"items": [task_id("equal", value)]}) == f"task.id = {value}"


def test_a_hundred_filters_are_accepted():
    assert sql({"items": [task_id("greater", 1)] * MAX_FILTER_ITEMS}).count("task.id > 1") == 100


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (None, 'The Custom subset needs filters_json: {"conjunction": ..., "items": [...]}.'),
        ([task_id("equal", 1)], 'The Custom subset needs filters_json: {"conjunction": ..., "items": [...]}.'),
        ({"conjunction": "xor", "items": [task_id("equal", 1)]}, 'Unsupported conjunction "xor": use "and" or "or".'),
        ({"conjunction": "and"}, "filters_json.items must be a non-empty list of filters."),
        ({"items": []}, "filters_json.items must be a non-empty list of filters."),
        ({"items": {"0": task_id("equal", 1)}}, "filters_json.items must be a non-empty list of filters."),
        ({"items": [task_id("equal", 1)] * 101}, "filters_json.items holds more than 100 filters."),
        ({"items": [task_id("equal", 1), "id > 1"]}, "filters_json.items[1] must be an object."),
        (
            {"items": [{"filter": "filter:tasks:data.text", "operator": "contains", "value": "x"}]},
            'filters_json.items[0]: the filter "filter:tasks:data.text" cannot be applied by the '
            "emulator; supported: filter:tasks:id, filter:tasks:ground_truth.",
        ),
        (
            {"items": [ground_truth("less", True)]},
            "filters_json.items[0]: ground_truth supports equal/not_equal with true or false.",
        ),
        (
            {"items": [ground_truth("equal", 1)]},
            "filters_json.items[0]: ground_truth supports equal/not_equal with true or false.",
        ),
        (
            {"items": [task_id("equal", 1), task_id("contains", 1)]},
            f'filters_json.items[1]: unsupported operator "contains"; supported: {SUPPORTED_OPERATORS}.',
        ),
        (
            {"items": [task_id(["equal"], 1)]},
            f"filters_json.items[0]: unsupported operator \"['equal']\"; supported: {SUPPORTED_OPERATORS}.",
        ),
        ({"items": [task_id("equal", "5")]}, "filters_json.items[0]: the value must be a number."),
        ({"items": [task_id("equal", True)]}, "filters_json.items[0]: the value must be a number."),
        ({"items": [task_id("equal", float("nan"))]}, "filters_json.items[0]: the value must be a number."),
        ({"items": [task_id("equal", 2**63)]}, "filters_json.items[0]: the value is out of range."),
        ({"items": [task_id("equal", -(2**63) - 1)]}, "filters_json.items[0]: the value is out of range."),
        (
            {"items": [task_id("in", 5)]},
            'filters_json.items[0]: "in" needs a value {"min": ..., "max": ...}.',
        ),
        (
            {"items": [task_id("not_in", {"min": 1})]},
            'filters_json.items[0]: "not_in" needs a value {"min": ..., "max": ...}.',
        ),
        (
            {"items": [task_id("in", {"max": 1})]},
            'filters_json.items[0]: "in" needs a value {"min": ..., "max": ...}.',
        ),
        ({"items": [task_id("in", {"min": "1", "max": 2})]}, "filters_json.items[0]: the value must be a number."),
        ({"items": [task_id("in", {"min": 1, "max": "2"})]}, "filters_json.items[0]: the value must be a number."),
    ],
)  # fmt: skip
def test_filters_the_emulator_cannot_apply_are_refused_with_their_reason(filters, message):
    assert refusal(filters) == message
