"""Every writable field of a project body, read from the contract's request schemas: which take
null, the message for a value of the wrong type, the coercions DRF applies (booleans and numbers
as text, trimmed text, decimals with their places), decimal limits at and past their bounds, and
each value read back as it was sent."""

import itertools
import re
from typing import Any

import pytest
from conftest import contract_document

from .envelope import assert_invalid

CONTRACT = contract_document()
SCHEMAS = CONTRACT["components"]["schemas"]
CREATE, UPDATE = "LseProjectCreateRequest", "PatchedLseProjectUpdateRequest"
CONFIG = '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text"/></View>'
DATETIME_FORMAT = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
# Fields a body names but the project does not take from it: the creator is the caller, and
# the organization and workspace are the caller's.
NOT_TAKEN = {"created_by", "organization", "workspace"}


def properties(schema: str) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in SCHEMAS[schema]["properties"].items()
        if not spec.get("readOnly") and name != "created_by"
    }


def kind(spec: dict[str, Any]) -> str:
    """What the contract says a field holds: enum, object, decimal, date-time, boolean,
    integer, string, or any JSON."""
    if "allOf" in spec or "$ref" in spec:
        ref = (spec.get("$ref") or spec["allOf"][0]["$ref"]).split("/")[-1]
        return "enum" if "enum" in SCHEMAS[ref] else "object"
    if spec.get("format") in ("decimal", "date-time"):
        return spec["format"]
    return spec.get("type", "json")


def enum_of(spec: dict[str, Any]) -> list[str]:
    return SCHEMAS[spec["allOf"][0]["$ref"].split("/")[-1]]["enum"]


def decimal_bounds(spec: dict[str, Any]) -> tuple[int, int]:
    """(digits before the point, decimal places) the contract's pattern allows."""
    before, places = re.fullmatch(r"\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$",
                                  spec["pattern"]).groups()  # fmt: skip
    return int(before), int(places)


def wrong_value(name: str, spec: dict[str, Any]) -> tuple[Any, str] | None:
    """A value of the wrong type for the field and DRF's message for it (None: any JSON)."""
    messages = {
        "boolean": ("maybe", "Must be a valid boolean."),
        "integer": ("many", "A valid integer is required."),
        "decimal": ("many", "A valid number is required."),
        "date-time": ("many", DATETIME_FORMAT),
        "enum": ("many", '"many" is not a valid choice.'),
        "object": (["many"], 'Expected a dictionary of items but got type "list".'),
        "string": ({"many": 1}, "Not a valid string."),
    }
    return messages.get(kind(spec))


def project_of(api, body: dict[str, Any] | None = None) -> int:
    response = api.post("/api/projects/", json=body or {})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("schema", [CREATE, UPDATE])
def test_null_is_refused_exactly_for_the_fields_the_contract_does_not_make_nullable(api, schema):
    fields = {n: s for n, s in properties(schema).items() if n != "label_config"}
    refused = {
        n: ["This field may not be null."] for n, s in fields.items() if not s.get("nullable")
    }
    assert refused and len(refused) < len(fields)
    body = dict.fromkeys(fields)
    if schema == CREATE:
        assert_invalid(api.post("/api/projects/", json=body), refused)
    else:
        assert_invalid(api.patch(f"/api/projects/{project_of(api)}/", json=body), refused)


def test_every_nullable_field_can_be_set_to_null_and_reads_back_null(api):
    project = project_of(api, {"title": "Cleared", "color": "#000000", "model_version": "v1"})
    nullable = [
        n for n, s in properties(UPDATE).items()
        if s.get("nullable") and n not in NOT_TAKEN | {"label_config"}
    ]  # fmt: skip
    response = api.patch(f"/api/projects/{project}/", json=dict.fromkeys(nullable))

    assert response.status_code == 200, response.text
    for answer in (response.json(), api.get(f"/api/projects/{project}/").json()):
        assert {n: answer[n] for n in nullable} == dict.fromkeys(nullable)
        assert answer["organization"] == answer["workspace"] == 1


def test_a_blank_title_is_no_title(api):
    project = project_of(api, {"title": "Named"})

    answer = api.patch(f"/api/projects/{project}/", json={"title": "  "}).json()

    assert answer["title"] is None


