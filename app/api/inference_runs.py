"""Inference runs of a prompt version: create, list, cancel."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, select

from app.api.deps import (
    BodyDep,
    ClockDep,
    ordering_terms,
    own_project,
    prompt_version,
    request_body_schema,
)
from app.auth import CurrentUserDep
from app.control.outcome import requested_outcome
from app.db import SessionDep, get_by_id
from app.errors import APIError, ValidationFailed, not_found
from app.lifecycle import engine
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import FilterError, filter_condition
from app.models import MAX_ID, ModelRun, ProjectSubset, RunStatus, User
from app.schemas import CancelModelRunResponse, ModelRunRequestRequest, model_run, user_simple
from app.schemas import ModelRun as ModelRunSchema
from app.validation import (
    BooleanField,
    CharField,
    ChoiceField,
    DateTimeField,
    Field,
    IntegerField,
    JSONField,
    PrimaryKeyField,
    validate,
)

router = APIRouter(tags=["Prompts"])
RUNS = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"
SUBSETS = [s.value for s in ProjectSubset]
# The subsets a query parameter may name: Custom is only defined by a run's filters.
QUERY_SUBSETS = [s for s in SUBSETS if s != ProjectSubset.CUSTOM]
ORDERING = {
    "id": ModelRun.id,
    "created_at": ModelRun.created_at,
    "triggered_at": ModelRun.triggered_at,
    "completed_at": ModelRun.completed_at,
    "predictions_updated_at": ModelRun.predictions_updated_at,
    "status": ModelRun.status,
    "project": ModelRun.project_id,
    "total_tasks": ModelRun.total_tasks,
}


def run_fields(session: Session, user: User) -> dict[str, Field]:
    """The fields of ModelRunRequestRequest, with DRF's rules; related ids resolve in the org."""
    return {
        "project": PrimaryKeyField(required=True, resolve=own_project(session, user)),
        "project_subset": ChoiceField(choices=SUBSETS, default=ProjectSubset.HAS_GT.value),
        "sample_subset_size": IntegerField(min_value=0, allow_null=True),
        "filters_json": JSONField(allow_null=True),
        "job_id": CharField(max_length=255, allow_blank=True, allow_null=True),
        "only_missing_predictions": BooleanField(default=False),
        "organization": PrimaryKeyField(
            allow_null=True, resolve=lambda pk: pk == user.organization_id
        ),
        "predictions_updated_at": DateTimeField(allow_null=True),
        "total_tasks": IntegerField(allow_null=True),
        "total_predictions": IntegerField(allow_null=True),
        "total_correct_predictions": IntegerField(allow_null=True),
    }


TOTALS = ("total_tasks", "total_predictions", "total_correct_predictions")


def check_totals(values: dict[str, Any]) -> None:
    """Totals sent on create must already hold 0 <= correct <= predictions <= tasks (null or
    missing counts as 0), so that no run is ever listed with impossible counts; the run's start
    replaces them anyway."""
    sent = {name: values.get(name) or 0 for name in TOTALS}
    negative = [name for name in TOTALS if sent[name] < 0]
    errors = {name: ["Ensure this value is greater than or equal to 0."] for name in negative}
    for name, bound in zip(TOTALS[1:], TOTALS[:-1], strict=True):
        if name not in negative and bound not in negative and sent[name] > sent[bound]:
            errors[name] = [f"Ensure this value is less than or equal to {bound} ({sent[bound]})."]
    if errors:
        raise ValidationFailed(errors)


def render(session: Session, runs: Sequence[Any]) -> list[dict]:
    """Runs (ORM objects or rows of the table) as the API shows them, with their creators
    loaded in one query."""
    ids = {run.created_by_id for run in runs}
    users = {u.id: user_simple(u) for u in session.exec(select(User).where(User.id.in_(ids)))}
    return [model_run(run, users[run.created_by_id]) for run in runs]


