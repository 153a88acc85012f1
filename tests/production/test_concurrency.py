"""Thirty-two clients at once on SQLite: creating, listing and cancelling runs while the
lifecycle worker predicts. Write transactions take SQLite's lock up front (BEGIN IMMEDIATE), so
none fails with "database is locked" and every answer is one the API documents."""

import random
import re
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from conftest import ADA_TOKEN

from .support import (
    FINAL,
    RUNS,
    assert_run_stored,
    history,
    poll,
    query,
    runs_by_id,
    stored_counts,
    tasks_in_two_tables,
    wait_final,
)

THREADS = 32
ITERATIONS = 3
# Runs of 20 to 300 tasks that last a fraction of a second: cancels meet every status.
BUSY = {"queue_delay_seconds": 0.2, "tasks_per_second": 600, "batch_size": 25}
BODIES = [
    {"project": 1, "project_subset": "All"},
    {"project": 1, "project_subset": "HasGT"},
    {"project": 1, "project_subset": "Sample", "sample_subset_size": 20},
    {"project": 2, "project_subset": "All", "only_missing_predictions": True},
    {
        "project": 1,
        "project_subset": "Custom",
        "filters_json": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:id",
                    "operator": "in",
                    "type": "Number",
                    "value": {"min": 1, "max": 150},
                }
            ],
        },
    },
]
FINISHED = re.compile(
    r"Inference run (\d+) is already (Completed|Failed); "
    r"only Pending or InProgress runs can be canceled\."
)


class Outcomes:
    """What the clients saw, collected from every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.created: list[int] = []
        self.canceled: set[int] = set()
        self.finished_when_canceled: set[int] = set()
        self.unexpected: list[str] = []

    def note(self, response: httpx.Response, expected: int) -> bool:
        if response.status_code == expected:
            return True
        with self.lock:
            self.unexpected.append(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text}"
            )
        return False


def client_session(client: httpx.Client, seed: int, outcomes: Outcomes) -> None:
    """One client: each iteration creates a run, lists the runs and cancels one of its own."""
    rng = random.Random(seed)
    mine: list[int] = []
    for _ in range(ITERATIONS):
        response = client.post(RUNS, json=rng.choice(BODIES))
        if outcomes.note(response, 201):
            mine.append(response.json()["id"])
            with outcomes.lock:
                outcomes.created.append(mine[-1])
        outcomes.note(client.get(RUNS, params={"ordering": rng.choice(["id", "-status"])}), 200)
        if not mine or rng.random() < 0.3:
            continue
        run_id = rng.choice(mine)
        response = client.post(f"{RUNS}/{run_id}/cancel")
        if response.status_code == 200:
            assert response.json() == {"detail": "Inference run canceled."}
            with outcomes.lock:
                outcomes.canceled.add(run_id)
        elif response.status_code == 400 and FINISHED.fullmatch(response.json()["detail"]):
            with outcomes.lock:
                outcomes.finished_when_canceled.add(run_id)
        else:
            outcomes.note(response, 200)


def test_thirty_two_clients_at_once_on_sqlite(start_emulator) -> None:
    emulator = start_emulator(**BUSY)
    database_url = f"sqlite:///{emulator.data_dir / 'lse-emulator.sqlite3'}"
    outcomes = Outcomes()
    with emulator.client() as client:
        client.timeout = httpx.Timeout(60)
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            sessions = [
                pool.submit(client_session, client, seed, outcomes) for seed in range(THREADS)
            ]
            for session in sessions:
                session.result()
        assert outcomes.unexpected == []
        assert len(outcomes.created) == THREADS * ITERATIONS

        def all_final() -> dict[int, dict[str, Any]]:
            runs = runs_by_id(client)
            return runs if all(run["status"] in FINAL for run in runs.values()) else {}

        runs = poll(all_final, 60, "every run to finish", interval=0.2)
        listed = Counter(run["id"] for run in client.get(RUNS).json())
        canceled_events = {run_id: history(client, run_id) for run_id in outcomes.canceled}

    assert listed == Counter(outcomes.created)  # each created run listed exactly once
    stored = stored_counts(database_url)
    for run_id in outcomes.created:
        run = runs[run_id]
        if run_id in outcomes.canceled:
            assert run["status"] == "Canceled", run
            assert canceled_events[run_id][-1]["to"] == "Canceled"
            assert canceled_events[run_id][-1]["cause"] == "cancel"
        if run_id in outcomes.finished_when_canceled:
            assert run["status"] in ("Completed", "Failed"), run
        if run["status"] == "Completed":
            assert_run_stored(run, stored, total_tasks=run["total_tasks"])
        else:
            rows = stored.get(run_id, {})
            assert rows.get("prediction", 0) == run["total_predictions"], (run, rows)
            assert rows.get("prediction_duplicates", 0) == 0
            assert (
                rows.get("prediction", 0) + rows.get("failed_prediction", 0) <= run["total_tasks"]
            )
    late = query(
        database_url,
        "SELECT COUNT(*) FROM prediction p JOIN model_run r ON r.id = p.run_id"
        " WHERE r.status = 'Canceled' AND p.created_at > r.completed_at",
    )
    assert late == [(0,)], "a canceled run was predicted after it was canceled"
    assert tasks_in_two_tables(database_url) == 0

    log = emulator.log.read_text()
    assert "database is locked" not in log.lower()
    assert "Traceback" not in log
    assert not re.search(r" status=5\d\d ", log)


def test_a_slow_upload_does_not_hold_up_other_writers(start_emulator) -> None:
    """A client that sends its body slowly holds no write lock: other clients create runs and
    the worker finishes them meanwhile."""
    emulator = start_emulator()
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    body = b'{"project": 1, "project_subset": "Sample", "sample_subset_size": 5}'
    head = (
        f"POST {RUNS} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {ADA_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as slow, emulator.client() as client:
        slow.sendall(head.encode() + body[:10])  # authenticated; the body is still coming
        client.timeout = httpx.Timeout(15)
        meanwhile = client.post(RUNS, json={"project": 1}).json()
        assert wait_final(client, meanwhile["id"])["status"] == "Completed"

        slow.sendall(body[10:])
        answer = slow.makefile("rb").readline()
        assert answer.startswith(b"HTTP/1.1 201 "), answer
