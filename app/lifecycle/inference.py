"""The simulated model: what a prompt version answers on a task, deterministically.

Given (seed, version, task), the model fails with the version's ``failure_rate``; otherwise it
answers the ground truth with the version's ``accuracy`` and another class when it errs (on a
task without ground truth it names a class drawn from the same numbers). Its answer is an
output keyed by the label config's control names, as an inference service posts it, turned into
a Label Studio result by ``app.lifecycle.outputs``; correctness is then found by comparing that
result with the ground truth, as a client would. Tokens and costs come from
``app.lifecycle.pricing``. A run's batches and try-task both call ``predict``. No HTTP here.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.lifecycle import chance
from app.lifecycle.chance import unit_after
from app.lifecycle.outputs import (
    SPAN_TYPES,
    OutputError,
    Shape,
    matches,
    to_result,
)
from app.lifecycle.pricing import cost, count_tokens, tokens

# Errors a provider answers, as the inference service reports them (error_type, message).
PROVIDER_ERRORS = (
    ("RateLimitError", "Rate limit reached for {model}: please try again in 20s."),
    ("APITimeoutError", "Request to {provider} timed out."),
    ("InternalServerError", "{provider} answered 500: The server had an error while processing "
                            "your request."),
)  # fmt: skip
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Entries each cache below keeps before starting again (templates, answers of a shape).
MAX_KEPT = 1024


@dataclass(slots=True)
class Made:
    """One task's prediction (or failure) with what the call cost."""

    task_id: int
    output: dict[str, Any] | None
    result: list[dict[str, Any]]
    correct: bool | None
    score: float | None
    raw_response: str
    prompt_tokens: int
    completion_tokens: int
    prompt_cost_usd: float
    completion_cost_usd: float
    inference_time: float
    error_type: str | None = None
    message: str | None = None
    # ``result`` as the JSON column stores it (json.dumps's text), when already written.
    encoded: str | None = None

    @property
    def total_cost_usd(self) -> float:
        return round(self.prompt_cost_usd + self.completion_cost_usd, 8)


def prompt_length(template: str, data: Any, input_fields: list[str] | None = None) -> int:
    """``len(render_prompt(...))`` without writing the prompt: a run counts its tokens only. The
    template is split at its placeholders once."""
    values = data if isinstance(data, dict) else {}
    pieces = _pieces(template)
    if len(pieces) == 1:
        keys = ([k for k in input_fields if k in values] if input_fields else None) or values
        length = len(template)
        for key in keys:
            value = values[key]
            length += 1 + len(value if type(value) is str else str(value))
        return length
    length = 0
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            length += len(piece)
        else:
            value = values.get(piece)
            length += len(piece) + 2 if value is None else len(str(value))
    return length


_PIECES: dict[str, list[str]] = {}


def _pieces(template: str) -> list[str]:
    """A template's text between placeholders and their names, alternately (re.split's)."""
    found = _PIECES.get(template)
    if found is None:
        if len(_PIECES) >= MAX_KEPT:
            _PIECES.clear()
        found = _PIECES[template] = PLACEHOLDER.split(template)
    return found


def render_prompt(template: str, data: Any, input_fields: list[str] | None = None) -> str:
    """The prompt sent for a task: ``{field}`` placeholders filled from the task data; a prompt
    without placeholders gets the task's input fields appended."""
    values = data if isinstance(data, dict) else {}

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else str(value)

    if PLACEHOLDER.search(template):
        return PLACEHOLDER.sub(fill, template)
    keys = [k for k in input_fields or [] if k in values] or list(values)
    return "\n".join([template, *(str(values[k]) for k in keys)])


def _pick(seed: int, version_id: int, task_id: int, options: list[Any]) -> Any:
    return options[int(chance.unit(seed, "class", version_id, task_id) * len(options))]


def _wrong_output(
    shape: Shape, seed: int, version_id: int, task_id: int, data: Any, truth: dict[str, Any] | None
) -> dict[str, Any]:
    """What the model answers when it does not answer the ground truth."""
    control = shape.control
    assert control is not None  # callers check
    true_value = truth.get(control.name) if truth else None
    true_labels = {true_value} if isinstance(true_value, str) else set()
    if control.type in SPAN_TYPES and isinstance(true_value, list):
        true_labels = {label for span in true_value for label in span.get("labels", [])}
    others = [c for c in shape.classes if c not in true_labels] or shape.classes
    text = data.get(shape.data_key) if isinstance(data, dict) else None
    text = text if isinstance(text, str) else ""
    if control.type in SPAN_TYPES:
        if not others:
            return {control.name: []}
        word = re.match(r"\s*(\S+)", text)
        start, end = (word.start(1), word.end(1)) if word else (0, 0)
        label = _pick(seed, version_id, task_id, others)
        return {control.name: [{"start": start, "end": end, "text": text[start:end],
                                "labels": [label]}]}  # fmt: skip
    if control.type in ("Choices", "Taxonomy"):
        return {control.name: _pick(seed, version_id, task_id, others)} if others else {}
    if control.type == "TextArea":
        answer = _pick(seed, version_id, task_id, others) if others else " ".join(text.split()[:3])
        return {control.name: answer if answer != true_value else f"{answer}?"}
    number = true_value + 1 if isinstance(true_value, int | float) else 1
    return {control.name: number}


