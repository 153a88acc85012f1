"""Label Studio's JSON for each object, used by the Label Studio API and the control plane alike."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.models import ModelRun, RunEvent, User


def iso(value: datetime | None) -> str | None:
    """DRF's rendering of a UTC datetime: ISO 8601 with a trailing Z."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_simple(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "username": user.username,
        "avatar": None,
    }


def model_run(run: Any, creator: dict[str, Any]) -> dict[str, Any]:
    """A run as the API shows it (``only_missing_predictions`` is write-only: never shown)."""
    return {
        "id": run.id,
        "created_by": creator,
        "project": run.project_id,
        "model_version": run.version_id,
        "parent_model": run.prompt_id,
        "organization": run.organization_id,
        "project_subset": run.project_subset,
        "sample_subset_size": run.sample_subset_size,
        "filters_json": run.filters_json,
        "task_ids": run.task_ids,
        "source_model_run": run.source_model_run_id,
        "job_id": run.job_id,
        "status": run.status,
        "total_tasks": run.total_tasks,
        "total_predictions": run.total_predictions,
        "total_correct_predictions": run.total_correct_predictions,
        "created_at": iso(run.created_at),
        "triggered_at": iso(run.triggered_at),
        "predictions_updated_at": iso(run.predictions_updated_at),
        "completed_at": iso(run.completed_at),
    }


def model_runs(session: Session, runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Runs (ORM objects or rows of the table) as the API shows them, with their creators
    loaded in one query."""
    ids = {run.created_by_id for run in runs}
    users = {u.id: user_simple(u) for u in session.exec(select(User).where(col(User.id).in_(ids)))}
    return [model_run(run, users[run.created_by_id]) for run in runs]


def run_history(session: Session, run: ModelRun) -> dict[str, Any]:
    """Every status change of a run, oldest first (the control plane's history)."""
    events = session.exec(
        select(RunEvent).where(RunEvent.run_id == run.id).order_by(col(RunEvent.id))
    )
    return {
        "run": run.id,
        "status": run.status,
        "events": [
            {
                "from": e.from_status,
                "to": e.to_status,
                "at": iso(e.at),
                "cause": e.cause,
                "reason": e.reason,
            }  # fmt: skip
            for e in events
        ],
    }
