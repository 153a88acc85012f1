"""Every error becomes Label Studio's envelope here: domain errors by type, FastAPI's and
starlette's own (404, 405, request validation) with DRF's wording, anything else a 500."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.auth import authenticate, authorization_header
from app.db import read_session
from app.errors import APIError, ValidationFailed, envelope
from app.methods import PUBLIC_PATHS, path_methods
from app.observability import BodyTooLarge

log = logging.getLogger("lse_emulator")


def error_response(request: Request, error: APIError) -> JSONResponse:
    """Render an APIError for a request."""
    version = request.app.state.settings.server_version
    return JSONResponse(
        envelope(version, error.status_code, error.detail, error.validation_errors),
        status_code=error.status_code,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    def _api_error(request: Request, error: APIError) -> JSONResponse:
        return error_response(request, error)

    @app.exception_handler(BodyTooLarge)
    def _too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return error_response(request, APIError(413, str(error)))

    @app.exception_handler(ClientDisconnect)
    def _client_gone(request: Request, error: ClientDisconnect) -> Response:
        # The client left (or ran out of time) mid-body: nobody reads an answer; 499 is what
        # the journal and metrics record, as proxies do.
        return Response(status_code=499)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            return _method_not_allowed(request)
        detail = "Not found." if error.status_code == 404 else str(error.detail)
        return error_response(request, APIError(error.status_code, detail, headers=error.headers))

    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_response(request, error)

    @app.exception_handler(RecursionError)
    def _too_deep(request: Request, error: RecursionError) -> JSONResponse:
        # Input nested deeper than Python can walk is the input's fault wherever it is met.
        return error_response(request, APIError(400, "The request is nested too deeply."))

    @app.exception_handler(Exception)
    def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = envelope(request.app.state.settings.server_version, 500, "Internal server error")
        return JSONResponse(body, status_code=500)


def _validation_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """A path that does not parse names no object; a bad query parameter is django-filter's
    400 ("Enter a number."); a bad control-plane body names its fields."""
    errors: dict[str, list[str]] = {}
    for item in error.errors():
        if item["type"] == "json_invalid":
            detail = f"JSON parse error - {item.get('ctx', {}).get('error', 'invalid JSON')}"
            return error_response(request, APIError(400, detail))
        where, name = item["loc"][0], ".".join(str(p) for p in item["loc"][1:])
        if where == "path":
            return error_response(request, APIError(404, "Not found."))
        if where == "query" and item["type"].startswith("int"):
            message = "Enter a number."
        else:
            message = item["msg"].removeprefix("Value error, ")
        errors.setdefault(name or "non_field_errors", []).append(message)
    return error_response(request, ValidationFailed(errors))


def _method_not_allowed(request: Request) -> JSONResponse:
    """DRF authenticates before it checks the method, and lists every method of the path."""
    if request.url.path not in PUBLIC_PATHS:
        with read_session(request.app.state.engine) as session:
            try:
                header = authorization_header(
                    request.headers.get("authorization"), request.headers.get("x-api-key")
                )
                authenticate(session, header)
            except APIError as refused:
                return error_response(request, refused)
    allow = ", ".join(path_methods(request.app, request.url.path)[1])
    error = APIError(405, f'Method "{request.method}" not allowed.', headers={"Allow": allow})
    return error_response(request, error)
