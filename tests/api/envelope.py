"""The one check of Label Studio's error envelope, shared by the API contract tests."""

import uuid

import httpx

ENVELOPE_KEYS = ["id", "status_code", "version", "detail", "exc_info"]
VERSION = "1.23.2"  # the server_version the emulator reports by default


def assert_error(
    response: httpx.Response,
    status_code: int,
    detail: str,
    validation_errors: dict[str, list[str]] | None = None,
) -> dict:
    """Assert a whole error response: status, JSON content type, key order, uuid4 id, body."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    keys = ENVELOPE_KEYS + (["validation_errors"] if validation_errors is not None else [])
    assert list(body) == keys
    assert uuid.UUID(body["id"]).version == 4
    expected = {
        "id": body["id"],
        "status_code": status_code,
        "version": VERSION,
        "detail": detail,
        "exc_info": None,
    }
    if validation_errors is not None:
        expected["validation_errors"] = validation_errors
    assert body == expected
    return body


def assert_invalid(response: httpx.Response, validation_errors: dict[str, list[str]]) -> dict:
    """Assert a 400 body-validation error with exactly these field messages."""
    return assert_error(response, 400, "Validation error", validation_errors)
