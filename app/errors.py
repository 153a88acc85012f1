"""Label Studio's error envelope, built here and nowhere else."""

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


class APIError(Exception):
    """An error answered in Label Studio's envelope."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        validation_errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.validation_errors = validation_errors
        self.headers = headers


class ValidationFailed(APIError):
    """400 with Django REST Framework's per-field messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(400, "Validation error", validation_errors=errors)


def not_found(model: str) -> APIError:
    """Django's 404 for a missing object behind a URL."""
    return APIError(404, f"No {model} matches the given query.")


def envelope(
    version: str, status_code: int, detail: str, validation_errors: dict | None = None
) -> dict[str, Any]:
    """The body of every JSON error, keys in Label Studio's order."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status_code": status_code,
        "version": version,
        "detail": detail,
        "exc_info": None,
    }
    if validation_errors is not None:
        body["validation_errors"] = validation_errors
    return body


def error_response(request: Request, error: APIError) -> JSONResponse:
    """Render an APIError for a request."""
    version = request.app.state.settings.server_version
    return JSONResponse(
        envelope(version, error.status_code, error.detail, error.validation_errors),
        status_code=error.status_code,
        headers=error.headers,
    )
