"""The served API definition: Label Studio's published definition for every Label Studio
operation the emulator serves (verbatim, from the copy shipped in app/contract), and FastAPI's
for the control plane. Label Studio's definition is OpenAPI 3.0; the document served is 3.1, so
its ``nullable`` schemas are rewritten as 3.1 says them."""

import copy
import functools
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

CONTRACT = Path(__file__).with_name("contract") / "openapi.yaml"
API_PREFIX = "/api/"
# Keys that document a schema rather than constrain it: kept beside a nullable wrapper.
DOCUMENTING = ("description", "default", "readOnly", "writeOnly", "title", "example")


@functools.cache
def contract() -> dict[str, Any]:
    """Label Studio's definition of the paths this project serves or will serve."""
    import yaml  # only once the definition is asked for: slow to import, and a start needs none

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document: dict[str, Any] = yaml.load(CONTRACT.read_text(encoding="utf-8"), Loader=loader)
    return document


def as_openapi_31(node: Any) -> Any:
    """A 3.0 schema (or any part of a definition) as 3.1 writes it: ``nullable: true`` becomes
    a "null" type, or a null branch beside a reference."""
    if isinstance(node, list):
        return [as_openapi_31(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_openapi_31(value) for key, value in node.items()}
    if node.pop("nullable", False) is not True:
        return node
    if isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        return node
    documentation = {key: node.pop(key) for key in DOCUMENTING if key in node}
    return {"anyOf": [node, {"type": "null"}], **documentation}


def _references(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*(_references(value) for value in node.values())) if node else set()
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        found.add(ref.removeprefix("#/components/schemas/"))
    return found


def served_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every Label Studio operation the app routes."""
    return {
        (route.path, method.lower())
        for route in iter_route_contexts(app.router.routes)
        if route.path is not None and route.path.startswith(API_PREFIX)
        for method in route.methods or ()
        if method != "HEAD"
    }


def build_definition(app: FastAPI) -> dict[str, Any]:
    """The definition /openapi.json serves."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    # FastAPI documents the control plane; Label Studio's operations come from its definition.
    document["paths"] = {
        path: item for path, item in document["paths"].items() if not path.startswith(API_PREFIX)
    }
    # The control plane answers 400 in Label Studio's envelope, never FastAPI's 422.
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)

    source = contract()
    paths: dict[str, dict[str, Any]] = {}
    for path, method in sorted(served_operations(app)):
        operation = source["paths"].get(path, {}).get(method)
        if operation is None:
            raise LookupError(f"{method.upper()} {path} is served but not in {CONTRACT.name}")
        paths.setdefault(path, {})[method] = copy.deepcopy(operation)
    wanted, schemas = _references(paths), source["components"]["schemas"]
    seen: set[str] = set()
    while wanted - seen:
        name = min(wanted - seen)
        seen.add(name)
        wanted |= _references(schemas[name])
    components.update({name: as_openapi_31(copy.deepcopy(schemas[name])) for name in seen})
    document["components"]["securitySchemes"] = copy.deepcopy(
        source["components"].get("securitySchemes", {})
    )
    document["paths"] = as_openapi_31(paths) | document.get("paths", {})
    return document