@router.post(
    RUNS,
    status_code=201,
    response_model=None,
    responses={201: {"model": ModelRunSchema, "description": ""}},
    openapi_extra=request_body_schema(ModelRunRequestRequest),
    summary="✨ Run prompt inference",
)
def create_inference_run(
    prompt_id: int,
    version_id: int,
    request: Request,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Run a prompt inference."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    values = validate(run_fields(session, user), body.data, form=body.form)
    check_totals(values)
    if values["project_subset"] == ProjectSubset.CUSTOM:
        try:
            filter_condition(values.get("filters_json"))
        except FilterError as error:
            raise ValidationFailed({"filters_json": [str(error)]}) from None
    outcome = requested_outcome(request)
    now = clock.now(session)
    run = ModelRun(
        organization_id=user.organization_id,
        project_id=values["project"],
        prompt_id=prompt.id,
        version_id=version.id,
        created_by_id=user.id,
        project_subset=values["project_subset"],
        sample_subset_size=values.get("sample_subset_size"),
        filters_json=values.get("filters_json"),
        job_id=values.get("job_id"),
        only_missing_predictions=values["only_missing_predictions"],
        total_tasks=values.get("total_tasks", 0),
        total_predictions=values.get("total_predictions", 0),
        total_correct_predictions=values.get("total_correct_predictions", 0),
        predictions_updated_at=values.get("predictions_updated_at"),
        created_at=now,
        outcome=outcome,
    )
    engine.schedule_new(run, Policy.load(session), now)
    session.add(run)
    session.commit()
    request.state.run_id = run.id
    return JSONResponse(model_run(run, user_simple(user)), status_code=201)


@router.get(
    RUNS,
    response_model=list[ModelRunSchema],
    summary="✨ Get inference run info",
)
def list_inference_runs(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    session: SessionDep,
    project: Annotated[int | None, Query()] = None,
    project_subset: Annotated[str | None, Query(json_schema_extra={"enum": QUERY_SUBSETS})] = None,
    parent_model: Annotated[int | None, Query()] = None,
    ordering: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Get information (status, metadata, etc) about an existing inference run"""
    prompt_version(session, user, prompt_id, version_id)
    if project_subset and project_subset not in QUERY_SUBSETS:
        raise ValidationFailed(
            {"project_subset": [
                f"Select a valid choice. {project_subset} is not one of the available choices."
            ]}
        )  # fmt: skip
    if any(value is not None and not 0 < value <= MAX_ID for value in (project, parent_model)):
        return JSONResponse([])  # an id no row can have matches nothing
    # Plain rows, not ORM objects: a poll may list thousands of runs.
    query = select(ModelRun.__table__).where(
        ModelRun.prompt_id == prompt_id,
        ModelRun.version_id == version_id,
        ModelRun.organization_id == user.organization_id,
    )
    if project is not None:
        query = query.where(ModelRun.project_id == project)
    if project_subset:
        query = query.where(ModelRun.project_subset == project_subset)
    if parent_model is not None:
        query = query.where(ModelRun.prompt_id == parent_model)
    query = query.order_by(*ordering_terms(ordering, ORDERING), ModelRun.id)
    return JSONResponse(render(session, session.execute(query).all()))


@router.post(
    RUNS + "/{inference_run_id}/cancel",
    response_model=CancelModelRunResponse,
    summary="✨ Cancel Inference Run API",
)
def cancel_inference_run(
    prompt_id: int,
    version_id: int,
    inference_run_id: int,
    request: Request,
    user: CurrentUserDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Cancel the inference run for the given api"""
    prompt_version(session, user, prompt_id, version_id)
    run = get_by_id(session, ModelRun, inference_run_id, lock=True)
    if (
        run is None
        or run.version_id != version_id
        or run.prompt_id != prompt_id
        or run.organization_id != user.organization_id
    ):
        raise not_found("ModelRun")
    request.state.run_id = run.id
    if run.status == RunStatus.CANCELED:
        return JSONResponse({"detail": "Inference run canceled."})
    if run.status not in (RunStatus.PENDING, RunStatus.IN_PROGRESS):
        raise APIError(
            400,
            f"Inference run {run.id} is already {run.status}; "
            "only Pending or InProgress runs can be canceled.",
        )
    engine.cancel(session, run, clock.now(session), reason="canceled through the API")
    session.commit()
    return JSONResponse({"detail": "Inference run canceled."})
