"""A model's output and Label Studio's ``result``, both ways, through the project's label config.

An inference service answers per task an ``output`` keyed by the label config's control tags
(``{"sentiment": "Positive"}`` for ``<Choices name="sentiment" toName="text">``), as Adala's
``LSEBatchItem`` posts it. ``to_result`` turns it into the regions Label Studio stores on a
prediction, refusing what the config does not allow (with a message naming the item's field);
``chosen`` reads back what a result chose, so that a prediction and a ground-truth annotation
can be compared. The simulated model and the batch endpoints share both. No HTTP here.
"""

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from hashlib import blake2b
from typing import Any

from app.label_config import ControlTag, LabelConfig, LabelConfigError, parse_label_config
from app.lifecycle.pricing import count_tokens

# What a control's result keeps in ``value``, by control type (Label Studio's result types).
VALUE_KEYS = {
    "Choices": "choices",
    "Taxonomy": "taxonomy",
    "Labels": "labels",
    "TextArea": "text",
    "Rating": "rating",
    "Number": "number",
}
SPAN_TYPES = {"Labels"}
ORIGIN = "prediction"


class OutputError(ValueError):
    """An output the label config does not allow; the message names the field at fault."""


# Entries each of a shape's caches keeps before starting again.
MAX_KEPT = 1024


@dataclass(frozen=True)
class Answer:
    """What an output that fills no span control gives on any task: its regions but for their
    ids (which the task fixes), what they choose, and the texts JSON writes of both, found once
    and not per task. ``error`` is the message to_result raises for the output."""

    names: tuple[str, ...]
    regions: tuple[dict[str, Any], ...]
    tails: tuple[str, ...]
    chosen: frozenset[Any] | None
    raw: str
    error: str | None = None

    def result(self, seed: tuple[int, int]) -> tuple[list[dict[str, Any]], str]:
        """to_result's result for the output with ``seed``, and json.dumps's text of it."""
        if self.error is not None:
            raise OutputError(self.error)
        ids = self._ids(seed)
        result = [{"id": id_, **region} for id_, region in zip(ids, self.regions, strict=True)]
        return result, self._text(ids)

    def text(self, seed: tuple[int, int]) -> str:
        """json.dumps's text of the result for the output with ``seed`` (``result``'s second
        part), without building the result."""
        if self.error is not None:
            raise OutputError(self.error)
        if len(self.tails) == 1:  # most outputs fill one control
            id_ = blake2b(b"(%d, %d)" % seed + self._id_tails[0], digest_size=5).hexdigest()
            return f'[{{"id": "{id_}", {self.tails[0]}]'
        return self._text(self._ids(seed))

    @cached_property
    def raw_tokens(self) -> int:
        """The tokens of ``raw``, as a completion counts them."""
        return count_tokens(self.raw)

    @cached_property
    def _id_tails(self) -> tuple[bytes, ...]:
        """What each region's id hashes after the seed's text (region_id's parts: the seed,
        the region's control, 0)."""
        return tuple(f":{name}:0".encode() for name in self.names)

    def _ids(self, seed: tuple[int, int]) -> list[str]:
        """region_id(seed, name, 0) of each region: the seed written once (as str writes a
        pair of whole numbers), not per region."""
        head = b"(%d, %d)" % seed
        return [blake2b(head + tail, digest_size=5).hexdigest() for tail in self._id_tails]

    def _text(self, ids: list[str]) -> str:
        encoded = ", ".join(
            f'{{"id": "{id_}", {tail}' for id_, tail in zip(ids, self.tails, strict=True)
        )
        return f"[{encoded}]"


@dataclass(slots=True)
class Truth:
    """What a ground truth gives, found once per ground-truth object (``Shape.truth``): the
    output it is, what it chooses, and that output's Answer once asked (``Shape.truth_answer``)."""

    ground_truth: Any
    output: dict[str, Any] | None
    chosen: frozenset[Any] | None
    answer: Answer | None = None
    answered: bool = False


