"""Label Studio's JSON for each object, used by the Label Studio API and the control plane alike."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.models import FewShotExample, ModelRun, Prompt, PromptVersion, RunEvent, User


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


# --- prompts workspace: prompts, versions, few-shot examples, compatible projects ---


def creators(session: Session, user_ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The users of these ids as UserSimple, loaded in one query."""
    ids = {pk for pk in user_ids if pk is not None}
    return {u.id: user_simple(u) for u in session.exec(select(User).where(col(User.id).in_(ids)))}


def model_interface(
    prompt: Prompt, creator: dict[str, Any] | None, project_ids: list[int]
) -> dict[str, Any]:
    """A prompt as Label Studio answers a create or update (ModelInterface)."""
    return {
        "id": prompt.id,
        "created_by": creator,
        "title": prompt.title,
        "description": prompt.description,
        "created_at": iso(prompt.created_at),
        "updated_at": iso(prompt.updated_at),
        "organization": prompt.organization_id,
        "input_fields": prompt.input_fields,
        "output_classes": prompt.output_classes,
        "skill_name": prompt.skill_name,
        "associated_projects": project_ids,
    }


def model_interface_get(
    prompt: Prompt,
    creator: dict[str, Any] | None,
    projects: list[dict[str, Any]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """A prompt as Label Studio lists and retrieves it (ModelInterfaceSerializerGET)."""
    body = model_interface(prompt, creator, [])
    body["associated_projects"] = projects
    return body | stats


def model_version(
    version: PromptVersion, creator: dict[str, Any] | None, score: float | None
) -> dict[str, Any]:
    """A prompt version (ThirdPartyModelVersion); accuracy and failure_rate are the emulator's
    and never shown."""
    return {
        "id": version.id,
        "created_by": creator,
        "title": version.title,
        "parent_model": version.prompt_id,
        "prompt": version.prompt,
        "provider": version.provider,
        "provider_model_id": version.provider_model_id,
        "model_display_name": version.provider_model_id,
        "max_few_shot_examples": version.max_few_shot_examples,
        "model_provider_connection": version.model_provider_connection_id,
        "organization": version.organization_id,
        "score": score,
        "created_at": iso(version.created_at),
        "updated_at": iso(version.updated_at),
    }


def few_shot_example(
    example: FewShotExample, task_data: dict[str, Any], annotation_result: Any
) -> dict[str, Any]:
    return {
        "id": example.id,
        "task": example.task_id,
        "annotation": example.annotation_id,
        "order": example.order,
        "task_data": task_data,
        "annotation_result": annotation_result,
        "created_at": iso(example.created_at),
    }


def compatible_project(project: Any, counts: dict[str, int], created_at: str) -> dict[str, Any]:
    """A project as the compatible-projects list shows it (AllRolesProjectList): its id, title
    and counts; the settings the emulator does not model at Label Studio's defaults."""
    return {
        "id": project.id,
        "title": project.title,
        "description": getattr(project, "description", "") or "",
        "description_short": (getattr(project, "description", "") or "")[:100],
        "label_config": getattr(project, "label_config", None),
        "organization": project.organization_id,
        "created_at": created_at,
        "task_number": counts["tasks"],
        "ground_truth_number": counts["ground_truth"],
        "total_annotations_number": counts["ground_truth"],
        "num_tasks_with_annotations": counts["ground_truth"],
        "useful_annotation_number": counts["ground_truth"],
        "total_predictions_number": counts["predictions"],
        "finished_task_number": counts["ground_truth"],
        "skipped_annotations_number": 0,
        "queue_total": counts["tasks"],
        "queue_done": counts["ground_truth"],
        "queue_left": counts["tasks"] - counts["ground_truth"],
        "rejected": 0,
        "reviewed_number": 0,
        "review_total_tasks": 0,
        "reviewer_queue_total": 0,
        "members": [],
        "members_count": 0,
        "blueprints": [],
        "prompts": None,
        "allow_stream": True,
        "ready": True,
        "state": "CREATED",
        "config_has_control_tags": True,
        "config_suitable_for_bulk_annotation": False,
        "is_dimensions_enabled": False,
        "start_training_on_annotation_update": False,
        "data_types": {},
        "parsed_label_config": {},
        "internal_description": None,
        "internal_description_short": None,
        "assignment_settings": {"id": project.id, "project": project.id},
        "review_settings": {
            "id": project.id,
            "project": project.id,
            "requeue_rejected_tasks_to_annotator": False,
        },
        "workspace": project.organization_id,
        "workspace_title": None,
    }
