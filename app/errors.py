"""The errors the emulator answers, as one small hierarchy: each carries its status, its message
and, for validation, the fields at fault. ``app.error_handlers`` renders every one of them in
Label Studio's envelope; nothing else turns an error into an answer."""

import uuid
from collections.abc import Mapping
from typing import Any


class APIError(Exception):
    """An error answered in Label Studio's envelope."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        validation_errors: dict[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.validation_errors = validation_errors
        self.headers = headers


class BadRequest(APIError):
    """400 with a message of its own (not a field's)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


class ValidationFailed(APIError):
    """400 with Django REST Framework's per-field messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(400, "Validation error", validation_errors=errors)

    @classmethod
    def field(cls, name: str, message: str) -> "ValidationFailed":
        return cls({name: [message]})


class NotFound(APIError):
    """Django's 404 for a missing object behind a URL."""

    def __init__(self, model: str) -> None:
        super().__init__(404, f"No {model} matches the given query.")


def unauthorized(detail: str) -> APIError:
    """DRF's 401, which names the scheme it expects."""
    return APIError(401, detail, headers={"WWW-Authenticate": "Token"})


def envelope(
    version: str, status_code: int, detail: str, validation_errors: dict[str, Any] | None = None
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
