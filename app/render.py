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


# --- tasks workspace: tasks, annotations, predictions, imports ---


def annotation_json(annotation: Any) -> dict[str, Any]:
    """An annotation as a task's ``annotations`` list shows it."""
    return {
        "id": annotation.id,
        "result": annotation.result,
        "created_username": "",
        "created_ago": "",
        "completed_by": annotation.completed_by_id,
        "was_cancelled": annotation.was_cancelled,
        "ground_truth": annotation.ground_truth,
        "created_at": iso(annotation.created_at),
        "updated_at": iso(annotation.updated_at),
        "draft_created_at": None,
        "lead_time": annotation.lead_time,
        "import_id": annotation.import_id,
        "last_action": None,
        "bulk_created": False,
        "task": annotation.task_id,
        "project": annotation.project_id,
        "updated_by": annotation.completed_by_id,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


def prediction_json(prediction: Any) -> dict[str, Any]:
    """Label Studio's Prediction."""
    return {
        "id": prediction.id,
        "result": prediction.result,
        "model_version": prediction.model_version,
        "created_ago": "",
        "score": prediction.score,
        "cluster": prediction.cluster,
        "neighbors": prediction.neighbors,
        "mislabeling": prediction.mislabeling,
        "created_at": iso(prediction.created_at),
        "updated_at": iso(prediction.updated_at or prediction.created_at),
        "model": None,
        "model_run": prediction.run_id,
        "task": prediction.task_id,
        "project": prediction.project_id,
    }


def task_json(
    task: Any, annotations: Sequence[Any], predictions: Sequence[Any], nested: bool = True
) -> dict[str, Any]:
    """Label Studio's LseTask (the admin's view); ``nested`` includes the annotations and
    predictions themselves (fields=all), else only their counts."""
    done = [a for a in annotations if not a.was_cancelled]
    cancelled = len(annotations) - len(done)
    annotators = list(dict.fromkeys(a.completed_by_id for a in annotations if a.completed_by_id))
    lead_times = [a.lead_time for a in done if a.lead_time is not None]
    scores = [p.score for p in predictions if p.score is not None]
    completed = max((a.created_at for a in done if a.created_at), default=None)
    versions = list(dict.fromkeys(p.model_version for p in predictions if p.model_version))
    return {
        "id": task.id,
        "agreement": 100.0 if len(done) == 1 else 0.0,
        "agreement_selected": 0.0,
        "allow_skip": task.allow_skip,
        "annotation_time": None,
        "annotations": [annotation_json(a) for a in annotations] if nested else [],
        "annotations_ids": ", ".join(str(a.id) for a in annotations),
        "annotations_results": "",
        "annotators": [{"user_id": user_id} for user_id in annotators],
        "annotators_count": len(annotators),
        "avg_lead_time": sum(lead_times) / len(lead_times) if lead_times else 0.0,
        "cancelled_annotations": cancelled,
        "comment_authors": [],
        "comment_authors_count": 0,
        "comment_count": 0,
        "comments": "",
        "completed_at": iso(completed),
        "created_at": iso(task.created_at),
        "data": task.data,
        "draft_exists": False,
        "drafts": [],
        "file_upload": None,
        "ground_truth": task.has_ground_truth,
        "inner_id": task.inner_id,
        "is_labeled": bool(done),
        "last_comment_updated_at": None,
        "meta": task.meta,
        "overlap": 1,
        "precomputed_agreement": None,
        "predictions": [prediction_json(p) for p in predictions] if nested else [],
        "predictions_model_versions": ", ".join(versions),
        "predictions_results": "",
        "predictions_score": sum(scores) / len(scores) if scores else 0.0,
        "project": task.project_id,
        "review_time": None,
        "reviewed": False,
        "reviewers": [],
        "reviewers_count": 0,
        "reviews_accepted": 0,
        "reviews_rejected": 0,
        "state": "",
        "storage_filename": None,
        "total_annotations": len(done),
        "total_predictions": len(predictions),
        "unresolved_comment_count": 0,
        "updated_at": iso(task.updated_at or task.created_at),
        "updated_by": [],
    }


def project_import_json(record: Any) -> dict[str, Any]:
    """Label Studio's ProjectImport: the status of an import."""
    return {
        "id": record.id,
        "project": record.project_id,
        "preannotated_from_fields": record.preannotated_from_fields,
        "commit_to_project": record.commit_to_project,
        "return_task_ids": record.return_task_ids,
        "status": record.status,
        "url": None,
        "error": record.error,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "finished_at": iso(record.finished_at),
        "task_count": record.task_count,
        "annotation_count": record.annotation_count,
        "prediction_count": record.prediction_count,
        "duration": record.duration,
        "file_upload_ids": [],
        "could_be_tasks_list": False,
        "found_formats": [],
        "data_columns": [],
        "tasks": None,
        "task_ids": record.task_ids,
    }
