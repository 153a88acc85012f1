"""The request journal, health, the fidelity list, and the settings that shape the control plane."""

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from conftest import ADA_TOKEN, FAST, POSTGRES, TLS, Emulator, LocalEmulator, postgres_database
from sqlalchemy import create_engine

from app.control.api import health

from .support import RUNS, assert_error, create_run, ok

CONTROL_PATHS = {
    "/_emulator/clock",
    "/_emulator/policy",
    "/_emulator/runs/{run_id}/transition",
    "/_emulator/runs/{run_id}/history",
    "/_emulator/runs/{run_id}/wait",
    "/_emulator/seed",
    "/_emulator/reset",
    "/_emulator/export",
    "/_emulator/import",
    "/_emulator/requests",
    "/_emulator/health",
    "/_emulator/fidelity",
    "/_emulator/faults",
    "/_emulator/faults/{rule_id}",
    # The console's endpoints.
    "/_emulator/workspace",
    "/_emulator/runs",
    "/_emulator/runs/{run_id}/tasks",
    "/_emulator/runs/{run_id}/pending-tasks",
    "/_emulator/clock/run-out",
    "/_emulator/events",
    "/_emulator/events/ticket",
}


ADMIN_TOKEN = "s3cret-admin"


@pytest.fixture(scope="module")
def disabled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A server with the control plane switched off."""
    emulator = LocalEmulator(
        tmp_path_factory.mktemp("disabled"), {**FAST, "control_enabled": False}
    )
    yield emulator.start()
    emulator.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A server whose control plane requires the admin token."""
    emulator = LocalEmulator(
        tmp_path_factory.mktemp("guarded"), {**FAST, "admin_token": ADMIN_TOKEN}
    )
    yield emulator.start()
    emulator.stop()


def journal(control, **filters) -> list[dict]:
    """The journal without its times, which are wall-clock stamps."""
    entries = ok(control.get("/_emulator/requests", params=filters))
    for entry in entries:
        assert list(entry) == ["time", "method", "path", "status", "user_id", "run_id", "fault"]
        assert entry.pop("time").endswith("Z")
    return entries


def entry(method: str, path: str, status: int, user_id=None, run_id=None) -> dict:
    return {"method": method, "path": path, "status": status, "user_id": user_id, "run_id": run_id,
            "fault": None}  # fmt: skip


def test_journal_lists_api_requests_newest_first(control, ada, emulator):
    assert journal(control) == []
    ok(control.post("/_emulator/clock", json={"freeze": True}))  # the run stays cancelable
    run_id = create_run(ada)["id"]
    ok(ada.get(RUNS))
    with emulator.client("not-a-token") as stranger:
        stranger.get(RUNS)
    ada.get("/api/prompts/1/versions/7/inference-runs")
    ok(ada.post(f"{RUNS}/{run_id}/cancel"))
    assert journal(control) == [
        entry("POST", f"{RUNS}/{run_id}/cancel", 200, 1, run_id),
        entry("GET", "/api/prompts/1/versions/7/inference-runs", 404, 1),
        entry("GET", RUNS, 401),
        entry("GET", RUNS, 200, 1),
        entry("POST", RUNS, 201, 1, run_id),
    ]


def test_journal_filters_by_method_path_and_status(control, ada):
    run_id = create_run(ada)["id"]
    ok(ada.get(RUNS))
    ok(ada.get("/api/projects/1/subsets"))
    ada.get("/api/projects/99/subsets")
    assert journal(control, method="post") == [entry("POST", RUNS, 201, 1, run_id)]
    assert journal(control, path="/subsets") == [
        entry("GET", "/api/projects/99/subsets", 404, 1),
        entry("GET", "/api/projects/1/subsets", 200, 1),
    ]
    assert journal(control, status=404) == [entry("GET", "/api/projects/99/subsets", 404, 1)]
    assert journal(control, method="GET", path="inference-runs", status=200) == [
        entry("GET", RUNS, 200, 1)
    ]
    assert journal(control, method="DELETE") == []


def test_control_plane_requests_are_not_journaled(control, ada):
    ok(control.get("/_emulator/clock"))
    ok(control.get("/_emulator/policy"))
    ok(control.get("/_emulator/health"))
    control.post("/_emulator/runs/999/transition", json={"to": "Canceled"})
    assert journal(control) == []


def test_deleting_the_journal_clears_it(control, ada):
    create_run(ada)
    assert len(journal(control)) == 1
    assert ok(control.delete("/_emulator/requests")) == {"detail": "Journal cleared."}
    assert journal(control) == []
    ok(ada.get(RUNS))
    assert journal(control) == [entry("GET", RUNS, 200, 1)]