@dataclass(frozen=True)
class Shape:
    """What a version's predictions look like on a project: the control they fill (the first
    one Label Studio's Prompts can fill), the object it labels and the classes it may name."""

    config: LabelConfig | None
    control: ControlTag | None
    data_key: str
    classes: list[str]
    # What outputs and ground truths gave before (see answer and truth).
    _answers: dict[Any, Answer | None] = field(default_factory=dict, compare=False, repr=False)
    _truths: dict[int, Truth] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def class_tokens(self) -> int:
        """The tokens of the classes, as the prompt sends them."""
        return count_tokens(", ".join(self.classes))

    def answer(self, output: dict[str, Any]) -> Answer | None:
        """The output's Answer; None for an output to_result must see whole each time (a span
        control's regions depend on the task's text, and values other than texts, numbers and
        lists of texts are not kept)."""
        key = _output_key(output)
        if key is None:
            return None
        found = self._answers.get(key, self)
        if found is self:
            if len(self._answers) >= MAX_KEPT:
                self._answers.clear()
            found = self._answers[key] = self._new_answer(output)
        return found  # type: ignore[return-value]  # the sentinel is never answered

    def _new_answer(self, output: dict[str, Any]) -> Answer | None:
        config = self.config
        for name in output:
            control = config.control(name) if config else None
            if control is not None and control.type in SPAN_TYPES:
                return None
        raw = json.dumps(output, ensure_ascii=False)
        try:
            result = to_result(config, output, None, None)
        except OutputError as error:
            return Answer((), (), (), None, raw, str(error))
        regions = tuple({k: v for k, v in region.items() if k != "id"} for region in result)
        return Answer(
            names=tuple(region["from_name"] for region in result),
            regions=regions,
            tails=tuple(json.dumps(region)[1:] for region in regions),
            chosen=chosen(result, self.control),
            raw=raw,
        )

    def truth_chosen(self, ground_truth: Any) -> frozenset[Any] | None:
        """chosen(ground_truth, control), found once per ground-truth object."""
        return self.truth(ground_truth).chosen

    def truth(self, ground_truth: Any) -> Truth:
        """output_of(ground_truth, control) and chosen(ground_truth, control), found once per
        ground-truth object (a project's ground truths are decoded once and shared: see
        model.decoded)."""
        # Keyed by identity, with the object itself kept so that its id is never reused.
        found = self._truths.get(id(ground_truth))
        if found is None or found.ground_truth is not ground_truth:
            if len(self._truths) >= MAX_KEPT:
                self._truths.clear()
            found = self._truths[id(ground_truth)] = Truth(
                ground_truth,
                output_of(ground_truth, self.control),
                chosen(ground_truth, self.control),
            )
        return found

    def truth_answer(self, truth: Truth) -> Answer | None:
        """The Answer of a ground truth's output (``answer``'s), found once."""
        if not truth.answered:
            truth.answer = None if truth.output is None else self.answer(truth.output)
            truth.answered = True
        return truth.answer


def _output_key(output: Any) -> tuple[Any, ...] | None:
    """A hashable copy of an output whose values are texts, numbers or lists of texts (types
    kept apart: 1, 1.0 and True give different results); None for any other."""
    if not isinstance(output, dict):
        return None
    key: list[Any] = []
    for name, value in output.items():
        kind = type(value)
        if kind is list:
            if not all(type(item) is str for item in value):
                return None
            key.append((name, kind, tuple(value)))
        elif kind in (str, int, bool) or (kind is float and value == value):
            key.append((name, kind, value))
        else:
            return None
    return tuple(key)


def shape(label_config: str | None, output_classes: list[str] | None) -> Shape:
    """The shape of predictions for a label config and a prompt's output classes (the config's
    labels when the prompt names none of them)."""
    try:
        config = parse_label_config(label_config or "<View></View>")
    except LabelConfigError:
        return Shape(None, None, "", [])
    control = next(
        (c for kind in VALUE_KEYS for c in config.controls if c.type == kind),
        None,
    )
    if control is None:
        return Shape(config, None, "", [])
    target = config.object(control.to_name[0]) if control.to_name else None
    classes = [c for c in output_classes or [] if isinstance(c, str)]
    if control.labels:
        # The model answers with the config's labels: a prompt's class is taken as the label it
        # names (whatever its case), and one the config does not have is never answered.
        labels = {label.casefold(): label for label in control.labels}
        named = [labels[c.casefold()] for c in classes if c.casefold() in labels]
        classes = list(dict.fromkeys(named)) or list(control.labels)
    return Shape(config, control, target.data_key if target else "", classes)


_SHAPES: dict[tuple[str | None, tuple[str, ...]], Shape] = {}


def shared_shape(label_config: str | None, output_classes: Any) -> Shape:
    """``shape``, kept by its inputs for the process (it depends on nothing else): what the
    shape found of outputs and ground truths serves every later transaction too."""
    if not isinstance(output_classes, list | None) or not all(
        isinstance(c, str) for c in output_classes or []
    ):
        return shape(label_config, output_classes)
    key = (label_config, tuple(output_classes or ()))
    found = _SHAPES.get(key)
    if found is None:
        if len(_SHAPES) >= MAX_KEPT:
            _SHAPES.clear()
        found = _SHAPES[key] = shape(label_config, output_classes)
    return found


def region_id(*parts: object) -> str:
    """A short region id fixed by its parts (Label Studio's ids are 10 characters)."""
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=5).hexdigest()


