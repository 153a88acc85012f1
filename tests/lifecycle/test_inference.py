"""The simulated model on every kind of project a prompt can fill: it answers the ground truth
when its accuracy says so, a wrong but valid answer otherwise, and a provider's error when its
failure rate says so. Called directly, at fixed seeds."""

import math
from dataclasses import asdict

import pytest

from app.label_config import parse_label_config
from app.lifecycle import chance
from app.lifecycle.inference import PROVIDER_ERRORS, Version, predict, predict_on, render_prompt
from app.lifecycle.outputs import OutputError, shape, to_result
from app.lifecycle.pricing import cost, count_tokens, price

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


# --- what a call costs, and the numbers the model draws -------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("abcdefgh", 2), ("abcdefghi", 3), ("é" * 5, 2)],
)
def test_tokens_are_four_characters_each_rounded_up(text, tokens):
    assert count_tokens(text) == tokens


@pytest.mark.parametrize(
    ("model", "prompt_tokens", "completion_tokens", "usd"),
    [
        ("gpt-4o", 1000, 1000, (0.0025, 0.01)),
        ("gpt-4o", 400, 30, (0.001, 0.0003)),
        ("claude-3-opus-20240229", 2000, 10, (0.03, 0.00075)),
        ("gpt-4o-mini", 1, 2, (0.00000015, 0.0000012)),
        # A model the table does not list is priced as gpt-4o-mini.
        ("my-fine-tune", 1000, 1000, (0.00015, 0.0006)),
        ("", 1000, 0, (0.00015, 0.0)),
    ],
)
def test_calls_are_priced_per_thousand_tokens_from_the_models_row(
    model, prompt_tokens, completion_tokens, usd
):
    assert cost(model, prompt_tokens, completion_tokens) == pytest.approx(usd, rel=1e-12)


def test_costs_are_rounded_to_a_millionth_of_a_cent():
    # gemini-1.5-flash: $0.000075 per 1,000 prompt tokens, so $0.000000075 for one.
    assert cost("gemini-1.5-flash", 1, 0)[0] in (0.00000007, 0.00000008)
    assert cost("gemini-1.5-flash", 1000, 0) == (0.000075, 0.0)
    assert price("gemini-1.5-flash") == (0.000075, 0.0003)
    assert price("unknown") == price("gpt-4o-mini") == (0.00015, 0.0006)