def test_reset_clears_the_journal(control, ada):
    create_run(ada)
    ok(control.post("/_emulator/reset"))
    assert journal(control) == []


def test_bad_journal_filter_is_400(control):
    response = control.get("/_emulator/requests", params={"status": "teapot"})
    assert response.status_code == 400, response.text


def test_journal_keeps_only_the_newest_requests(tmp_path):
    emulator = LocalEmulator(tmp_path, {**FAST, "journal_size": 2}).start()
    try:
        with emulator.client(token=None) as control, emulator.client() as ada:
            ok(ada.get(RUNS))
            ok(ada.get("/api/projects/1/subsets"))
            ok(ada.get("/api/projects/2/subsets"))
            assert journal(control) == [
                entry("GET", "/api/projects/2/subsets", 200, 1),
                entry("GET", "/api/projects/1/subsets", 200, 1),
            ]
    finally:
        emulator.stop()


def test_health_reports_database_and_worker(control):
    response = control.get("/_emulator/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "worker": "ok"}


def test_fidelity_lists_each_area_with_its_level_and_a_note(control):
    fidelity = ok(control.get("/_emulator/fidelity"))
    assert fidelity and all(list(e) == ["area", "level", "note"] for e in fidelity)
    assert {e["level"] for e in fidelity} == {"exact", "approximated", "decision"}
    assert all(e["area"] and e["note"] for e in fidelity)
    areas = [e["area"] for e in fidelity]
    assert len(areas) == len(set(areas))
    assert "Control plane (/_emulator)" in areas


def test_openapi_lists_the_control_paths_under_their_tag(control):
    paths = ok(control.get("/openapi.json"))["paths"]
    control_paths = {p for p in paths if p.startswith("/_emulator")}
    assert control_paths == CONTROL_PATHS
    for path in control_paths:
        for operation in paths[path].values():
            assert operation["tags"] == ["Emulator control"], path


def test_serve_prints_the_url_it_bound_and_writes_the_ready_file(start_emulator):
    emulator = start_emulator()
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    assert (host, int(port) > 0) == ("127.0.0.1", True)
    assert (emulator.data_dir / "ready").read_text() == emulator.url + "\n"
    assert f"lse-emulator listening on {emulator.url}\n" in emulator.log.read_text()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_emulator/clock"),
        ("POST", "/_emulator/clock"),
        ("POST", "/_emulator/reset"),
        ("GET", "/_emulator/health"),
        ("GET", "/_emulator/export"),
        ("DELETE", "/_emulator/requests"),
        ("GET", "/_emulator/unknown"),
    ],
)
def test_control_plane_disabled_is_404_everywhere(disabled, method, path):
    with disabled.client(token=None) as client:
        assert_error(client.request(method, path), 404, "Not found.")


def test_control_plane_disabled_leaves_the_api_and_ignores_the_outcome_header(disabled):
    with disabled.client() as ada:
        run = create_run(ada, outcome="Maybe")
        assert run["id"] in [r["id"] for r in ok(ada.get(RUNS))]
        paths = ok(ada.get("/openapi.json"))["paths"]
        assert [p for p in paths if p.startswith("/_emulator")] == []


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("wrong", "Invalid token."),
        (ADA_TOKEN, "Invalid token."),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_emulator/clock", None),
        ("POST", "/_emulator/clock", {"freeze": "not even valid"}),
        ("POST", "/_emulator/reset", None),
        ("GET", "/_emulator/export", None),
        ("GET", "/_emulator/requests", None),
        ("GET", "/_emulator/unknown", None),
        ("GET", "/metrics", None),
    ],
)
def test_admin_token_is_required_on_the_control_plane(guarded, token, detail, method, path, body):
    with guarded.client(token=token) as client:
        response = client.request(method, path, json=body)
    assert_error(response, 401, detail)
    assert response.headers["WWW-Authenticate"] == "Token"


def test_admin_token_opens_the_control_plane(guarded):
    with guarded.client(token=ADMIN_TOKEN) as admin:
        assert ok(admin.get("/_emulator/health")) == {
            "status": "ok",
            "database": "ok",
            "worker": "ok",
        }
        assert ok(admin.get("/_emulator/clock"))["frozen"] is False


def test_health_needs_no_admin_token(guarded):
    # A health probe (the image's HEALTHCHECK) carries no secret; the answer reveals nothing.
    with guarded.client(token=None) as anonymous:
        assert ok(anonymous.get("/_emulator/health"))["status"] == "ok"


def test_metrics_answer_with_the_admin_token(guarded):
    with guarded.client(token=ADMIN_TOKEN) as admin:
        response = admin.get("/metrics")
    assert response.status_code == 200
    assert "lse_runs" in response.text


