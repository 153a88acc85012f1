"""The emulator's /openapi.json describes the operations it serves as Label Studio's definition does.

app/contract/openapi.yaml is a verbatim copy of the public definition's subset (OpenAPI 3.0),
which the server rewrites as OpenAPI 3.1 for every operation it routes. Both sides are
normalized to one form before they are compared: references resolved (the component's name
kept), `anyOf: [X, {type: null}]` read as X with `nullable: true`, documentation-only keys
dropped. What is compared is the definition the running server serves.
"""

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TLS, contract_document

from app.config import Settings
from app.main import create_app
from app.openapi import served_operations

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Keys that document a schema without constraining it.
NOISE = {"title", "description", "default", "example", "examples"}
# The operations the app routes, known without starting it (routing touches no database).
OPERATIONS = sorted(served_operations(create_app(Settings(data_dir=Path("unused")))))
SERVED: dict[str, set[str]] = {}
for _path, _method in OPERATIONS:
    SERVED.setdefault(_path, set()).add(_method)


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return contract_document()


@pytest.fixture(scope="module")
def served(lse_url: str) -> dict[str, Any]:
    """The definition a running server serves (the same on every database backend)."""
    response = httpx.get(f"{lse_url}/openapi.json", timeout=30, verify=TLS)
    assert response.status_code == 200
    return response.json()


