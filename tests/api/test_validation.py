"""Body validation of ModelRunRequestRequest with DRF's wording and coercion (BEHAVIOUR.md s. 2)."""

import pytest

from .envelope import assert_invalid

RUNS = "/api/prompts/1/versions/1/inference-runs"
INT_MIN, INT_MAX = -2147483648, 2147483647
DATETIME_FORMAT = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
NOT_INTEGER = "A valid integer is required."
TOO_LONG = "Ensure this field has no more than 255 characters."
ABOVE_INT = f"Ensure this value is less than or equal to {INT_MAX}."
BELOW_INT = f"Ensure this value is greater than or equal to {INT_MIN}."
NEGATIVE = "Ensure this value is greater than or equal to 0."
TOTALS = ["total_tasks", "total_predictions", "total_correct_predictions"]
CONSISTENT_TOTALS = {"total_tasks": 10, "total_predictions": 1}


# Each row of the BEHAVIOUR.md table: the body sent and the whole validation_errors answered.
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, {"project": ["This field is required."]}, id="project-missing"),
        pytest.param(
            {"project": None}, {"project": ["This field may not be null."]}, id="project-null"
        ),
        pytest.param(
            {"project": "abc"},
            {"project": ["Incorrect type. Expected pk value, received str."]},
            id="project-str",
        ),
        pytest.param(
            {"project": 99999},
            {"project": ['Invalid pk "99999" - object does not exist.']},
            id="project-unknown",
        ),
        pytest.param(
            {"project": 1, "project_subset": "Foo"},
            {"project_subset": ['"Foo" is not a valid choice.']},
            id="subset-not-a-choice",
        ),
        pytest.param({"project": 1, "job_id": "x" * 256}, {"job_id": [TOO_LONG]}, id="job-id-long"),
        pytest.param(
            {"project": 1, "total_tasks": INT_MAX + 1}, {"total_tasks": [ABOVE_INT]}, id="int-high"
        ),
        pytest.param(
            {"project": 1, "total_tasks": INT_MIN - 1}, {"total_tasks": [BELOW_INT]}, id="int-low"
        ),
        pytest.param(
            {"project": 1, "total_correct_predictions": "x"},
            {"total_correct_predictions": [NOT_INTEGER]},
            id="int-not-a-number",
        ),
        pytest.param(
            {"project": 1, "sample_subset_size": -1},
            {"sample_subset_size": [NEGATIVE]},
            id="sample-negative",
        ),
        pytest.param(
            {"project": 1, "predictions_updated_at": "yesterday"},
            {"predictions_updated_at": [DATETIME_FORMAT]},
            id="datetime-wrong-format",
        ),
        pytest.param(
            {"project": 1, "only_missing_predictions": "maybe"},
            {"only_missing_predictions": ["Must be a valid boolean."]},
            id="boolean-maybe",
        ),
        pytest.param(
            {"project": 1, "organization": 424242},
            {"organization": ['Invalid pk "424242" - object does not exist.']},
            id="organization-unknown",
        ),
        pytest.param(
            {"project": 1, "job_id": ["a", "b"]},
            {"job_id": ["Not a valid string."]},
            id="string-given-a-list",
        ),
        pytest.param(
            {"project": 1, "job_id": "a\u0000b"},
            {"job_id": ["Null characters are not allowed."]},
            id="string-with-a-null-character",
        ),
        pytest.param(
            {"project": 2**40},
            {"project": [f'Invalid pk "{2**40}" - object does not exist.']},
            id="project-id-beyond-the-column",
        ),
    ],
)
def test_invalid_field_is_reported_with_drf_message(api, body, errors):
    assert_invalid(api.post(RUNS, json=body), errors)


def test_all_bad_fields_are_reported_together(api):
    body = {
        "project": "abc",
        "project_subset": "Foo",
        "job_id": "x" * 256,
        "total_tasks": INT_MAX + 1,
        "total_predictions": INT_MIN - 1,
        "total_correct_predictions": "x",
        "sample_subset_size": -1,
        "predictions_updated_at": "yesterday",
        "only_missing_predictions": "maybe",
        "organization": 424242,
    }

    assert_invalid(
        api.post(RUNS, json=body),
        {
            "project": ["Incorrect type. Expected pk value, received str."],
            "project_subset": ['"Foo" is not a valid choice.'],
            "job_id": [TOO_LONG],
            "total_tasks": [ABOVE_INT],
            "total_predictions": [BELOW_INT],
            "total_correct_predictions": [NOT_INTEGER],
            "sample_subset_size": [NEGATIVE],
            "predictions_updated_at": [DATETIME_FORMAT],
            "only_missing_predictions": ["Must be a valid boolean."],
            "organization": ['Invalid pk "424242" - object does not exist.'],
        },
    )