def test_admin_token_is_split_on_ascii_whitespace_only(guarded):
    with guarded.client(token=None) as client:
        response = client.get(
            "/_emulator/clock", headers={"Authorization": b"Token\xa0" + ADMIN_TOKEN.encode()}
        )
    assert_error(response, 401, "Authentication credentials were not provided.")


OUTCOME_NEEDS_ADMIN = (
    "X-Emulator-Outcome needs the control plane's admin token: send it as X-Emulator-Admin-Token."
)


@pytest.mark.parametrize("given", [None, "wrong", ADA_TOKEN], ids=["none", "wrong", "user-token"])
def test_forced_outcome_needs_the_admin_token_when_one_is_in_force(guarded, given):
    headers = {"X-Emulator-Outcome": "Failed"}
    if given:
        headers["X-Emulator-Admin-Token"] = given
    with guarded.client() as ada:
        before = len(ok(ada.get(RUNS)))
        response = ada.post(RUNS, json={"project": 1}, headers=headers)
        assert_error(response, 403, OUTCOME_NEEDS_ADMIN)
        assert len(ok(ada.get(RUNS))) == before


def test_forced_outcome_with_the_admin_token_is_applied(guarded):
    headers = {"X-Emulator-Outcome": "Stuck", "X-Emulator-Admin-Token": ADMIN_TOKEN}
    with guarded.client() as ada, guarded.client(token=ADMIN_TOKEN) as admin:
        run = ok(ada.post(RUNS, json={"project": 1}, headers=headers), 201)
        rows = ok(admin.get("/_emulator/export"))["tables"]["model_run"]
        assert next(r for r in rows if r["id"] == run["id"])["outcome"] == "Stuck"


def test_admin_token_leaves_the_api_paths_as_they_were(guarded):
    with guarded.client() as ada, guarded.client(token=ADMIN_TOKEN) as admin:
        ok(admin.post("/_emulator/reset"))
        run = create_run(ada)
        assert [r["id"] for r in ok(ada.get(RUNS))] == [run["id"]]
        assert_error(admin.get(RUNS), 401, "Invalid token.")
        assert journal(admin) == [
            entry("GET", RUNS, 401),
            entry("GET", RUNS, 200, 1),
            entry("POST", RUNS, 201, 1, run["id"]),
        ]


def test_health_is_503_naming_the_database_when_it_is_unreachable(start_emulator):
    with postgres_database() as url:
        emulator = start_emulator(database_url=url)
        with emulator.client(token=None) as client:
            assert ok(client.get("/_emulator/health")) == {
                "status": "ok", "database": "ok", "worker": "ok"
            }  # fmt: skip
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            response = client.get("/_emulator/health")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["database"]) == ("error", "unreachable")


@pytest.mark.process
def test_server_on_a_network_address_closes_its_control_plane_with_a_printed_token(tmp_path):
    """Bound to 0.0.0.0 without an admin token, as the image runs: one token is generated,
    printed, and required by every worker process."""
    ready, log = tmp_path / "ready", tmp_path / "server.log"
    env = {**os.environ, "LSE_EMULATOR_HOST": "0.0.0.0", "LSE_EMULATOR_DATA_DIR": str(tmp_path)}
    env.pop("LSE_EMULATOR_ADMIN_TOKEN", None)
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["lse-emulator", "serve", "--port", "0", "--workers", "2", "--ready-file", str(ready)],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        port = ready.read_text().strip().rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        printed = re.search(r"^Control plane admin token: (\S+)$", log.read_text(), re.M)
        assert printed is not None, log.read_text()
        token = printed.group(1)
        admin = {"Authorization": f"Token {token}"}
        before = httpx.get(url + "/_emulator/export", headers=admin, verify=TLS).json()
        refused = [
            ("GET", "/_emulator/export", None),
            ("POST", "/_emulator/seed", {"organizations": [{"id": 9, "title": "Intruder"}]}),
            ("POST", "/_emulator/reset", None),
            ("GET", "/_emulator/requests", None),
            ("GET", "/metrics", None),
        ]
        for method, path, body in refused:
            response = httpx.request(method, url + path, json=body, verify=TLS)
            assert_error(response, 401, "Authentication credentials were not provided.")
        # Fresh connections land on either worker: each one requires the same token.
        for _ in range(10):
            with httpx.Client(base_url=url, headers=admin, verify=TLS) as client:
                assert ok(client.get("/_emulator/export")) == before
        assert ok(httpx.get(url + "/_emulator/health", verify=TLS))["status"] == "ok"
        assert token not in (tmp_path / "server.log").read_text().split(token, 1)[1]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_reset_after_importing_a_changed_seed_with_its_secrets_gives_the_boot_state(guarded):
    # With the admin token the export carries the secrets, so the imported document equals the
    # stored rows: the seed data it carries is still changed, and a reset must reload it.
    extra = {"id": 4, "title": "Extra", "organization": 1, "tasks": 3, "ground_truth": 0}
    with guarded.client(token=ADMIN_TOKEN) as admin:
        ok(admin.post("/_emulator/reset"))
        boot = ok(admin.get("/_emulator/export"))
        ok(admin.post("/_emulator/seed", json={"projects": [extra]}))
        ok(admin.post("/_emulator/import", json=ok(admin.get("/_emulator/export"))))
        ok(admin.post("/_emulator/reset"))
        assert ok(admin.get("/_emulator/export")) == boot