@pytest.mark.parametrize("schema", [CREATE, UPDATE])
def test_a_value_of_the_wrong_type_is_refused_for_every_field_at_once(api, schema):
    body, expected = {}, {}
    for name, spec in properties(schema).items():
        wrong = wrong_value(name, spec)
        if wrong is not None:
            body[name], expected[name] = wrong[0], [wrong[1]]
    assert {"boolean", "integer", "string", "object", "date-time"} <= {
        kind(s) for s in properties(schema).values()
    }
    before = api.get("/api/projects/").json()["count"]
    if schema == CREATE:
        assert_invalid(api.post("/api/projects/", json=body), expected)
    else:
        project = project_of(api)
        before += 1
        assert_invalid(api.patch(f"/api/projects/{project}/", json=body), expected)
    assert api.get("/api/projects/").json()["count"] == before


TRUE_SPELLINGS = ["true", "True", "TRUE", "1", 1, "yes", "on", "t", "Y"]
FALSE_SPELLINGS = ["false", "False", "FALSE", "0", 0, "no", "off", "f", "N"]


def good_values(schema: str, booleans: list[Any], choice: int) -> tuple[dict, dict]:
    """A body giving every field a valid value, in the spelling a form or a lax client uses
    (text for numbers, padded text), and the value each reads back as."""
    spellings = itertools.cycle(booleans)
    sent: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name, spec in properties(schema).items():
        field_kind = kind(spec)
        if name in NOT_TAKEN or field_kind == "object":
            continue
        if name == "label_config":
            sent[name] = expected[name] = CONFIG
        elif field_kind == "boolean":
            sent[name], expected[name] = next(spellings), booleans is TRUE_SPELLINGS
        elif field_kind == "integer":
            sent[name], expected[name] = f"{7 + choice}", 7 + choice
        elif field_kind == "decimal":
            sent[name], expected[name] = f"{choice}.5", f"{choice}.50"
        elif field_kind == "date-time":
            sent[name] = f"2025-06-0{1 + choice}T12:30:00+02:00"
            expected[name] = f"2025-06-0{1 + choice}T10:30:00Z"
        elif field_kind == "enum":
            options = enum_of(spec)
            sent[name] = expected[name] = options[choice % len(options)]
        elif field_kind == "string":
            sent[name], expected[name] = f"  {name[:12]}{choice}  ", f"{name[:12]}{choice}"
        else:
            sent[name] = expected[name] = {"field": name, "list": [choice, "a", None]}
    return sent, expected


@pytest.mark.parametrize("schema", [CREATE, UPDATE])
def test_every_text_field_without_a_minimum_length_takes_the_empty_string(api, schema):
    """The contract gives these no minLength (drf-spectacular writes minLength 1 for a field
    that refuses blank text): each takes "" and reads it back, the title alone reading it as
    no title and the label config left out (an empty config is not one)."""
    blank = [
        n for n, s in properties(schema).items()
        if kind(s) == "string" and "minLength" not in s and n != "label_config"
    ]  # fmt: skip
    assert "custom_script" in blank or schema == CREATE
    body = dict.fromkeys(blank, "")
    if schema == CREATE:
        response = api.post("/api/projects/", json=body)
        assert response.status_code == 201, response.text
        project = response.json()["id"]
    else:
        project = project_of(api, {"title": "Filled", "color": "#000000"})
        response = api.patch(f"/api/projects/{project}/", json=body)
        assert response.status_code == 200, response.text
    answer = api.get(f"/api/projects/{project}/").json()
    assert {n: answer[n] for n in blank} == body


def test_the_organization_and_workspace_a_body_names_are_checked_and_not_stored(server, api):
    """Label Studio takes a project's organization and workspace from the caller: a body's
    values, valid ones included, leave no trace in the stored project."""
    named = project_of(api, {"title": "Placed", "organization": 7, "workspace": 7})
    plain = project_of(api, {"title": "Placed"})
    patched = api.patch(f"/api/projects/{named}/", json={"organization": None, "workspace": 2})
    assert patched.status_code == 200, patched.text
    with server.client(token=None) as control:
        rows = control.get("/_emulator/export").json()["tables"]["project"]

    def stored(pk: int) -> dict[str, Any]:
        (row,) = [r for r in rows if r["id"] == pk]
        return {k: v for k, v in row.items() if k not in ("id", "created_at")}

    assert stored(named) == stored(plain)
    assert stored(named)["organization_id"] == 1