@pytest.mark.parametrize(
    "body",
    [
        {"project": 1, "total_tasks": "x"},
        {"project": 99999},
        {"project": 1, "project_subset": "Foo", "job_id": "x" * 256},
    ],
)
def test_rejected_request_creates_no_run(api, body):
    before = api.get(RUNS).json()

    response = api.post(RUNS, json=body)

    assert response.status_code == 400
    assert len(api.get(RUNS).json()) == len(before)


# --- DRF's coercion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "sent", "stored"),
    [
        ("project", "2", 2),
        ("total_tasks", "5", 5),
        ("total_predictions", " 7 ", 7),
        ("total_correct_predictions", 1.0, 1),
        ("total_tasks", "3.0", 3),
        ("sample_subset_size", "10", 10),
        ("organization", "1", 1),
    ],
)
def test_integer_like_values_are_coerced(api, field, sent, stored):
    # Totals that keep 0 <= correct <= predictions <= tasks whichever one is coerced.
    response = api.post(RUNS, json={"project": 1, **CONSISTENT_TOTALS, field: sent})

    assert response.status_code == 201, response.text
    assert response.json()[field] == stored


@pytest.mark.parametrize("sent", [1.5, "1.5", "five", True, [1], {"n": 1}])
def test_non_integer_values_are_rejected(api, sent):
    response = api.post(RUNS, json={"project": 1, "total_tasks": sent})

    assert_invalid(response, {"total_tasks": [NOT_INTEGER]})


@pytest.mark.parametrize("sent", ["true", "1", 1, True, "false", "0", 0, False, "yes", "off"])
def test_boolean_like_values_are_accepted(api, sent):
    response = api.post(RUNS, json={"project": 1, "only_missing_predictions": sent})

    assert response.status_code == 201, response.text
    assert "only_missing_predictions" not in response.json()


@pytest.mark.parametrize("sent", ["maybe", 2, "2", [], {}])
def test_non_boolean_values_are_rejected(api, sent):
    response = api.post(RUNS, json={"project": 1, "only_missing_predictions": sent})

    assert_invalid(response, {"only_missing_predictions": ["Must be a valid boolean."]})


def test_read_only_fields_are_ignored(api):
    body = {
        "project": 1,
        "id": 424242,
        "status": "Completed",
        "created_by": 2,
        "task_ids": [1, 2, 3],
        "source_model_run": 1,
        "created_at": "2020-01-01T00:00:00Z",
        "triggered_at": "2020-01-01T00:00:00Z",
        "completed_at": "2020-01-01T00:00:00Z",
        "parent_model": 2,
        "model_version": 3,
    }

    response = api.post(RUNS, json=body)

    assert response.status_code == 201, response.text
    run = response.json()
    assert run["id"] != 424242
    assert run["status"] == "Pending"
    assert run["created_by"]["id"] == 1
    assert run["task_ids"] is None
    assert run["source_model_run"] is None
    assert not run["created_at"].startswith("2020")
    assert run["triggered_at"] is None
    assert run["completed_at"] is None
    assert (run["parent_model"], run["model_version"]) == (1, 1)


def test_unknown_keys_are_ignored(api):
    response = api.post(RUNS, json={"project": 1, "foo": "bar", "nested": {"a": [1]}})

    assert response.status_code == 201, response.text
    run = response.json()
    assert "foo" not in run
    assert "nested" not in run


