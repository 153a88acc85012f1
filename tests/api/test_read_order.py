"""What answers a read before its route does: a fault rule, then authentication, then a malformed
path or query parameter."""

from collections.abc import Iterator
from typing import Any

import pytest

from .envelope import assert_error

WHOAMI = "/api/current-user/whoami"
BAD_VERSIONS = "/api/prompts/abc/versions"
BAD_RUNS = "/api/prompts/1/versions/1/inference-runs?project=x"


@pytest.fixture
def rule(server) -> Iterator[Any]:
    """Adds fault rules; every rule is removed afterwards."""
    with server.client(None) as control:
        added: list[int] = []

        def add(path: str, status: int) -> None:
            made = control.post("/_emulator/faults", json={"path": path, "status": status})
            made.raise_for_status()
            added.append(made.json()["id"])

        yield add
        for rule_id in added:
            control.delete(f"/_emulator/faults/{rule_id}").raise_for_status()


@pytest.mark.parametrize("path", [BAD_VERSIONS, BAD_RUNS])
def test_authentication_answers_before_a_malformed_parameter(server, path):
    with server.client("no-such-key") as client:
        assert_error(client.get(path), 401, "Invalid token.")
    with server.client(None) as client:
        assert_error(client.get(path), 401, "Authentication credentials were not provided.")


def test_a_malformed_parameter_of_an_authenticated_request_is_answered_as_before(server):
    with server.client() as client:
        assert_error(client.get(BAD_VERSIONS), 404, "Not found.")
        assert_error(
            client.get(BAD_RUNS), 400, "Validation error", {"project": ["Enter a number."]}
        )


@pytest.mark.parametrize("path", [BAD_VERSIONS, WHOAMI, "/api/version/", "/api/no-such-path"])
def test_a_fault_rule_answers_before_anything_else_of_a_read(server, rule, path):
    rule(path.split("?")[0], 503)
    with server.client("no-such-key") as client:
        assert client.get(path).status_code == 503
        assert client.head(path).status_code == 503