def test_event_stream_takes_a_ticket_signed_with_the_admin_token(guarded):
    with guarded.client(token=ADMIN_TOKEN) as admin, guarded.client(token=None) as anonymous:
        assert_error(
            anonymous.post("/_emulator/events/ticket"),
            401,
            "Authentication credentials were not provided.",
        )
        ticket = ok(admin.post("/_emulator/events/ticket"))["ticket"]
        for bad in ("", "123.abc", ticket[:-1] + ("0" if ticket[-1] != "0" else "1")):
            response = anonymous.get("/_emulator/events", params={"ticket": bad})
            assert_error(response, 401, "Authentication credentials were not provided.")
        with anonymous.stream("GET", "/_emulator/events", params={"ticket": ticket}) as stream:
            assert stream.status_code == 200
            assert next(line for line in stream.iter_lines() if line) == "retry: 2000"
        # The console's assets carry no secret: the page loads them before asking for the token.
        assert anonymous.get("/_emulator/console/console.js").status_code == 200
        assert anonymous.get("/").status_code == 200


@pytest.mark.parametrize(
    ("database", "alive", "last_error", "status_code", "body"),
    [
        ("ok", True, None, 200, {"status": "ok", "database": "ok", "worker": "ok"}),
        ("ok", False, None, 503, {"status": "error", "database": "ok", "worker": "stopped"}),
        ("ok", True, "disk full", 503,
         {"status": "error", "database": "ok", "worker": "failing: disk full"}),
        ("unreachable", True, None, 503,
         {"status": "error", "database": "unreachable", "worker": "ok"}),
    ],
)  # fmt: skip
def test_health_names_what_is_wrong_and_answers_503_for_it(
    tmp_path, database, alive, last_error, status_code, body
):
    # An SQLite file in a directory that does not exist cannot be opened.
    place = tmp_path if database == "ok" else tmp_path / "missing"
    engine = create_engine(f"sqlite:///{place / 'health.sqlite3'}")
    worker = SimpleNamespace(alive=alive, last_error=last_error)
    response = health(engine, worker)
    engine.dispose()
    assert response.status_code == status_code
    assert json.loads(response.body) == body


def test_a_client_that_leaves_mid_body_is_journaled_as_499(control, emulator):
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(
            f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {ADA_TOKEN}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"project"'.encode()
        )
    # The server sees the connection close while it waits for the rest of the body.
    deadline = time.monotonic() + 10
    while not (entries := journal(control)):
        assert time.monotonic() < deadline, "the request was never journaled"
        time.sleep(0.01)
    assert entries == [entry("POST", RUNS, 499, 1)]


@pytest.mark.parametrize(
    ("method", "path", "body", "status_code", "detail", "errors"),
    [
        ("POST", "/_emulator/clock", b"{", 400,
         "JSON parse error - Expecting property name enclosed in double quotes", None),
        ("POST", "/_emulator/clock", b'{"advance_seconds": NaN}', 400,
         "JSON parse error - Out of range float values are not JSON compliant: 'NaN'", None),
        ("PUT", "/_emulator/policy", b"[1]", 400, "Validation error",
         {"non_field_errors": ["Input should be a valid dictionary or object to extract fields "
                               "from"]}),
        ("GET", "/_emulator/runs/1/wait?timeout=301", b"", 400, "Validation error",
         {"timeout": ["Input should be less than or equal to 300"]}),
        ("GET", "/_emulator/requests?status=x", b"", 400, "Validation error",
         {"status": ["Enter a number."]}),
        ("GET", "/_emulator/runs/abc/history", b"", 404, "Not found.", None),
    ],
)  # fmt: skip
def test_a_refused_control_request_is_answered_in_the_envelope(
    emulator, method, path, body, status_code, detail, errors
):
    headers = {"Content-Type": "application/json"}
    response = httpx.request(method, emulator.url + path, content=body, headers=headers, verify=TLS)
    assert_error(response, status_code, detail, errors)
