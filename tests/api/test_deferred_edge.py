"""A read-only route on a database server reads its edge state (whether fault rules exist, what
the legacy key finds) in its own thread hand-off, on its own connection, just before its read;
what answers before the route still does: a fault rule, then authentication, then a malformed
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


@pytest.mark.parametrize(
    ("path", "statements_read"),
    [
        (WHOAMI, 1),
        ("/api/prompts/", 5),
        ("/api/prompts/1/versions", 1),
        ("/api/prompts/1/versions/1/inference-runs", 1),
        # The list's rows come on the driver's own cursor, which SQLAlchemy's events do not see.
        ("/api/predictions/?task=1", 0),
    ],
)
def test_a_read_runs_its_edge_read_and_its_own_on_one_connection(
    server, statements, path, statements_read
):
    with server.client() as client:
        client.get(path).raise_for_status()
        statements.ran.clear()
        statements.checkouts.clear()
        # A URL not answered before (a parameter the routes ignore), so that no kept answer
        # spares the route's read (tests/api/test_kept_answers.py).
        client.get(path, params={"unkept": 1}).raise_for_status()

    edges = [thread for thread, sql in statements.ran if "fault_rule" in sql]
    if not server.settings.get("database_url"):
        # SQLite's edge read is its cached state, checked without a statement while nothing
        # changed (and the lists' answers are kept: tests/api/test_kept_answers.py).
        assert edges == []
        return
    # A database server's is a statement, on the thread and the connection of the route's
    # own (the worker's statements run on threads of their own).
    (edge,) = edges
    on_its_thread = [sql for thread, sql in statements.ran if thread == edge]
    assert len(on_its_thread) >= 1 + statements_read
    assert statements.checkouts.count(edge) == 1