class Version(NamedTuple):
    """What every prediction of a version takes (``predict``'s arguments but the task's)."""

    version_id: int
    accuracy: float
    failure_rate: float
    provider: str
    provider_model_id: str
    prompt: str
    input_fields: list[str] | None
    shape: Shape


def predict(
    *,
    seed: int,
    version_id: int,
    accuracy: float,
    failure_rate: float,
    provider: str,
    provider_model_id: str,
    prompt: str,
    input_fields: list[str] | None,
    shape: Shape,
    task_id: int,
    data: Any,
    ground_truth: Any,
) -> Made:
    """The version's prediction on a task; ``ground_truth`` is the result of the task's
    ground-truth annotation, or None for a task without one."""
    version = Version(
        version_id, accuracy, failure_rate, provider, provider_model_id, prompt, input_fields,
        shape,
    )  # fmt: skip
    return predict_on(version, seed, task_id, data, ground_truth)


# The heads of a (seed, version)'s draws that every prediction may make, in SALTS' order.
_DRAW_HEADS: dict[tuple[int, int], tuple[Any, ...]] = {}
SALTS = ("time", "fail", "correct", "score")


def _heads(seed: int, version_id: int) -> tuple[Any, ...]:
    found = _DRAW_HEADS.get((seed, version_id))
    if found is None:
        if len(_DRAW_HEADS) >= MAX_KEPT:
            _DRAW_HEADS.clear()
        found = _DRAW_HEADS[seed, version_id] = tuple(
            chance.head(seed, salt, version_id) for salt in SALTS
        )
    return found


def predict_on(
    version: Version, seed: int, task_id: int, data: Any, ground_truth: Any, whole: bool = True
) -> Made:
    """``predict`` with the version's arguments given at once: a run predicts task after task
    with the same ones, and binding a dozen keyword arguments cost about a microsecond a call.
    Without ``whole``, a kept answer's result is given as its JSON text only (``encoded``, what
    a run stores), not also as objects."""
    (version_id, accuracy, failure_rate, provider, provider_model_id, prompt, input_fields,
     shape) = version  # fmt: skip
    prompt_tokens = tokens(prompt_length(prompt, data, input_fields)) + shape.class_tokens
    # Every draw hashes the task id after its head (chance.unit's text, written once).
    time_head, fail_head, correct_head, score_head = _heads(seed, version_id)
    task = b"%d" % task_id
    draw = unit_after(time_head, task)
    # No draw is below 0: a version that never fails needs none.
    if failure_rate > 0 and unit_after(fail_head, task) < failure_rate:
        error_type, message = _pick(seed, version_id, task_id, list(PROVIDER_ERRORS))
        message = message.format(model=provider_model_id or provider, provider=provider)
        return Made(task_id, None, [], None, None, "", prompt_tokens, 0, 0.0, 0.0,
                    round(0.5 + 29.5 * draw, 3), error_type, message)  # fmt: skip
    control = shape.control
    known = shape.truth(ground_truth) if ground_truth is not None else None
    truth = known.output if known is not None else None
    if control is None:
        output: dict[str, Any] = {}
        answer = shape.answer(output)
    elif known is not None and truth is not None and unit_after(correct_head, task) < accuracy:
        output = truth
        answer = shape.truth_answer(known)
    else:
        output = _wrong_output(shape, seed, version_id, task_id, data, truth)
        answer = shape.answer(output)
    encoded = None
    try:
        if answer is None:
            result = to_result(shape.config, output, data, (version_id, task_id))
        elif whole:
            result, encoded = answer.result((version_id, task_id))
        else:
            result, encoded = [], answer.text((version_id, task_id))
    except OutputError as error:
        # An answer the label config cannot hold (a ground truth imported with labels the
        # config lacks, copied by the model) is a failed prediction, as the inference service
        # reports an output it cannot turn into a result; it never stalls the run.
        return Made(task_id, None, [], None, None, "", prompt_tokens, 0, 0.0, 0.0,
                    round(0.5 + 29.5 * draw, 3), "OutputError", str(error))  # fmt: skip
    if ground_truth is None:
        correct = None
    elif truth is None:  # the ground truth says nothing the model fills: accuracy decides
        correct = unit_after(correct_head, task) < accuracy
    elif answer is None:
        correct = matches(result, ground_truth, control)
    else:
        assert known is not None  # a ground truth with an output
        correct = known.chosen is not None and answer.chosen == known.chosen
    if answer is None:
        raw = json.dumps(output, ensure_ascii=False)
        completion_tokens = count_tokens(raw)
    else:
        raw, completion_tokens = answer.raw, answer.raw_tokens
    prompt_cost, completion_cost = cost(provider_model_id, prompt_tokens, completion_tokens)
    score = round(0.5 + 0.5 * unit_after(score_head, task), 4)
    seconds = round(0.2 + 0.002 * prompt_tokens + 0.02 * completion_tokens + 0.5 * draw, 3)
    return Made(task_id, output, result, correct, score, raw, prompt_tokens, completion_tokens,
                prompt_cost, completion_cost, seconds,
                encoded=encoded)  # fmt: skip