def test_a_create_takes_every_field_of_its_schema_in_the_spellings_drf_accepts(api):
    sent, expected = good_values(CREATE, TRUE_SPELLINGS, 2)
    sent |= {"organization": "7", "workspace": "7"}

    response = api.post("/api/projects/", json=sent)

    assert response.status_code == 201, response.text
    detail = api.get(f"/api/projects/{response.json()['id']}/").json()
    assert {n: detail[n] for n in expected} == expected
    assert detail["organization"] == detail["workspace"] == 1


def test_an_update_takes_every_field_of_its_schema_in_the_spellings_drf_accepts(api):
    project = project_of(api, good_values(CREATE, TRUE_SPELLINGS, 2)[0])
    sent, expected = good_values(UPDATE, FALSE_SPELLINGS, 1)

    response = api.patch(f"/api/projects/{project}/", json=sent)

    assert response.status_code == 200, response.text
    for answer in (response.json(), api.get(f"/api/projects/{project}/").json()):
        assert {n: answer[n] for n in expected} == expected


def test_a_create_ignores_the_fields_only_an_update_takes(api):
    only_update = set(properties(UPDATE)) - set(properties(CREATE))
    sent, _ = good_values(UPDATE, TRUE_SPELLINGS, 1)
    sent["review_settings"] = {"review_criteria": "one"}
    plain = api.get(f"/api/projects/{project_of(api)}/").json()

    made = api.get(f"/api/projects/{project_of(api, sent)}/").json()

    def settings(answer: dict) -> dict:  # without the keys naming the project
        return {n: {k: v for k, v in answer[n].items() if k not in ("id", "project")}
                if n.endswith("_settings") else answer[n] for n in only_update}  # fmt: skip

    assert only_update
    assert settings(made) == settings(plain)
    assert plain["label_config"] == "<View></View>"  # Label Studio's default config


def test_objects_of_an_update_change_the_keys_they_name_and_keep_the_others(api):
    project = project_of(api)
    before = api.get(f"/api/projects/{project}/").json()
    weights = {"sentiment": {"overall": 0.5, "type": "Choices", "labels": {"Positive": 1.0}}}

    answer = api.patch(
        f"/api/projects/{project}/",
        json={"assignment_settings": {"label_stream_task_distribution": "assigned_only"},
              "review_settings": {"review_criteria": "one", "anonymize_annotations": True},
              "control_weights": weights},
    ).json()  # fmt: skip
    again = api.patch(
        f"/api/projects/{project}/", json={"review_settings": {"instruction": "Be strict"}}
    ).json()

    assert answer["assignment_settings"] == {
        **before["assignment_settings"], "label_stream_task_distribution": "assigned_only",
    }  # fmt: skip
    assert answer["review_settings"] == {
        **before["review_settings"], "review_criteria": "one", "anonymize_annotations": True,
    }  # fmt: skip
    assert again["review_settings"] == {**answer["review_settings"], "instruction": "Be strict"}
    assert answer["control_weights"] == weights


@pytest.mark.parametrize(
    "name",
    [n for n, s in properties(UPDATE).items() if kind(s) == "decimal"],
)
def test_a_decimal_field_holds_its_digits_at_their_bounds_and_refuses_one_more(api, name):
    before, places = decimal_bounds(properties(UPDATE)[name])
    project = project_of(api)
    url = f"/api/projects/{project}/"
    widest = "9" * before + "." + "9" * places

    assert api.patch(url, json={name: widest}).json()[name] == widest
    assert api.patch(url, json={name: "-" + widest}).json()[name] == "-" + widest
    assert_invalid(
        api.patch(url, json={name: "9" * (before + 1)}),
        {name: [f"Ensure that there are no more than {before} digits before the decimal point."]},
    )
    assert_invalid(
        api.patch(url, json={name: "0." + "9" * (places + 1)}),
        {name: [f"Ensure that there are no more than {places} decimal places."]},
    )
    assert_invalid(
        api.patch(url, json={name: "9" * (before + 1) + "." + "9" * places}),
        {name: [f"Ensure that there are no more than {before + places} digits in total."]},
    )
    assert api.get(url).json()[name] == "-" + widest
