"""The public schemas of the Label Studio API, as its definition names and bounds them.

They document /openapi.json; bodies are validated with DRF's rules (app.validation) and
responses are rendered by the functions at the end of this module.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from app.models import ModelRun as ModelRunRow
from app.models import ProjectSubset, RunStatus, User

INT32 = {"ge": -2147483648, "le": 2147483647}
FILTERS = "DM filter group for Filtered subset. Stored for display/re-run purposes."
JOB_ID = "Job ID for inference job for a ModelRun e.g. Adala job ID"
SAMPLE = "Custom sample size for Sample subset. Uses PROMPTER_SAMPLE_SUBSET_SIZE if not set."
RO = {"readOnly": True}

# The definition's names for the two enums: clients generated from it name their types so.
ProjectSubsetEnum = StrEnum("ProjectSubsetEnum", {s.name: s.value for s in ProjectSubset})
ModelRunStatusEnum = StrEnum("ModelRunStatusEnum", {s.name: s.value for s in RunStatus})


class UserSimple(BaseModel):
    avatar: str | None = Field(json_schema_extra=RO)
    email: str = Field(
        default="", max_length=254, title="Email address", json_schema_extra={"format": "email"}
    )
    first_name: str = Field(default="", max_length=256)
    id: int = Field(json_schema_extra=RO)
    last_name: str = Field(default="", max_length=256)
    username: str = Field(max_length=256)


class ModelRunRequestRequest(BaseModel):
    """OpenAPI-only request shape; ``model_version`` comes from the URL path."""

    filters_json: Any | None = Field(default=None, description=FILTERS)
    job_id: str | None = Field(default=None, max_length=255, description=JOB_ID)
    only_missing_predictions: bool = Field(
        default=False,
        description="When true, only tasks without successful predictions for this prompt "
        "version are submitted for inference.",
        json_schema_extra={"writeOnly": True},
    )
    organization: int | None = None
    predictions_updated_at: datetime | None = None
    project: int
    project_subset: ProjectSubsetEnum = ProjectSubsetEnum.HAS_GT
    sample_subset_size: int | None = Field(default=None, ge=0, le=2147483647, description=SAMPLE)
    total_correct_predictions: int | None = Field(default=None, **INT32)
    total_predictions: int | None = Field(default=None, **INT32)
    total_tasks: int | None = Field(default=None, **INT32)


class ModelRun(BaseModel):
    completed_at: datetime | None = Field(json_schema_extra=RO)
    created_at: datetime = Field(json_schema_extra=RO)
    created_by: UserSimple = Field(json_schema_extra=RO)
    filters_json: Any | None = Field(default=None, description=FILTERS)
    id: int = Field(json_schema_extra=RO)
    job_id: str | None = Field(default=None, max_length=255, description=JOB_ID)
    model_version: int
    organization: int | None = None
    parent_model: int = Field(json_schema_extra=RO)
    predictions_updated_at: datetime | None = None
    project: int
    project_subset: ProjectSubsetEnum = ProjectSubsetEnum.HAS_GT
    sample_subset_size: int | None = Field(default=None, ge=0, le=2147483647, description=SAMPLE)
    source_model_run: int | None = Field(json_schema_extra=RO)
    status: ModelRunStatusEnum = Field(json_schema_extra=RO)
    task_ids: Any | None = Field(
        description="List of task IDs for Custom subset re-evaluation.", json_schema_extra=RO
    )
    total_correct_predictions: int | None = Field(default=None, **INT32)
    total_predictions: int | None = Field(default=None, **INT32)
    total_tasks: int | None = Field(default=None, **INT32)
    triggered_at: datetime | None = Field(json_schema_extra=RO)


class CancelModelRunResponse(BaseModel):
    detail: str


class ProjectSubsetItem(BaseModel):
    columns_schema: list[dict[str, Any]] = []
    count: int
    subset: str


class PredictionCountResponse(BaseModel):
    existing_predictions: int
    tasks_to_run: int
    total_tasks: int


class LSEAPITokenCreate(BaseModel):
    created_at: str = Field(json_schema_extra=RO)
    expires_at: str = Field(json_schema_extra=RO)
    token: str = Field(json_schema_extra=RO)


class LSEAPITokenList(LSEAPITokenCreate):
    pass


class TokenRefreshRequest(BaseModel):
    refresh: str = Field(min_length=1, json_schema_extra={"writeOnly": True})


class TokenRefreshResponse(BaseModel):
    access: str


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


def model_run(run: ModelRunRow, creator: dict[str, Any]) -> dict[str, Any]:
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