def test_draws_are_fixed_by_their_inputs_and_each_input_counts():
    draw = chance.unit(3, "fail", 1, 7)
    assert 0 <= draw < 1 and chance.unit(3, "fail", 1, 7) == draw
    others = {chance.unit(4, "fail", 1, 7), chance.unit(3, "correct", 1, 7),
              chance.unit(3, "fail", 2, 7), chance.unit(3, "fail", 1, 8)}  # fmt: skip
    assert draw not in others and len(others) == 4
    draws = [chance.unit(0, "x", 1, task) for task in range(2000)]
    assert all(0 <= d < 1 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55


def test_a_rate_decides_against_its_own_draw_strictly_below():
    for task_id in range(1, 21):
        fail = chance.unit(3, "fail", 1, task_id)
        assert made("choices", task_id, 1.0, failure_rate=fail).error_type is None
        above = math.nextafter(fail, 1)
        assert made("choices", task_id, 1.0, failure_rate=above).error_type is not None
        right = chance.unit(3, "correct", 1, task_id)
        assert made("choices", task_id, accuracy=right).correct is False
        assert made("choices", task_id, accuracy=math.nextafter(right, 1)).correct is True
        assert made("choices", task_id, 0.0, failure_rate=0.0).correct is False
        assert made("choices", task_id, 1.0, failure_rate=1.0).error_type is not None


# --- what one call reports -------------------------------------------------------------------


def test_a_prediction_reports_its_tokens_cost_score_and_time():
    for task_id in (1, 2):
        made_ = made("choices", task_id, accuracy=1.0)
        # "Label Ada met Globex today" (26 characters: 7 tokens) and the classes "Yes, No"
        # (2 tokens) are sent; '{"c": "Yes"}' (12 characters: 3 tokens) comes back; gpt-4o-mini
        # costs $0.00015 and $0.0006 per 1,000 tokens.
        assert (made_.task_id, made_.output, made_.raw_response) == (task_id, {"c": "Yes"},
                                                                      '{"c": "Yes"}')  # fmt: skip
        assert (made_.prompt_tokens, made_.completion_tokens) == (9, 3)
        assert (made_.prompt_cost_usd, made_.completion_cost_usd) == (0.00000135, 0.0000018)
        assert made_.total_cost_usd == 0.00000315
        assert (made_.error_type, made_.message) == (None, None)
        # The score is drawn in [0.5, 1); the time grows with the tokens, plus up to 0.5 s.
        score_draw = chance.unit(3, "score", 1, task_id)
        assert made_.score == round(0.5 + 0.5 * score_draw, 4)
        time_draw = chance.unit(3, "time", 1, task_id)
        assert made_.inference_time == round(0.2 + 0.002 * 9 + 0.02 * 3 + 0.5 * time_draw, 3)


def test_an_answer_is_counted_in_the_characters_it_is_written_with():
    config = (
        f'<View>{TEXT}<Choices name="c" toName="text"><Choice value="Négatif"/></Choices></View>'
    )
    truth = to_result(parse_label_config(config), {"c": "Négatif"}, DATA, "gt")
    made_ = predict(
        seed=3, version_id=1, accuracy=1.0, failure_rate=0.0, provider="OpenAI",
        provider_model_id="gpt-4o", prompt="{text}", input_fields=None,
        shape=shape(config, None), task_id=1, data=DATA, ground_truth=truth,
    )  # fmt: skip
    # '{"c": "Négatif"}' is 16 characters (4 tokens), not 21 escaped.
    assert (made_.raw_response, made_.completion_tokens) == ('{"c": "Négatif"}', 4)
    # 20 + 7 characters sent: 5 + 2 tokens at $0.0025, 4 at $0.01 per 1,000.
    assert (made_.prompt_tokens, made_.prompt_cost_usd, made_.completion_cost_usd) == (
        7, 0.0000175, 0.00004)  # fmt: skip


def test_a_failed_call_reports_the_prompt_sent_and_a_longer_time():
    messages = {
        "RateLimitError": "Rate limit reached for gpt-4o-mini: please try again in 20s.",
        "APITimeoutError": "Request to OpenAI timed out.",
        "InternalServerError": "OpenAI answered 500: The server had an error while processing "
        "your request.",
    }
    seen = set()
    for task_id in TASKS:
        failed = made("choices", task_id, accuracy=1.0, failure_rate=1.0)
        # The error is drawn among the three, each as likely.
        kind = ["RateLimitError", "APITimeoutError", "InternalServerError"][
            int(chance.unit(3, "class", 1, task_id) * 3)
        ]
        assert (failed.error_type, failed.message) == (kind, messages[kind])
        assert (failed.prompt_tokens, failed.completion_tokens, failed.raw_response) == (9, 0, "")
        assert (failed.prompt_cost_usd, failed.completion_cost_usd) == (0.0, 0.0)
        draw = chance.unit(3, "time", 1, task_id)
        assert failed.inference_time == round(0.5 + 29.5 * draw, 3)
        seen.add(kind)
    assert seen == set(messages)


def test_a_model_without_a_model_id_is_named_by_its_provider():
    for task_id in TASKS:
        failed = predict(
            seed=3, version_id=1, accuracy=1.0, failure_rate=1.0, provider="Anthropic",
            provider_model_id="", prompt="Label {text}", input_fields=None,
            shape=shape(CONFIGS["choices"], None), task_id=task_id, data=DATA, ground_truth=None,
        )  # fmt: skip
        if failed.error_type == "RateLimitError":
            assert failed.message == "Rate limit reached for Anthropic: please try again in 20s."
        if failed.error_type == "APITimeoutError":
            assert failed.message == "Request to Anthropic timed out."


def test_an_answer_the_config_cannot_hold_is_timed_as_a_failure():
    foreign = [{"from_name": "c", "type": "choices", "value": {"choices": ["Maybe"]}}]
    failed = predict(
        seed=3, version_id=1, accuracy=1.0, failure_rate=0.0, provider="OpenAI",
        provider_model_id="gpt-4o-mini", prompt="Label {text}", input_fields=None,
        shape=shape(CONFIGS["choices"], None), task_id=5, data=DATA, ground_truth=foreign,
    )  # fmt: skip
    assert (failed.output, failed.correct, failed.score, failed.raw_response) == (None, None,
                                                                                  None, "")  # fmt: skip
    assert (failed.prompt_tokens, failed.completion_tokens, failed.total_cost_usd) == (9, 0, 0.0)
    assert failed.inference_time == round(0.5 + 29.5 * chance.unit(3, "time", 1, 5), 3)


def wrong(kind: str, data, ground_truth=None, classes=None, task_id: int = 1):
    config = CONFIGS[kind]
    return predict(
        seed=3, version_id=1, accuracy=0.0, failure_rate=0.0, provider="OpenAI",
        provider_model_id="gpt-4o-mini", prompt="Label {text}", input_fields=None,
        shape=shape(config, classes), task_id=task_id, data=data, ground_truth=ground_truth,
    ).output  # fmt: skip


def test_a_wrong_span_is_on_the_first_word_however_the_text_begins():
    for task_id in TASKS:
        [span] = wrong("spans", {"text": "  Ada met"}, task_id=task_id)["c"]
        assert (span["start"], span["end"], span["text"]) == (2, 5, "Ada")
        assert span["labels"] in (["PER"], ["ORG"])
    assert wrong("spans", {"text": "   "})["c"][0] | {"labels": None} == {
        "start": 0, "end": 0, "text": "", "labels": None}  # fmt: skip
    assert wrong("spans", {"other": "Ada"})["c"][0]["text"] == ""
    assert wrong("spans", "not a dict")["c"][0]["end"] == 0
    assert wrong("spans", {"text": 42})["c"][0]["end"] == 0


def test_a_wrong_text_answer_differs_from_the_ground_truth_text():
    truth = [{"from_name": "c", "type": "textarea", "value": {"text": "Refund"}}]
    assert wrong("text", DATA, truth, classes=["Refund"]) == {"c": "Refund?"}
    assert wrong("text", DATA, truth, classes=["Refund", "Other"]) == {"c": "Other"}
    assert wrong("text", {"text": "  one   two three four "}) == {"c": "one two three"}
    assert wrong("text", {"text": ""}) == {"c": ""}


# --- the same answers, found once -------------------------------------------------------------


def test_a_draw_is_the_blake2b_digest_of_its_inputs_written_out():
    import hashlib

    for seed, salt, version_id, task_id in [
        (0, "fail", 1, 7),
        (3, "class", 12, 10**12),
        (9, "x", 2, 1),
    ]:
        text = f"{seed}:{salt}:{version_id}:{task_id}".encode()
        expected = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2**64
        # Twice: the second draw of a (seed, salt, version) starts from its kept head.
        assert chance.unit(seed, salt, version_id, task_id) == expected
        assert chance.unit(seed, salt, version_id, task_id) == expected


@pytest.mark.parametrize(
    ("template", "data", "fields"),
    [
        ("Label {text}", DATA, None),
        ("{missing} and {text}{text}", DATA, None),
        ("No placeholder", {"text": "Ada", "n": 3}, None),
        ("No placeholder", {"text": "Ada", "n": 3}, ["n", "absent"]),
        ("No placeholder", {"text": "Ada"}, ["absent"]),
        ("{text} is {n}", {"text": "Ada", "n": None}, None),
        ("{text}", ["not", "a", "dict"], None),
        ("", {}, None),
        ("Façade {text} ✓", {"text": "Zoë"}, None),
    ],
)
def test_a_prompts_length_is_the_length_of_the_prompt_written_out(template, data, fields):
    from app.lifecycle.inference import prompt_length

    assert prompt_length(template, data, fields) == len(render_prompt(template, data, fields))


@pytest.mark.parametrize("kind", CONFIGS)
def test_a_kept_answer_is_what_to_result_and_json_write_for_the_task(kind):
    import json

    from app.lifecycle.outputs import matches

    config = CONFIGS[kind]
    truth = to_result(parse_label_config(config), TRUTHS[kind], DATA, "gt")
    for accuracy in (0.0, 0.5, 1.0):
        for task_id in TASKS:
            made_ = made(kind, task_id, accuracy=accuracy)
            assert made_.result == to_result(parse_label_config(config), made_.output, DATA,
                                             (1, task_id))  # fmt: skip
            assert made_.correct == matches(made_.result, truth, shape(config, None).control)
            # Spans depend on the task's text: they are written whole each time.
            assert made_.encoded == (None if kind == "spans" else json.dumps(made_.result))
            answer = shape(config, None).answer(made_.output or {})
            if kind != "spans" and answer is not None:  # its text alone, as a batch takes it
                assert answer.text((1, task_id)) == made_.encoded


@pytest.mark.parametrize("kind", CONFIGS)
def test_a_run_gets_the_same_prediction_with_its_result_as_text_only(kind):
    config = CONFIGS[kind]
    truth = to_result(parse_label_config(config), TRUTHS[kind], DATA, "gt")
    for accuracy, failure_rate in ((0.0, 0.0), (0.6, 0.3), (1.0, 0.0)):
        version = Version(1, accuracy, failure_rate, "OpenAI", "gpt-4o-mini", "Label {text}",
                          None, shape(config, None))  # fmt: skip
        for task_id in TASKS:
            whole = predict_on(version, 3, task_id, DATA, truth)
            text_only = predict_on(version, 3, task_id, DATA, truth, whole=False)
            if whole.encoded is None:  # a failure, or spans: written whole each time
                assert asdict(text_only) == asdict(whole)
            else:
                assert text_only.result == [] and text_only.encoded == whole.encoded
                assert asdict(text_only) == {**asdict(whole), "result": []}


def test_an_answer_the_config_cannot_hold_fails_the_same_way_each_time():
    config = shape(CONFIGS["choices"], None)
    for output in ({"c": "Maybe"}, {"other": "Yes"}, {"c": 3}):
        with pytest.raises(OutputError) as first:
            to_result(config.config, output, DATA, (1, 1))
        for _ in range(2):
            answer = config.answer(output)
            assert answer is not None
            with pytest.raises(OutputError) as kept:
                answer.result((1, 1))
            assert str(kept.value) == str(first.value)
            with pytest.raises(OutputError) as kept:
                answer.text((1, 1))
            assert str(kept.value) == str(first.value)


def test_outputs_equal_in_python_but_not_in_json_are_kept_apart():
    config = shape(CONFIGS["number"], None)
    one, one_float, true = (
        config.answer({"c": 1}),
        config.answer({"c": 1.0}),
        config.answer({"c": True}),
    )
    assert one is not None and one_float is not None and true is not None
    assert (one.result((1, 1))[1], one_float.result((1, 1))[1]) != (None, None)
    assert '"number": 1}' in one.result((1, 1))[1]
    assert '"number": 1.0}' in one_float.result((1, 1))[1]
    assert true.error is not None  # a bool is not a number
    assert config.answer({"c": {"nested": 1}}) is None


def test_a_kept_answer_of_several_controls_is_what_to_result_and_json_write():
    import json

    config = (
        f'<View>{TEXT}<Choices name="c" toName="text"><Choice value="Yes"/><Choice value="No"/>'
        '</Choices><Rating name="r" toName="text"/><TextArea name="t" toName="text"/></View>'
    )
    kept = shape(config, None)
    output = {"c": "No", "r": 3, "t": ['Naïve "quote"']}
    answer = kept.answer(output)
    assert answer is not None and len(answer.names) == 3
    for seed in [(1, 1), (7, 123456), (2**31 - 1, 2**63 - 1)]:
        result = to_result(parse_label_config(config), output, DATA, seed)
        assert answer.result(seed) == (result, json.dumps(result))
        assert answer.text(seed) == json.dumps(result)
