"""The simulated model on every kind of project a prompt can fill: it answers the ground truth
when its accuracy says so, a wrong but valid answer otherwise, and a provider's error when its
failure rate says so. Called directly, at fixed seeds."""

import pytest

from app.label_config import parse_label_config
from app.lifecycle.inference import PROVIDER_ERRORS, predict, render_prompt
from app.lifecycle.outputs import OutputError, shape, to_result

TEXT = '<Text name="text" value="$text"/>'
CONFIGS = {
    "choices": f'<View>{TEXT}<Choices name="c" toName="text"><Choice value="Yes"/><Choice value="No"/></Choices></View>',
    "taxonomy": f'<View>{TEXT}<Taxonomy name="c" toName="text"><Choice value="Yes"/><Choice value="No"/></Taxonomy></View>',
    "spans": f'<View>{TEXT}<Labels name="c" toName="text"><Label value="PER"/><Label value="ORG"/></Labels></View>',
    "text": f'<View>{TEXT}<TextArea name="c" toName="text"/></View>',
    "rating": f'<View>{TEXT}<Rating name="c" toName="text"/></View>',
    "number": f'<View>{TEXT}<Number name="c" toName="text"/></View>',
}  # fmt: skip
TRUTHS = {
    "choices": {"c": "Yes"},
    "taxonomy": {"c": "Yes"},
    "spans": {"c": [{"start": 4, "end": 7, "text": "met", "labels": ["PER"]}]},
    "text": {"c": ["A short summary"]},
    "rating": {"c": 4},
    "number": {"c": 2.5},
}
DATA = {"text": "Ada met Globex today"}
TASKS = range(1, 41)


def made(kind: str, task_id: int, accuracy: float, failure_rate: float = 0.0, truth=True,
         classes=None):  # fmt: skip
    config = CONFIGS[kind]
    ground_truth = (
        to_result(parse_label_config(config), TRUTHS[kind], DATA, "gt") if truth else None
    )
    return predict(
        seed=3, version_id=1, accuracy=accuracy, failure_rate=failure_rate, provider="OpenAI",
        provider_model_id="gpt-4o-mini", prompt="Label {text}", input_fields=None,
        shape=shape(config, classes), task_id=task_id, data=DATA, ground_truth=ground_truth,
    )  # fmt: skip


@pytest.mark.parametrize("kind", CONFIGS)
def test_an_accurate_model_answers_the_ground_truth(kind):
    for task_id in TASKS:
        prediction = made(kind, task_id, accuracy=1.0)
        assert prediction.correct is True
        assert prediction.output == TRUTHS[kind]
        assert prediction.error_type is None


@pytest.mark.parametrize("kind", CONFIGS)
def test_a_model_that_always_errs_answers_something_else_the_config_allows(kind):
    config = parse_label_config(CONFIGS[kind])
    for task_id in TASKS:
        prediction = made(kind, task_id, accuracy=0.0)
        assert prediction.correct is False, prediction.output
        assert prediction.output != TRUTHS[kind]
        assert prediction.result == to_result(config, prediction.output, DATA, (1, task_id))
        assert prediction.result and prediction.error_type is None


def test_wrong_answers_by_kind():
    assert made("choices", 1, 0.0).output == {"c": "No"}
    assert made("rating", 1, 0.0).output == {"c": 5}
    assert made("number", 1, 0.0).output == {"c": 3.5}
    # A span on the text's first word, with a label other than the truth's.
    assert made("spans", 1, 0.0).output == {
        "c": [{"start": 0, "end": 3, "text": "Ada", "labels": ["ORG"]}]
    }
    # Without classes, a text answer is the task's first words.
    assert made("text", 1, 0.0).output == {"c": "Ada met Globex"}
    assert made("text", 1, 0.0, classes=["Other"]).output == {"c": "Other"}


def test_without_ground_truth_the_model_names_a_class_and_is_not_judged():
    answers = {made("choices", task_id, 0.5, truth=False).output["c"] for task_id in TASKS}
    assert answers == {"Yes", "No"}
    assert {made("choices", task_id, 0.5, truth=False).correct for task_id in TASKS} == {None}
    assert made("rating", 1, 0.5, truth=False).output == {"c": 1}


def test_accuracy_decides_how_many_answers_are_correct():
    correct = [made("choices", task_id, accuracy=0.5).correct for task_id in range(1, 401)]
    assert 120 < correct.count(True) < 280


def test_a_failing_model_answers_a_provider_error_naming_the_model():
    for task_id in TASKS:
        failed = made("choices", task_id, accuracy=1.0, failure_rate=1.0)
        assert (failed.output, failed.result, failed.correct, failed.score) == (
            None,
            [],
            None,
            None,
        )
        assert (failed.completion_tokens, failed.total_cost_usd) == (0, 0.0)
        assert failed.error_type in {name for name, _ in PROVIDER_ERRORS}
        assert "{" not in failed.message
        if failed.error_type == "RateLimitError":
            assert failed.message == "Rate limit reached for gpt-4o-mini: please try again in 20s."


def test_a_ground_truth_the_config_cannot_hold_makes_a_failed_prediction():
    config = CONFIGS["choices"]
    foreign = [{"from_name": "c", "type": "choices", "value": {"choices": ["Maybe"]}}]
    prediction = predict(
        seed=3, version_id=1, accuracy=1.0, failure_rate=0.0, provider="OpenAI",
        provider_model_id="gpt-4o-mini", prompt="Label {text}", input_fields=None,
        shape=shape(config, None), task_id=1, data=DATA, ground_truth=foreign,
    )  # fmt: skip
    assert prediction.error_type == "OutputError"
    with pytest.raises(OutputError) as error:
        to_result(parse_label_config(config), {"c": "Maybe"}, DATA, None)
    assert prediction.message == str(error.value)
    assert prediction.result == []


def test_a_project_without_a_fillable_control_gets_empty_answers():
    prediction = predict(
        seed=3, version_id=1, accuracy=1.0, failure_rate=0.0, provider="OpenAI",
        provider_model_id="gpt-4o-mini", prompt="Label", input_fields=None,
        shape=shape(f"<View>{TEXT}</View>", None), task_id=1, data=DATA, ground_truth=[],
    )  # fmt: skip
    assert (prediction.output, prediction.result, prediction.error_type) == ({}, [], None)


def test_prompts_are_filled_from_the_task_data_or_get_its_fields_appended():
    assert (
        render_prompt("Label {text} ({missing})", DATA) == "Label Ada met Globex today ({missing})"
    )
    data = {"text": "hello", "ticket": 7}
    assert render_prompt("Label this", data) == "Label this\nhello\n7"
    assert render_prompt("Label this", data, ["ticket", "absent"]) == "Label this\n7"
    assert render_prompt("Label this", "not a dict") == "Label this"