def normalize(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """A schema in a form shared by OpenAPI 3.0 and 3.1, with references resolved."""
    schema = dict(schema)
    if "$ref" in schema:
        name = schema.pop("$ref").removeprefix("#/components/schemas/")
        target = document["components"]["schemas"][name]
        return {"component": name, **normalize({**target, **schema}, document)}
    if len(schema.get("allOf", [])) == 1:
        (only,) = schema.pop("allOf")
        return normalize({**schema, **only}, document)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [branch for branch in schema[key] if branch != {"type": "null"}]
            if len(branches) < len(schema[key]):
                schema["nullable"] = True
            schema[key] = branches
            if len(branches) == 1:
                (only,) = schema.pop(key)
                return normalize({**schema, **only}, document)
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        if len(types) < len(schema["type"]):
            schema["nullable"] = True
        schema["type"] = types[0] if len(types) == 1 else types
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in NOISE or key.startswith("x-"):
            continue
        if key in ("nullable", "readOnly", "writeOnly") and value is False:
            continue
        if key == "properties":
            value = {name: normalize(item, document) for name, item in value.items()}
        elif key == "items":
            value = normalize(value, document)
        elif key == "additionalProperties":
            value = True if value in ({}, True) else normalize(value, document)
        elif key in ("allOf", "anyOf", "oneOf"):
            value = [normalize(branch, document) for branch in value]
        elif key == "required":
            value = sorted(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        result[key] = value
    return result


def content_schemas(holder: dict[str, Any] | None, document: dict[str, Any]) -> dict[str, Any]:
    """Media type -> normalized schema of a requestBody or a response."""
    content = (holder or {}).get("content", {})
    return {media: normalize(item["schema"], document) for media, item in content.items()}


def differences(served: Any, contract: Any, where: str = "") -> list[str]:
    """Where two normalized schemas differ, one line each, so that a failure names the field."""
    if isinstance(served, dict) and isinstance(contract, dict):
        lines = []
        for key in sorted(set(served) | set(contract)):
            if key not in served:
                lines.append(f"{where}/{key}: missing, the contract has {contract[key]!r}")
            elif key not in contract:
                lines.append(f"{where}/{key}: {served[key]!r} is not in the contract")
            else:
                lines += differences(served[key], contract[key], f"{where}/{key}")
        return lines
    return [] if served == contract else [f"{where}: {served!r}, the contract has {contract!r}"]


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    assert path in document["paths"], f"{path} is missing"
    assert method in document["paths"][path], f"{method.upper()} {path} is missing"
    return document["paths"][path][method]


def test_contract_copy_is_label_studios_definition() -> None:
    document = contract_document()
    assert document["openapi"].startswith("3.0")
    assert len(document["paths"]) == 44
    assert sum(len(set(ops) & HTTP_METHODS) for ops in document["paths"].values()) == 71
    assert set(SERVED) <= set(document["paths"])


@pytest.mark.parametrize("path", sorted(SERVED))
def test_served_path_has_the_contract_methods(
    path: str, contract: dict[str, Any], served: dict[str, Any]
) -> None:
    contract_methods = set(contract["paths"][path]) & HTTP_METHODS
    assert path in served["paths"]
    assert set(served["paths"][path]) & HTTP_METHODS == contract_methods == SERVED[path]


def test_every_served_api_path_is_in_the_contract(
    contract: dict[str, Any], served: dict[str, Any]
) -> None:
    api_paths = {path for path in served["paths"] if path.startswith("/api/")}
    assert api_paths == set(SERVED)
    assert api_paths <= set(contract["paths"])
    assert served["openapi"].startswith("3.1")


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_request_body_matches_the_contract(
    path: str, method: str, contract: dict[str, Any], served: dict[str, Any]
) -> None:
    expected = operation(contract, path, method).get("requestBody")
    actual = operation(served, path, method).get("requestBody")

    assert (actual is None) == (expected is None)
    if expected is not None:
        assert actual.get("required", False) == expected.get("required", False)
        served_schemas = content_schemas(actual, served)
        assert differences(served_schemas, content_schemas(expected, contract)) == []


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_success_responses_match_the_contract(
    path: str, method: str, contract: dict[str, Any], served: dict[str, Any]
) -> None:
    expected = operation(contract, path, method)["responses"]
    actual = operation(served, path, method)["responses"]

    for status, response in expected.items():
        assert status in actual, f"{method.upper()} {path} documents no {status} response"
        served_schemas = content_schemas(actual[status], served)
        assert differences(served_schemas, content_schemas(response, contract)) == []


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_responses_document_only_the_contract_status_codes(
    path: str, method: str, contract: dict[str, Any], served: dict[str, Any]
) -> None:
    expected = operation(contract, path, method)["responses"]
    actual = operation(served, path, method)["responses"]

    assert set(actual) == set(expected)


def parameters(op: dict[str, Any], document: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(in, name) -> whether required, the type and the choices; a query parameter can't be null."""
    result = {}
    for parameter in op.get("parameters", []):
        schema = normalize(parameter.get("schema", {}), document)
        result[parameter["in"], parameter["name"]] = {
            "required": parameter.get("required", False),
            "type": schema.get("type"),
            "enum": schema.get("enum"),
        }
    return result


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_parameters_match_the_contract(
    path: str, method: str, contract: dict[str, Any], served: dict[str, Any]
) -> None:
    expected = parameters(operation(contract, path, method), contract)
    actual = parameters(operation(served, path, method), served)

    assert actual == expected


def test_differences_name_the_field_that_differs() -> None:
    served = {"properties": {"id": {"type": "integer"}, "extra": {"type": "string"}}}
    contract = {"properties": {"id": {"type": "integer", "readOnly": True}}}

    assert differences(served, contract) == [
        "/properties/extra: {'type': 'string'} is not in the contract",
        "/properties/id/readOnly: missing, the contract has True",
    ]


def test_normalize_reads_openapi_31_nullable_as_openapi_30() -> None:
    document = {"components": {"schemas": {"E": {"type": "string", "enum": ["a"], "title": "E"}}}}
    served = {
        "anyOf": [{"type": "integer", "maximum": 10.0}, {"type": "null"}],
        "title": "X",
        "default": None,
    }
    assert normalize(served, document) == {"type": "integer", "maximum": 10, "nullable": True}
    assert normalize({"anyOf": [{}, {"type": "null"}]}, document) == {"nullable": True}
    assert normalize(
        {"allOf": [{"$ref": "#/components/schemas/E"}], "readOnly": True}, document
    ) == {
        "component": "E",
        "type": "string",
        "enum": ["a"],
        "readOnly": True,
    }
