"""HEAD and OPTIONS on every Label Studio API path, as Django and DRF answer them: HEAD is GET
without a body; OPTIONS authenticates, then describes the view (SimpleMetadata)."""

import re
from functools import cache
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import authenticate, authorization_header
from app.db import read_session
from app.errors import APIError, envelope
from app.openapi import API_PREFIX, contract

# Paths whose views authenticate no one (simplejwt's refresh view).
PUBLIC_PATHS = {"/api/token/refresh/"}
METHOD_ORDER = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RENDERS = ["application/json", "text/html"]  # JSONRenderer, BrowsableAPIRenderer
PARSES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
JSON_TYPES = {"integer": "integer", "number": "float", "boolean": "boolean", "array": "list"}


def path_methods(app: Any, path: str) -> tuple[str, list[str]]:
    """The route template of a path and its methods in DRF's Allow order, HEAD (with GET) and
    OPTIONS included; ("", []) when no route serves the path."""
    methods: set[str] = set()
    template = ""
    for route in iter_route_contexts(app.router.routes):
        if route.methods and route.path_regex.match(path):
            methods |= set(route.methods)
            template = template or str(route.path)
    if not methods:
        return "", []
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    return template, [m for m in METHOD_ORDER if m in methods]


def capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


@cache
def _operations(template: str) -> dict[str, Any]:
    operations: dict[str, Any] = contract().get("paths", {}).get(template, {})
    return operations


def _schema(node: Any) -> dict[str, Any]:
    """A schema with its $ref followed."""
    while isinstance(node, dict) and "$ref" in node:
        node = contract()["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node if isinstance(node, dict) else {}


def _field_info(name: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    """SimpleMetadata's description of a serializer field, from its published schema."""
    schema = _schema(schema.get("allOf", [schema])[0]) if "allOf" in schema else _schema(schema)
    kind = schema.get("type", "field")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "field")
    info: dict[str, Any] = {
        "type": "datetime" if schema.get("format") == "date-time" else JSON_TYPES.get(kind, kind),
        "required": required,
        "read_only": bool(schema.get("readOnly", False)),
        "label": capfirst(name.replace("_", " ")),
    }
    if kind == "object":
        info["type"] = "json"
    for key, drf in (("maxLength", "max_length"), ("minLength", "min_length"),
                     ("minimum", "min_value"), ("maximum", "max_value")):  # fmt: skip
        if key in schema:
            info[drf] = schema[key]
    if "enum" in schema:
        info["type"] = "choice"
        info["choices"] = [
            {"value": v, "display_name": str(v)} for v in schema["enum"] if v is not None
        ]
    return info


def _actions(template: str, methods: list[str]) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    for method in ("POST", "PUT"):
        operation = _operations(template).get(method.lower())
        if method not in methods or not operation:
            continue
        content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
        media: dict[str, Any] = next(iter(content.values()), {})
        schema = _schema(media.get("schema", {}))
        required = set(schema.get("required", []))
        actions[method] = {
            name: _field_info(name, prop, name in required)
            for name, prop in schema.get("properties", {}).items()
        }
    return actions


def view_name(template: str) -> str:
    """DRF's view name (the view class's name in words), approximated from the path: its last
    literal segments, "List" for a collection, "Detail" behind an id, as Label Studio names views
    (e.g. ModelRunListAPI... for collections)."""
    words = [s for s in template.strip("/").split("/")[1:] if s and not s.startswith("{")]
    noun = " ".join(capfirst(w) for w in re.split(r"[-_]", words[-1])) if words else "Api"
    suffix = "Detail" if template.rstrip("/").endswith("}") else "List"
    return f"{noun} {suffix}"


def metadata(template: str, methods: list[str]) -> dict[str, Any]:
    """SimpleMetadata.determine_metadata for a path."""
    operation: Any = next(iter(_operations(template).values()), {})
    body: dict[str, Any] = {
        "name": view_name(template),
        "description": operation.get("description", "") if isinstance(operation, dict) else "",
        "renders": RENDERS,
        "parses": PARSES,
    }
    actions = _actions(template, methods)
    if actions:
        body["actions"] = actions
    return body


class MethodsMiddleware:
    """Serves HEAD (as GET, without the body) and OPTIONS on every /api/ route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        template, methods = path_methods(scope["app"], scope["path"])
        if method == "HEAD" and "HEAD" in methods:
            await self.app(dict(scope, method="GET"), receive, _without_body(send))
        elif method == "OPTIONS" and methods:
            await self._options(scope, receive, send, template, methods)
        else:
            await self.app(scope, receive, send)

    async def _options(
        self, scope: Scope, receive: Receive, send: Send, template: str, methods: list[str]
    ) -> None:
        request = Request(scope, receive)
        allow = {"Allow": ", ".join(methods)}
        if scope["path"] not in PUBLIC_PATHS:
            header = authorization_header(
                request.headers.get("authorization"), request.headers.get("x-api-key")
            )
            with read_session(scope["app"].state.engine) as session:
                try:
                    user = authenticate(session, header)
                except APIError as refused:
                    version = scope["app"].state.settings.server_version
                    body = envelope(version, refused.status_code, refused.detail)
                    response = JSONResponse(
                        body, status_code=refused.status_code, headers=refused.headers
                    )
                    await response(scope, receive, send)
                    return
            scope.setdefault("state", {})["user_id"] = user.id
        await JSONResponse(metadata(template, methods), headers=allow)(scope, receive, send)


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
