"""Read-only views of the whole workspace for the console: every organization's objects at once
(the control plane sees them all), without a secret (legacy keys and provider keys are never
shown), and runs with the emulator's own counts."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, case, func
from sqlmodel import Session, SQLModel, col, select

from app.db import get_by_id
from app.errors import ValidationFailed
from app.lifecycle.clock import Clock
from app.lifecycle.runs import create_run
from app.models import (
    FailedPrediction,
    ModelProviderConnection,
    ModelRun,
    Organization,
    Prediction,
    Project,
    Prompt,
    PromptProject,
    PromptVersion,
    RunTask,
    Task,
    User,
    table_of,
)
from app.render import iso, model_runs

# Column names that may hold a secret: never shown, whatever table they belong to.
SECRET_WORDS = ("key", "secret", "token", "password", "credential", "auth")


def mask(token: str) -> str:
    """Enough of a token to tell two apart, not enough to use one."""
    return f"…{token[-4:]}" if len(token) > 12 else "…"


def public_columns(row: SQLModel) -> dict[str, Any]:
    """Every column of a row but those whose name says it may hold a secret."""
    table: Table = table_of(type(row))
    shown = {}
    for column in table.columns:
        if any(word in column.name.lower() for word in SECRET_WORDS):
            continue
        value = getattr(row, column.name, None)
        shown[column.name] = iso(value) if hasattr(value, "isoformat") else value
    return shown


def workspace(session: Session) -> dict[str, Any]:
    """Organizations with their users, projects with task counts, prompts with versions, and
    provider connections once the emulator has them."""
    users: dict[int, list[dict[str, Any]]] = {}
    for user in session.exec(select(User).order_by(col(User.id))):
        users.setdefault(user.organization_id, []).append(
            {
                "id": user.id,
                "email": user.email,
                "username": user.username,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "token_hint": mask(user.token),
            }
        )
    organizations = [
        {
            "id": org.id,
            "title": org.title,
            "legacy_api_tokens_enabled": org.legacy_api_tokens_enabled,
            "users": users.get(org.id, []),
        }
        for org in session.exec(select(Organization).order_by(col(Organization.id)))
    ]
    counts = {
        project_id: (total, truth or 0)
        for project_id, total, truth in session.exec(
            select(
                col(Task.project_id),
                func.count(),
                func.sum(case((col(Task.has_ground_truth), 1), else_=0)),
            ).group_by(col(Task.project_id))
        )
    }
    projects = [
        {
            "id": project.id,
            "title": project.title,
            "organization": project.organization_id,
            "tasks": counts.get(project.id, (0, 0))[0],
            "ground_truth": int(counts.get(project.id, (0, 0))[1]),
        }
        for project in session.exec(select(Project).order_by(col(Project.id)))
    ]
    associated: dict[int, list[int]] = {}
    for link in session.exec(select(PromptProject).order_by(col(PromptProject.project_id))):
        associated.setdefault(link.prompt_id, []).append(link.project_id)
    versions: dict[int, list[dict[str, Any]]] = {}
    for version in session.exec(select(PromptVersion).order_by(col(PromptVersion.id))):
        versions.setdefault(version.prompt_id, []).append(
            {
                "id": version.id,
                "title": version.title,
                "prompt": version.prompt,
                "provider": version.provider,
                "provider_model_id": version.provider_model_id,
                "accuracy": version.accuracy,
                "failure_rate": version.failure_rate,
            }
        )
    prompts = [
        {
            "id": prompt.id,
            "title": prompt.title,
            "organization": prompt.organization_id,
            "associated_projects": associated.get(prompt.id, []),
            "versions": versions.get(prompt.id, []),
        }
        for prompt in session.exec(select(Prompt).order_by(col(Prompt.id)))
    ]
    return {
        "organizations": organizations,
        "projects": projects,
        "prompts": prompts,
        "connections": connections(session),
    }


def connections(session: Session) -> list[dict[str, Any]]:
    """Provider connections without their keys."""
    rows = session.exec(select(ModelProviderConnection).order_by(col(ModelProviderConnection.id)))
    return [public_columns(row) for row in rows]


def console_runs(session: Session, runs: Sequence[ModelRun]) -> list[dict[str, Any]]:
    """Runs as the API shows them, with what the console adds: failed predictions, the forced
    outcome and how many predictions were judged against ground truth."""
    ids = [run.id for run in runs]
    judged = dict(
        session.exec(
            select(col(Prediction.run_id), func.count(col(Prediction.correct)))
            .where(col(Prediction.run_id).in_(ids))
            .group_by(col(Prediction.run_id))
        ).all()
    )
    return [
        shown
        | {
            "total_failed": run.total_failed,
            "outcome": run.outcome,
            "judged_predictions": judged.get(run.id or 0, 0),
        }
        for run, shown in zip(runs, model_runs(session, runs), strict=True)
    ]


def list_runs(
    session: Session,
    project: int | None = None,
    prompt: int | None = None,
    version: int | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Every organization's runs, newest first, filtered."""
    query = select(ModelRun)
    if project is not None:
        query = query.where(col(ModelRun.project_id) == project)
    if prompt is not None:
        query = query.where(col(ModelRun.prompt_id) == prompt)
    if version is not None:
        query = query.where(col(ModelRun.version_id) == version)
    if status:
        query = query.where(col(ModelRun.status).in_(status.split(",")))
    runs = session.exec(query.order_by(col(ModelRun.id).desc()).limit(limit)).all()
    return console_runs(session, runs)


