"""Label Studio's labeling configuration (``label_config``): parsed, checked with Label Studio's
wording, and described as its control tags (what an annotation's ``result`` names) and object
tags (what task data they label). No HTTP here.

The XML is read with the standard library's expat parser, with document type declarations
refused outright (as Label Studio's ``defusedxml`` parse with ``forbid_dtd=True`` does): no
entity can be declared, so none can be expanded, and nothing external is ever fetched."""

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

# Tags that carry choices or labels of their parent control (Label Studio's _LABEL_TAGS).
LABEL_TAGS = {"Label", "Choice", "Relation"}
NOT_CONTROL_TAGS = {"Filter"}


class LabelConfigError(ValueError):
    """A label config Label Studio refuses; the message is Label Studio's."""


@dataclass(frozen=True)
class ObjectTag:
    """A tag showing task data, e.g. ``<Text name="text" value="$text"/>``."""

    name: str
    type: str
    value: str  # as written, e.g. "$text"
    value_type: str | None = None

    @property
    def data_key(self) -> str:
        """The task data key the tag reads ("text" for "$text")."""
        return self.value.lstrip("$")


@dataclass(frozen=True)
class ControlTag:
    """A tag producing results, e.g. ``<Choices name="sentiment" toName="text">``."""

    name: str
    type: str
    to_name: list[str]
    # The values of its Choice/Label children (an alias wins over the value), in order.
    labels: list[str] = field(default_factory=list)
    labels_attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelConfig:
    text: str
    controls: list[ControlTag]
    objects: list[ObjectTag]

    def control(self, name: str) -> ControlTag | None:
        return next((c for c in self.controls if c.name == name), None)

    def object(self, name: str) -> ObjectTag | None:
        return next((o for o in self.objects if o.name == name), None)

    def parsed(self) -> dict[str, Any]:
        """Label Studio's ``parsed_label_config``: each control with its inputs and labels."""
        objects = {o.name: o for o in self.objects}
        out: dict[str, Any] = {}
        for control in self.controls:
            inputs = [
                {"type": o.type, "valueType": o.value_type, "value": o.data_key}
                for name in control.to_name
                if (o := objects.get(name)) is not None
            ]
            out[control.name] = {
                "type": control.type,
                "to_name": control.to_name,
                "inputs": inputs,
                "labels": control.labels,
                "labels_attrs": control.labels_attrs,
            }
        return out

    def data_types(self) -> dict[str, str]:
        """Label Studio's ``data_types``: task data key to the object tag reading it."""
        types: dict[str, str] = {}
        for o in self.objects:
            key = o.data_key if o.value.startswith("$") else _first_variable(o.value)
            if key and types.get(key) != "Video":
                types[key] = o.type
        return types


def _first_variable(value: str) -> str:
    found = re.findall(r"\$\w+", value)
    return found[0][1:] if found else ""


class _DTDForbidden(LabelConfigError):
    def __init__(self, name: str, system_id: str | None, public_id: str | None) -> None:
        # defusedxml's DTDForbidden, whose text Label Studio answers.
        super().__init__(
            f"DTDForbidden(name='{name}', system_id={system_id!r}, public_id={public_id!r})"
        )


def _parse_xml(text: str) -> ElementTree.Element:
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate()

    def forbid_doctype(name: str, system_id: str | None, public_id: str | None, _: int) -> None:
        raise _DTDForbidden(name, system_id, public_id)

    def forbid_entity(name: str, *_: Any) -> None:
        raise LabelConfigError(f"EntitiesForbidden(name='{name}')")

    parser.StartDoctypeDeclHandler = forbid_doctype
    parser.EntityDeclHandler = forbid_entity
    parser.UnparsedEntityDeclHandler = forbid_entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as error:
        raise LabelConfigError(str(error)) from None
    return builder.close()


def parse_label_config(text: str | None) -> LabelConfig:
    """Parse and check a label config as Label Studio's ``validate_label_config`` does:
    well-formed XML, unique names, every ``toName`` naming a tag. Raises LabelConfigError."""
    if not isinstance(text, str):
        raise LabelConfigError("can only parse strings")
    root = _parse_xml(text)
    cleaned = ElementTree.tostring(root, encoding="unicode")
    names = re.findall(r'name="([^"]*)"', cleaned)
    if len(set(names)) != len(names):
        raise LabelConfigError("Label config contains non-unique names")
    for to_names in re.findall(r'toName="([^"]*)"', cleaned):
        for to_name in to_names.split(","):
            if to_name not in names:
                raise LabelConfigError(
                    f'toName="{to_name}" not found in names: {sorted(set(names))}'
                )
    return _describe(text, root)


def _describe(text: str, root: ElementTree.Element) -> LabelConfig:
    controls: dict[str, ControlTag] = {}
    objects: list[ObjectTag] = []
    parents = {child: parent for parent in root.iter() for child in parent}
    for tag in root.iter():
        attrs = dict(tag.attrib)
        name = attrs.get("name")
        if name and attrs.get("toName") and tag.tag not in NOT_CONTROL_TAGS:
            controls[name] = ControlTag(
                name=name, type=tag.tag, to_name=attrs["toName"].split(","), attrs=attrs
            )
        elif name and (attrs.get("value") or attrs.get("valueList")):
            objects.append(
                ObjectTag(
                    name=name,
                    type=tag.tag,
                    value=attrs.get("value") or attrs.get("valueList") or "",
                    value_type=attrs.get("valueType"),
                )
            )
        if tag.tag in LABEL_TAGS:
            owner = _owning_control(tag, parents, controls)
            value = attrs.get("alias") or attrs.get("value") or attrs.get("valueList")
            if owner is not None and value:
                if value not in owner.labels_attrs:
                    owner.labels.append(value)
                owner.labels_attrs[value] = attrs
    return LabelConfig(text=text, controls=list(controls.values()), objects=objects)


def _owning_control(
    tag: ElementTree.Element,
    parents: dict[ElementTree.Element, ElementTree.Element],
    controls: dict[str, ControlTag],
) -> ControlTag | None:
    """The nearest enclosing control of a Choice or Label (they may sit in nested Views)."""
    parent = parents.get(tag)
    while parent is not None:
        control = controls.get(parent.attrib.get("name", ""))
        if control is not None:
            return control
        parent = parents.get(parent)
    return None
