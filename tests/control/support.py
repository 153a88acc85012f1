"""Small steps the control-plane tests share: the clock, the policy, runs and errors."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

RUNS = "/api/prompts/1/versions/1/inference-runs"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
# Predictable timing: 5 s in Pending, then one batch of 10 tasks per second.
SLOW = {"queue_delay_seconds": 5, "tasks_per_second": 10, "batch_size": 10}
ADA = {
    "id": 1,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.test",
    "username": "ada",
    "avatar": None,
}


def at(seconds: float = 0) -> str:
    """The instant ``seconds`` after T0 as the API renders it."""
    text = (T0 + timedelta(seconds=seconds)).isoformat()
    return text.removesuffix("+00:00") + "Z"


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def freeze_at_t0(control: httpx.Client) -> None:
    """Freeze the clock and put it at T0."""
    ok(control.post("/_emulator/clock", json={"freeze": True}))
    assert ok(control.post("/_emulator/clock", json={"set": at(0)})) == {
        "now": at(0),
        "frozen": True,
        "runs": [],
    }


def advance(control: httpx.Client, seconds: float) -> dict[str, Any]:
    return ok(control.post("/_emulator/clock", json={"advance_seconds": seconds}))


def set_policy(control: httpx.Client, **fields: Any) -> dict[str, Any]:
    return ok(control.put("/_emulator/policy", json=fields))


def create_run(
    client: httpx.Client, outcome: str | None = None, path: str = RUNS, **body: Any
) -> dict[str, Any]:
    """Create a run (project 1, HasGT unless given), optionally forcing its outcome."""
    headers = {"X-Emulator-Outcome": outcome} if outcome else {}
    return ok(client.post(path, json={"project": 1, **body}, headers=headers), 201)


def get_run(client: httpx.Client, run_id: int, path: str = RUNS) -> dict[str, Any]:
    """A run as the list endpoint shows it."""
    (run,) = [r for r in ok(client.get(path)) if r["id"] == run_id]
    return run


def pending_run(run_id: int, created: str, **changes: Any) -> dict[str, Any]:
    """The whole ModelRun body of a fresh HasGT run of prompt 1 / version 1 on project 1."""
    return {
        "id": run_id,
        "created_by": ADA,
        "project": 1,
        "model_version": 1,
        "parent_model": 1,
        "organization": 1,
        "project_subset": "HasGT",
        "sample_subset_size": None,
        "filters_json": None,
        "task_ids": None,
        "source_model_run": None,
        "job_id": None,
        "status": "Pending",
        "total_tasks": 0,
        "total_predictions": 0,
        "total_correct_predictions": 0,
        "created_at": created,
        "triggered_at": None,
        "predictions_updated_at": None,
        "completed_at": None,
    } | changes


def history(control: httpx.Client, run_id: int) -> dict[str, Any]:
    return ok(control.get(f"/_emulator/runs/{run_id}/history"))


def event(frm: str | None, to: str, when: str, cause: str, reason: str = "") -> dict[str, Any]:
    return {"from": frm, "to": to, "at": when, "cause": cause, "reason": reason}


def assert_error(
    response: httpx.Response,
    status_code: int,
    detail: str,
    validation_errors: dict[str, list[str]] | None = None,
) -> None:
    """A whole error response in Label Studio's envelope."""
    assert response.status_code == status_code, response.text
    body = response.json()
    assert uuid.UUID(body["id"]).version == 4
    expected = {
        "id": body["id"],
        "status_code": status_code,
        "version": "1.23.2",
        "detail": detail,
        "exc_info": None,
    }
    if validation_errors is not None:
        expected["validation_errors"] = validation_errors
    assert body == expected


def assert_invalid(response: httpx.Response, validation_errors: dict[str, list[str]]) -> None:
    assert_error(response, 400, "Validation error", validation_errors)


def export(control: httpx.Client) -> dict[str, Any]:
    """The whole state as the control plane exports it."""
    return ok(control.get("/_emulator/export"))
