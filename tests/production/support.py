"""Helpers the production tests share: polling, the run endpoints and direct database reads."""

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import psycopg

RUNS = "/api/prompts/1/versions/2/inference-runs"  # "few-shot": 2% of predictions fail
FINAL = ("Completed", "Failed", "Canceled")
T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``check`` until it answers something truthy, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def runs_by_id(client: httpx.Client, path: str = RUNS) -> dict[int, dict[str, Any]]:
    return {run["id"]: run for run in ok(client.get(path))}


def wait_final(client: httpx.Client, run_id: int, timeout: float = 60) -> dict[str, Any]:
    """The run once it has reached a final status, waited for through the control plane."""
    deadline = time.monotonic() + timeout
    while True:
        run = ok(client.get(f"/_emulator/runs/{run_id}/wait", params={"timeout": 5}))
        if run["status"] in FINAL:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {timeout} s"


def history(client: httpx.Client, run_id: int) -> list[dict[str, Any]]:
    return ok(client.get(f"/_emulator/runs/{run_id}/history"))["events"]


def query(database_url: str, sql: str, *params: Any) -> list[tuple]:
    """Rows of a query run directly on the emulator's database (``?`` placeholders)."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        return connection.execute(sql.replace("?", "%s"), params).fetchall()


def stored_counts(database_url: str) -> dict[int, dict[str, int]]:
    """Per run: prediction rows, correct ones, failed-prediction rows, and the largest number of
    rows any one task has (1 unless a task was predicted twice)."""
    counts: dict[int, dict[str, int]] = {}
    for table in ("prediction", "failed_prediction"):
        rows = query(
            database_url,
            f"SELECT run_id, COUNT(*), COUNT(DISTINCT task_id) FROM {table} GROUP BY run_id",
        )
        for run_id, total, distinct in rows:
            entry = counts.setdefault(run_id, {"prediction": 0, "failed_prediction": 0})
            entry[table] = total
            entry[f"{table}_duplicates"] = total - distinct
    for run_id, correct in query(
        database_url, "SELECT run_id, COUNT(*) FROM prediction WHERE correct GROUP BY run_id"
    ):
        counts[run_id]["correct"] = correct
    return counts


def tasks_in_two_tables(database_url: str) -> int:
    """How many (run, task) pairs have both a prediction and a failed prediction (should be 0)."""
    ((count,),) = query(
        database_url,
        "SELECT COUNT(*) FROM prediction p JOIN failed_prediction f"
        " ON f.run_id = p.run_id AND f.task_id = p.task_id",
    )
    return count


def assert_run_stored(
    run: dict[str, Any], stored: dict[int, dict[str, int]], total_tasks: int
) -> None:
    """A finished run's totals agree with the rows stored for it (``stored_counts``), and no
    task of it was predicted twice."""
    rows = stored.get(run["id"], {})
    predictions, failures = rows.get("prediction", 0), rows.get("failed_prediction", 0)
    assert run["total_tasks"] == total_tasks, run
    assert predictions == run["total_predictions"], (run, rows)
    assert rows.get("correct", 0) == run["total_correct_predictions"], (run, rows)
    assert rows.get("prediction_duplicates", 0) == 0, rows
    assert rows.get("failed_prediction_duplicates", 0) == 0, rows
    assert predictions + failures == total_tasks, (run, rows)
