"""Input that once gave a 500, or was stored and then broke later reads: each is a 400 in the
envelope now, and the stored state stays readable."""

import json

import pytest

from .support import AUTH, RUNS, InProcess

JSON = {**AUTH, "Content-Type": "application/json"}
SURROGATE = "JSON parse error - Surrogate characters are not allowed: U+D800."
OUT_OF_RANGE = "JSON parse error - Out of range float values are not JSON compliant: '1e400'"


def error(response, status_code: int = 400) -> dict:
    assert response.status_code == status_code, response.text
    body = response.json()
    assert list(body)[:5] == ["id", "status_code", "version", "detail", "exc_info"]
    return body


def refused(client: InProcess, method: str, path: str, text: str, detail: str) -> None:
    """A JSON body is refused with this detail and leaves the state as it was."""
    before = client.get("/_emulator/export").json()
    assert error(client.request(method, path, content=text, headers=JSON))["detail"] == detail
    assert client.get("/_emulator/export").json()["tables"] == before["tables"]
    client.assert_state_readable()


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param('{"project": 1, "job_id": "\\ud800"}', SURROGATE, id="job_id"),
        pytest.param('{"project": 1, "project_subset": "\\ud800"}', SURROGATE, id="choice"),
        pytest.param('{"project": 1, "filters_json": {"a": ["\\ud800"]}}', SURROGATE, id="json"),
        pytest.param('{"project": 1, "filters_json": {"\\udfff": 1}}', SURROGATE.replace("D800", "DFFF"), id="key"),
        pytest.param('{"project": 1, "filters_json": {"a": 1e400}}', OUT_OF_RANGE, id="huge"),
        pytest.param(
            '{"project": 1, "filters_json": {"a": -Infinity}}',
            "JSON parse error - Out of range float values are not JSON compliant: '-Infinity'",
            id="infinity",
        ),
    ],
)  # fmt: skip
def test_json_body_the_server_could_not_store_is_a_parse_error(client, text, detail):
    refused(client, "POST", RUNS, text, detail)


def test_huge_integer_in_filters_json_is_stored_and_read_back(client):
    body = {"project": 1, "project_subset": "All", "filters_json": {"a": 2**70}}
    created = client.post(RUNS, json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["filters_json"] == {"a": 2**70}
    client.assert_state_readable()


@pytest.mark.parametrize("form", [True, False], ids=["urlencoded", "multipart"])
def test_form_fields_refuse_what_json_bodies_refuse(client, form):
    fields = {
        "project": "1",
        "job_id": "\ud800",
        "filters_json": '{"a": NaN}',
        "predictions_updated_at": "0001-01-01T00:00:00+01:00",
    }
    if form:
        data = {k: v for k, v in fields.items() if k != "job_id"}
        response = client.post(RUNS, data=data, headers=AUTH)
    else:
        files = {k: (None, v.encode("utf-8", "surrogatepass")) for k, v in fields.items()}
        response = client.post(RUNS, files=files, headers=AUTH)
    errors = error(response)["validation_errors"]
    assert errors["filters_json"] == ["Value must be valid JSON."]
    assert errors["predictions_updated_at"] == ["Datetime value out of range."]
    client.assert_state_readable()


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01 00:00+01:00"]
)
def test_datetime_leaving_the_range_in_utc_is_a_validation_error(client, instant):
    body = {"project": 1, "predictions_updated_at": instant}
    response = client.post(RUNS, json=body, headers=AUTH)
    assert error(response)["validation_errors"] == {
        "predictions_updated_at": ["Datetime value out of range."]
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param(
            {"filter": "filter:tasks:id", "operator": "in", "value": {"min": [1], "max": {}}},
            "filters_json.items[0]: the value must be a number.",
            id="min-max-wrong-types",
        ),
        pytest.param(
            {"filter": "filter:tasks:id", "operator": {"a": 1}, "value": 1},
            "filters_json.items[0]: unsupported operator \"{'a': 1}\"; supported: equal, "
            "not_equal, less, greater, less_or_equal, greater_or_equal, in, not_in.",
            id="operator-object",
        ),
        pytest.param(
            {"filter": ["filter:tasks:id"], "operator": "equal", "value": 1},
            "filters_json.items[0]: the filter \"['filter:tasks:id']\" cannot be applied by the "
            "emulator; supported: filter:tasks:id, filter:tasks:ground_truth.",
            id="filter-list",
        ),
    ],
)
def test_filter_of_the_wrong_type_is_a_validation_error(client, item, message):
    body = {"project": 1, "project_subset": "Custom", "filters_json": {"items": [item]}}
    response = client.post(RUNS, json=body, headers=AUTH)
    assert error(response)["validation_errors"] == {"filters_json": [message]}


def test_deep_filters_json_in_a_form_field_is_a_validation_error(client):
    for depth in (40, 5000):
        text = "[" * depth + "]" * depth
        response = client.post(RUNS, data={"project": "1", "filters_json": text}, headers=AUTH)
        assert "filters_json" in error(response)["validation_errors"]


def test_deep_json_body_is_a_parse_error(client):
    for path in (RUNS, "/_emulator/seed", "/_emulator/import"):
        text = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
        detail = error(client.post(path, content=text, headers=JSON))["detail"]
        assert detail == "JSON parse error - the document is nested too deeply"


def test_ordering_repeated_thousands_of_times_counts_once(client):
    for body in ({"project": 1}, {"project": 2}):
        assert client.post(RUNS, json=body, headers=AUTH).status_code == 201
    response = client.get(
        RUNS, params={"ordering": ",".join(["-project", "id"] * 2500)}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert [run["project"] for run in response.json()] == [2, 1]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/_emulator/seed", '{"organizations": [{"id": 5, "title": "\\ud800"}]}'),
        ("/_emulator/runs/1/transition", '{"to": "Failed", "reason": "\\ud800"}'),
        ("/_emulator/import", '{"format": "lse-emulator/1", "secret_key": "\\ud800"}'),
    ],
)
def test_control_plane_refuses_lone_surrogates(client, path, text):
    refused(client, "POST", path, text, SURROGATE)


@pytest.mark.parametrize("value", ["NaN", "1e400"])
def test_control_plane_refuses_numbers_json_cannot_carry(client, value):
    text = f'{{"organizations": [{{"id": 5, "title": "x"}}], "projects": [{{"id": 9, "title": "a", "organization": 5, "tasks": {value}}}]}}'
    refused(
        client,
        "POST",
        "/_emulator/seed",
        text,
        f"JSON parse error - Out of range float values are not JSON compliant: '{value}'",
    )


def test_import_refuses_a_row_json_cannot_carry_back(client):
    document = client.get("/_emulator/export").json()
    document["tables"]["organization"][0]["title"] = "\ud800"
    text = json.dumps(document)  # escapes the surrogate as \ud800
    refused(client, "POST", "/_emulator/import", text, SURROGATE)
