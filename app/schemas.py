"""The public schemas of the Label Studio API, as its definition names and bounds them.

They document /openapi.json; bodies are validated with DRF's rules (app.validation) and
responses are rendered by app.render.
"""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from app.models import MAX_ID, MIN_INT, ProjectSubset, RunStatus


class Bounds(TypedDict):
    ge: int
    le: int


INT32: Bounds = {"ge": MIN_INT, "le": MAX_ID}
FILTERS = "DM filter group for Filtered subset. Stored for display/re-run purposes."
JOB_ID = "Job ID for inference job for a ModelRun e.g. Adala job ID"
SAMPLE = "Custom sample size for Sample subset. Uses PROMPTER_SAMPLE_SUBSET_SIZE if not set."
RO: JsonDict = {"readOnly": True}

# The definition's names for the two enums: clients generated from it name their types so.
if TYPE_CHECKING:  # mypy cannot read members built at run time; these have the same ones
    ProjectSubsetEnum = ProjectSubset
    ModelRunStatusEnum = RunStatus
else:
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
    sample_subset_size: int | None = Field(default=None, ge=0, le=MAX_ID, description=SAMPLE)
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
    sample_subset_size: int | None = Field(default=None, ge=0, le=MAX_ID, description=SAMPLE)
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


def request_body_schema(model: type) -> dict[str, Any]:
    """An OpenAPI requestBody: the model as JSON, form-encoded or multipart, as Label Studio takes."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    media = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
    return {"requestBody": {"required": True, "content": {m: {"schema": ref} for m in media}}}