# --- every limit of ModelRunRequestRequest, at and just past its boundary ------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_id", "j" * 255),
        ("job_id", ""),
        ("total_tasks", INT_MAX),
        ("total_tasks", 0),
        ("total_predictions", INT_MAX),
        ("total_predictions", 0),
        ("total_correct_predictions", INT_MAX),
        ("total_correct_predictions", 0),
        ("sample_subset_size", 0),
        ("sample_subset_size", INT_MAX),
    ],
)
def test_value_at_its_limit_is_accepted(api, field, value):
    body = {"project": 1, field: value}
    if field in TOTALS:  # the totals above it at the same value keep them ordered
        body = {"project": 1, **dict.fromkeys(TOTALS[: TOTALS.index(field)], value), field: value}

    response = api.post(RUNS, json=body)

    assert response.status_code == 201, response.text
    assert response.json()[field] == value


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("job_id", "j" * 256, TOO_LONG),
        ("total_tasks", INT_MAX + 1, ABOVE_INT),
        ("total_tasks", INT_MIN - 1, BELOW_INT),
        ("total_tasks", -1, NEGATIVE),
        ("total_predictions", INT_MAX + 1, ABOVE_INT),
        ("total_predictions", INT_MIN - 1, BELOW_INT),
        ("total_predictions", -1, NEGATIVE),
        ("total_correct_predictions", INT_MAX + 1, ABOVE_INT),
        ("total_correct_predictions", INT_MIN - 1, BELOW_INT),
        ("total_correct_predictions", -1, NEGATIVE),
        ("sample_subset_size", -1, NEGATIVE),
        ("sample_subset_size", INT_MAX + 1, ABOVE_INT),
    ],
)
def test_value_just_past_its_limit_is_rejected(api, field, value, message):
    assert_invalid(api.post(RUNS, json={"project": 1, field: value}), {field: [message]})


@pytest.mark.parametrize(
    "field",
    [
        "job_id",
        "organization",
        "predictions_updated_at",
        "sample_subset_size",
        "total_tasks",
        "total_predictions",
        "total_correct_predictions",
        "filters_json",
    ],
)
def test_nullable_fields_accept_null(api, field):
    response = api.post(RUNS, json={"project": 1, field: None})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("field", ["project_subset", "only_missing_predictions"])
def test_non_nullable_optional_fields_refuse_null(api, field):
    assert_invalid(
        api.post(RUNS, json={"project": 1, field: None}), {field: ["This field may not be null."]}
    )


# --- the totals' invariant: 0 <= total_correct_predictions <= total_predictions <= total_tasks


@pytest.mark.parametrize(
    ("totals", "errors"),
    [
        pytest.param(
            {"total_tasks": 1, "total_predictions": 5, "total_correct_predictions": 9},
            {
                "total_predictions": [
                    "Ensure this value is less than or equal to total_tasks (1)."
                ],
                "total_correct_predictions": [
                    "Ensure this value is less than or equal to total_predictions (5)."
                ],
            },
            id="both-out-of-order",
        ),
        pytest.param(
            {"total_predictions": 3},
            {"total_predictions": ["Ensure this value is less than or equal to total_tasks (0)."]},
            id="predictions-without-tasks",
        ),
        pytest.param(
            {"total_tasks": None, "total_predictions": 2},
            {"total_predictions": ["Ensure this value is less than or equal to total_tasks (0)."]},
            id="null-tasks-count-as-zero",
        ),
        pytest.param(
            {"total_tasks": 5, "total_predictions": 4, "total_correct_predictions": 5},
            {
                "total_correct_predictions": [
                    "Ensure this value is less than or equal to total_predictions (4)."
                ]
            },
            id="correct-above-predictions",
        ),
        pytest.param(
            {"total_tasks": -5, "total_predictions": -7, "total_correct_predictions": -9},
            {name: [NEGATIVE] for name in TOTALS},
            id="all-negative",
        ),
    ],
)
def test_totals_out_of_order_or_negative_are_refused_and_create_nothing(api, totals, errors):
    before = len(api.get(RUNS).json())

    assert_invalid(api.post(RUNS, json={"project": 1, **totals}), errors)
    assert len(api.get(RUNS).json()) == before


def test_ordered_totals_are_stored_as_sent_until_the_run_starts(api):
    totals = {"total_tasks": 9, "total_predictions": 5, "total_correct_predictions": 5}

    response = api.post(RUNS, json={"project": 1, **totals})

    assert response.status_code == 201, response.text
    assert {name: response.json()[name] for name in TOTALS} == totals
