"""What a server keeps between requests (whether fault rules exist, what a legacy key finds)
never hides a change another replica made to the database they share: the next request of the
server that kept it sees the change."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import ADA_TOKEN, Emulator, LocalEmulator

from .envelope import assert_error

WHOAMI = "/api/current-user/whoami"
ADA = {"id": 1, "username": "ada", "organization": 1}
NEW_KEY = "acme-ada-rotated-key"


@pytest.fixture
def replica(server: Emulator, fresh_state: None) -> Iterator[Emulator]:
    """A second server on the server's database, as a replica is."""
    other = LocalEmulator(server.data_dir, dict(server.settings)).start()
    try:
        yield other
    finally:
        other.stop()


def whoami(server: Emulator, token: str) -> httpx.Response:
    with server.client(token) as client:
        return client.get(WHOAMI)


def test_a_key_changed_by_another_replica_is_refused_at_once(server, replica):
    assert whoami(server, ADA_TOKEN).status_code == 200  # kept by the server
    with replica.client(None) as control:
        seeded = control.post("/_emulator/seed", json={"users": [ADA | {"token": NEW_KEY}]})
        seeded.raise_for_status()

    assert_error(whoami(server, ADA_TOKEN), 401, "Invalid token.")
    assert whoami(server, NEW_KEY).json()["username"] == "ada"


def test_legacy_tokens_disabled_by_another_replica_are_refused_at_once(server, replica):
    assert whoami(server, ADA_TOKEN).status_code == 200
    organization = {"id": 1, "title": "Acme", "legacy_api_tokens_enabled": False}
    with replica.client(None) as control:
        control.post("/_emulator/seed", json={"organizations": [organization]}).raise_for_status()

    assert_error(
        whoami(server, ADA_TOKEN),
        401,
        "Authentication token no longer valid: "
        "legacy token authentication has been disabled for this organization",
    )


def test_a_fault_rule_of_another_replica_applies_at_once_and_ends_when_removed(server, replica):
    assert whoami(server, ADA_TOKEN).status_code == 200  # "no rule" kept by the server
    with replica.client(None) as control:
        rule = control.post("/_emulator/faults", json={"path": WHOAMI, "status": 503})
        rule.raise_for_status()
        assert whoami(server, ADA_TOKEN).status_code == 503
        control.delete(f"/_emulator/faults/{rule.json()['id']}").raise_for_status()

    assert whoami(server, ADA_TOKEN).status_code == 200


def test_a_user_changed_by_another_replica_is_answered_as_changed(server, replica):
    assert whoami(server, ADA_TOKEN).json()["first_name"] != "Augusta"  # built and kept
    with replica.client(None) as control:
        seeded = control.post(
            "/_emulator/seed", json={"users": [ADA | {"token": ADA_TOKEN, "first_name": "Augusta"}]}
        )
        seeded.raise_for_status()

    assert whoami(server, ADA_TOKEN).json()["first_name"] == "Augusta"


RUNS = "/api/prompts/1/versions/1/inference-runs"
GRACE = {"id": 3, "email": "grace@acme.test", "username": "grace", "first_name": "Grace",
         "last_name": "Hopper", "organization": 1, "token": "acme-grace-key"}  # fmt: skip


def test_the_runs_list_answers_its_creators_as_another_replica_changed_them(server, replica):
    # The caller's own runs take the caller as authentication read it; others' are read.
    with replica.client(None) as control:
        control.post("/_emulator/seed", json={"users": [GRACE]}).raise_for_status()
    created = []
    for token in (ADA_TOKEN, GRACE["token"]):
        with server.client(token) as client:
            response = client.post(RUNS, json={"project": 1})
            response.raise_for_status()
            created.append(response.json()["id"])

    def creators() -> list[str]:
        with server.client(ADA_TOKEN) as client:
            runs = {run["id"]: run["created_by"]["first_name"] for run in client.get(RUNS).json()}
        return [runs[run_id] for run_id in created]

    assert creators() == ["Ada", "Grace"]
    renamed = [ADA | {"token": ADA_TOKEN, "first_name": "Augusta"}, GRACE | {"first_name": "G."}]
    with replica.client(None) as control:
        control.post("/_emulator/seed", json={"users": renamed}).raise_for_status()

    assert creators() == ["Augusta", "G."]


def test_a_list_kept_by_the_server_shows_another_replicas_change_at_once(server, replica):
    def titles() -> dict[int, str]:
        with server.client(ADA_TOKEN) as client:
            return {p["id"]: p["title"] for p in client.get("/api/prompts/").json()["results"]}

    assert titles() == titles()  # read, then answered from what the server kept (SQLite)
    with replica.client(ADA_TOKEN) as client:
        client.patch("/api/prompts/1/", json={"title": "Renamed by a replica"}).raise_for_status()

    assert titles()[1] == "Renamed by a replica"