def _labels(where: str, value: Any, control: ControlTag) -> list[str]:
    """A label or a list of labels, each one of the control's (when it declares any)."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise OutputError(f"{where}: expected a label or a list of labels, got {_show(value)}.")
    allowed = control.labels
    for item in items:
        if allowed and item not in allowed:
            raise OutputError(f'{where}: "{item}" is not one of {", ".join(allowed)}.')
    return list(items)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def _region(control: ControlTag, seed: object, index: int, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": region_id(seed, control.name, index),
        "from_name": control.name,
        "to_name": control.to_name[0] if control.to_name else "",
        "type": control.type.lower(),
        "origin": ORIGIN,
        "value": value,
    }


def _spans(
    where: str, value: Any, control: ControlTag, text: str, seed: object
) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise OutputError(f"{where}: expected a list of spans, got {_show(value)}.")
    regions = []
    for index, span in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(span, dict):
            raise OutputError(f"{at}: expected a span {{start, end, labels}}, got {_show(span)}.")
        start, end = span.get("start"), span.get("end")
        if (
            isinstance(start, bool)
            or isinstance(end, bool)
            or not isinstance(start, int)
            or not isinstance(end, int)
            or not 0 <= start <= end
        ):
            raise OutputError(f"{at}: start and end must be whole numbers, 0 <= start <= end.")
        if text and end > len(text):
            raise OutputError(f"{at}: end {end} is past the end of the text ({len(text)}).")
        labels = _labels(f"{at}.labels", span.get("labels", span.get("label")), control)
        found = span.get("text", text[start:end])
        if not isinstance(found, str):
            raise OutputError(f"{at}.text: expected a string, got {_show(found)}.")
        value_json = {"start": start, "end": end, "text": found, "labels": labels}
        regions.append(_region(control, seed, index, value_json))
    return regions


def to_result(
    config: LabelConfig | None, output: Any, data: Any, seed: object, where: str = "output"
) -> list[dict[str, Any]]:
    """Label Studio's ``result`` for an output ``{control name: value}``; ``seed`` fixes the
    region ids. Raises OutputError naming ``where`` and the key at fault."""
    if not isinstance(output, dict):
        raise OutputError(
            f"{where}: expected an object keyed by control names, got {_show(output)}."
        )
    result: list[dict[str, Any]] = []
    for name, value in output.items():
        at = f"{where}.{name}"
        control = config.control(name) if config else None
        if control is None:
            names = ", ".join(c.name for c in config.controls) if config else ""
            raise OutputError(
                f'{at}: the label config has no control named "{name}"'
                + (f" (it has {names})." if names else ".")
            )
        kind = VALUE_KEYS.get(control.type)
        if kind is None:
            raise OutputError(f"{at}: {control.type} controls cannot take a model's output.")
        if control.type in SPAN_TYPES:
            target = config.object(control.to_name[0]) if config and control.to_name else None
            text = data.get(target.data_key, "") if target and isinstance(data, dict) else ""
            result += _spans(at, value, control, text if isinstance(text, str) else "", seed)
        elif kind in ("choices", "taxonomy"):
            labels = _labels(at, value, control)
            if kind == "taxonomy":
                result.append(_region(control, seed, 0, {kind: [[label] for label in labels]}))
            else:
                result.append(_region(control, seed, 0, {kind: labels}))
        elif kind == "text":
            texts = value if isinstance(value, list) else [value]
            if not texts or not all(isinstance(t, str) for t in texts):
                raise OutputError(f"{at}: expected a text or a list of texts, got {_show(value)}.")
            result.append(_region(control, seed, 0, {kind: list(texts)}))
        else:  # rating, number
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OutputError(f"{at}: expected a number, got {_show(value)}.")
            result.append(_region(control, seed, 0, {kind: value}))
    return result


def chosen(result: Any, control: ControlTag | None) -> frozenset[Any] | None:
    """What a result chose with a control: its labels (or texts, numbers; spans as (start, end,
    labels)); None when the result says nothing with that control."""
    if control is None or not isinstance(result, list):
        return None
    kind = VALUE_KEYS.get(control.type, control.type.lower())
    picked: set[Any] = set()
    found = False
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") != control.name:
            continue
        value = region.get("value")
        if not isinstance(value, dict) or kind not in value:
            continue
        found = True
        item = value[kind]
        if control.type in SPAN_TYPES:
            picked.add((value.get("start"), value.get("end"), tuple(sorted(map(str, item or [])))))
        elif isinstance(item, list):
            picked.update(tuple(i) if isinstance(i, list) else i for i in item)
        else:
            picked.add(item)
    return frozenset(picked) if found else None


def matches(prediction: Any, ground_truth: Any, control: ControlTag | None) -> bool:
    """Whether a prediction's result chose what the ground truth chose with the control."""
    truth = chosen(ground_truth, control)
    return truth is not None and chosen(prediction, control) == truth


def output_of(result: Any, control: ControlTag | None) -> dict[str, Any] | None:
    """The output that would give this result with the control (the ground truth as a model
    would answer it), or None."""
    if control is None or not isinstance(result, list):
        return None
    kind = VALUE_KEYS.get(control.type)
    values = [
        region["value"]
        for region in result
        if isinstance(region, dict)
        and region.get("from_name") == control.name
        and isinstance(region.get("value"), dict)
        and kind in region["value"]
    ]
    if not values or kind is None:
        return None
    if control.type in SPAN_TYPES:
        spans = [
            {"start": v.get("start"), "end": v.get("end"), "text": v.get("text", ""),
             "labels": list(v[kind])}
            for v in values
        ]  # fmt: skip
        return {control.name: spans}
    item = values[0][kind]
    if kind == "taxonomy" and isinstance(item, list):
        item = [i[-1] if isinstance(i, list) and i else i for i in item]
    if kind in ("choices", "taxonomy") and isinstance(item, list) and len(item) == 1:
        item = item[0]
    return {control.name: item}