def run_tasks(session: Session, run: ModelRun, limit: int = 200) -> dict[str, Any]:
    """The tasks of a run: predicted (correct or not), failed, still to predict, in task order,
    with the task's data and the prediction's result where the tables hold them."""
    states: dict[int, dict[str, Any]] = {}
    for prediction in session.exec(select(Prediction).where(Prediction.run_id == run.id)):
        states[prediction.task_id] = {
            "state": "predicted",
            "correct": prediction.correct,
            "result": prediction.result,
        }
    for failure in session.exec(select(FailedPrediction).where(FailedPrediction.run_id == run.id)):
        states[failure.task_id] = {
            "state": "failed",
            "correct": None,
            "error": f"{failure.error_type}: {failure.message}",
        }
    for pending in session.exec(select(RunTask).where(RunTask.run_id == run.id)):
        states.setdefault(pending.task_id, {"state": "pending", "correct": None})
    task_ids = sorted(states)[:limit]
    tasks = {task.id: task for task in session.exec(select(Task).where(col(Task.id).in_(task_ids)))}
    rows = []
    for task_id in task_ids:
        task = tasks.get(task_id)
        rows.append(
            {
                "id": task_id,
                "ground_truth": task.has_ground_truth if task else None,
                "data": task.data if task else None,
            }
            | states[task_id]
        )
    return {"run": run.id, "count": len(states), "tasks": rows}


def start_run(
    session: Session,
    clock: Clock,
    *,
    version: int,
    project: int,
    user: int | None,
    project_subset: str,
    sample_subset_size: int | None,
    outcome: str | None,
) -> ModelRun:
    """Start a run of a version over a project as one of the organization's users (its first
    user when none is named), through the same domain function as Label Studio's API. Every
    bad reference is reported at once, by field."""
    errors: dict[str, list[str]] = {}
    found_version = get_by_id(session, PromptVersion, version)
    prompt = get_by_id(session, Prompt, found_version.prompt_id) if found_version else None
    if found_version is None or prompt is None:
        errors["version"] = [f'Invalid pk "{version}" - object does not exist.']
    found_project = get_by_id(session, Project, project)
    if found_project is None:
        errors["project"] = [f'Invalid pk "{project}" - object does not exist.']
    elif prompt is not None and found_project.organization_id != prompt.organization_id:
        errors["project"] = ["The project belongs to another organization than the prompt."]
    creator: User | None = None
    if user is not None:
        creator = get_by_id(session, User, user)
        if creator is None:
            errors["user"] = [f'Invalid pk "{user}" - object does not exist.']
        elif prompt is not None and creator.organization_id != prompt.organization_id:
            errors["user"] = ["The user belongs to another organization than the prompt."]
    elif prompt is not None:
        creator = session.exec(
            select(User)
            .where(User.organization_id == prompt.organization_id)
            .order_by(col(User.id))
        ).first()
        if creator is None:
            errors["user"] = ["The prompt's organization has no user to start the run as."]
    if errors:
        raise ValidationFailed(errors)
    assert prompt is not None and found_version is not None and creator is not None
    values = {
        "project": project,
        "project_subset": project_subset,
        "sample_subset_size": sample_subset_size,
        "only_missing_predictions": False,
    }
    return create_run(session, creator, prompt, found_version, values, outcome, clock)
