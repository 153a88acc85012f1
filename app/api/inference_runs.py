"""Inference runs of a prompt version: create, list, cancel."""

import hmac
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, bindparam, exists, literal_column, select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from app.config import Settings
from app.db import driver_rows
from app.deps import BodyDep, CallerDep, ClockDep, CurrentUserDep, SessionDep, WritesDep
from app.errors import APIError, ValidationFailed
from app.lifecycle.external import INFERENCE_HEADER
from app.lifecycle.runs import ADMIN_HEADER, CANCELED, OUTCOME_HEADER, cancel_run, insert_run
from app.lookups import check_prompt_version, ordering_terms, own_project
from app.models import MAX_ID, ModelRun, ProjectSubset, Prompt, PromptVersion, User, table_of
from app.render import RUN_COLUMNS, model_run, read_column, run_rows, user_simple
from app.responses import FloatlessJSONResponse, JSONResponse
from app.routing import DeferredRoute
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

router = APIRouter(route_class=DeferredRoute, tags=["Prompts"], default_response_class=JSONResponse)
RUNS = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"
SUBSETS = [s.value for s in ProjectSubset]
# The subsets a query parameter may name: Custom is only defined by a run's filters.
QUERY_SUBSETS = [s for s in SUBSETS if s != ProjectSubset.CUSTOM]
ORDERING: dict[str, Mapped[Any]] = {
    "id": col(ModelRun.id),
    "created_at": col(ModelRun.created_at),
    "triggered_at": col(ModelRun.triggered_at),
    "completed_at": col(ModelRun.completed_at),
    "predictions_updated_at": col(ModelRun.predictions_updated_at),
    "status": col(ModelRun.status),
    "project": col(ModelRun.project_id),
    "total_tasks": col(ModelRun.total_tasks),
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


def requested_outcome(
    request: Request, settings: Settings, header: str = OUTCOME_HEADER
) -> str | None:
    """The X-Emulator-Outcome header (or another control-plane header), a control-plane power:
    ignored while the control plane is off; with an admin token in force, the request must
    carry it too."""
    value = request.headers.get(header)
    if value is None or not settings.control_enabled:
        return None
    admin_token: str = request.app.state.admin_token
    given = request.headers.get(ADMIN_HEADER, "")
    if admin_token and not hmac.compare_digest(given.encode("latin-1"), admin_token.encode()):
        raise APIError(
            403,
            f"{header} needs the control plane's admin token: send it as {ADMIN_HEADER}.",
        )
    return value


@router.post(
    RUNS,
    status_code=201,
    summary="✨ Run prompt inference",
)
async def create_inference_run(
    prompt_id: int,
    version_id: int,
    request: Request,
    user: CurrentUserDep,
    body: BodyDep,
    writes: WritesDep,
) -> JSONResponse:
    """Run a prompt inference."""
    clock, settings = writes.clock, writes.settings

    def create(session: Session) -> ModelRun:
        check_prompt_version(session, user, prompt_id, version_id)
        values = validate(run_fields(session, user), body.data, form=body.form)
        outcome = requested_outcome(request, settings)
        inference = requested_outcome(request, settings, INFERENCE_HEADER)
        return insert_run(session, user, prompt_id, version_id, values, outcome, clock, inference)

    # Stored with the creates that arrive meanwhile, in one transaction.
    run = await writes.group.run(create)
    request.state.run_id = run.id
    return JSONResponse(model_run(run, user_simple(user)), status_code=201)


_PROMPTS, _VERSIONS = table_of(Prompt), table_of(PromptVersion)
# The caller's prompt and its version, as check_prompt_version reads them, within the runs
# statement (evaluated once, correlated to nothing): a list that finds runs needs no statement
# of its own for the check, only an empty one does, to tell which 404 it is, if any.
_OWN_VERSION = exists().where(
    _PROMPTS.c.id == bindparam("prompt"),
    _PROMPTS.c.organization_id == bindparam("organization"),
    _VERSIONS.c.id == bindparam("version"),
    _VERSIONS.c.prompt_id == _PROMPTS.c.id,
)


@lru_cache(maxsize=64)
def _runs_query(project: bool, subset: bool, parent: bool, ordering: str | None) -> Select[Any]:
    """The runs list's statement for the filters given (project, subset, parent model) and an
    ordering, built once (their values bound when it runs): building it and its compiled-cache
    key cost about as much as running it. Tuples, not ORM objects: a poll may list thousands."""
    table = table_of(ModelRun)
    query = select(*(read_column(table.c[name]) for name in RUN_COLUMNS)).where(
        table.c.prompt_id == bindparam("prompt"),
        table.c.version_id == bindparam("version"),
        table.c.organization_id == bindparam("organization"),
        _OWN_VERSION,
    )
    if project:
        # Checked on the version's runs: SQLite keeps no statistics, and would otherwise search
        # the project's index (every run of the project, whichever its version) rather than
        # the version's, whose column leads a wider index. An expression uses no index.
        query = query.where(table.c.project_id + literal_column("0") == bindparam("project"))
    if subset:
        query = query.where(table.c.project_subset == bindparam("subset"))
    if parent:
        query = query.where(table.c.prompt_id == bindparam("parent"))
    return query.order_by(*ordering_terms(ordering, ORDERING), table.c.id)


@router.get(
    RUNS,
    summary="✨ Get inference run info",
)
async def list_inference_runs(
    prompt_id: int,
    version_id: int,
    caller: CallerDep,
    session: SessionDep,
    project: Annotated[int | None, Query()] = None,
    project_subset: Annotated[str | None, Query(json_schema_extra={"enum": QUERY_SUBSETS})] = None,
    parent_model: Annotated[int | None, Query()] = None,
    ordering: Annotated[str | None, Query()] = None,
) -> Response:
    """Get information (status, metadata, etc) about an existing inference run"""

    def read(_session: Any, user: User) -> JSONResponse:
        ids = (prompt_id, version_id, project, parent_model)
        invalid = bool(project_subset) and project_subset not in QUERY_SUBSETS
        if invalid or any(value is not None and not 0 < value <= MAX_ID for value in ids):
            check_prompt_version(session, user, prompt_id, version_id)
            if invalid:
                raise ValidationFailed(
                    {"project_subset": [
                        f"Select a valid choice. {project_subset} is not one of the available "
                        "choices."
                    ]}
                )  # fmt: skip
            return JSONResponse([])  # an id no row can have matches nothing
        query = _runs_query(
            project is not None, bool(project_subset), parent_model is not None, ordering
        )
        values = {"prompt": prompt_id, "version": version_id,
                  "organization": user.organization_id, "project": project,
                  "subset": project_subset, "parent": parent_model}  # fmt: skip
        rows = driver_rows(session.connection(), query, values)
        if not rows:
            # No run, or not the caller's prompt or version (the statement checks them too):
            # which 404, if any, only the check tells.
            check_prompt_version(session, user, prompt_id, version_id)
        # The caller, read by this request's authentication, is not read again as a creator.
        runs, floats = run_rows(session, rows, user)
        return JSONResponse(runs) if floats else FloatlessJSONResponse(runs)

    return await caller.answer(session, read)


@router.post(
    RUNS + "/{inference_run_id}/cancel",
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
    request.state.run_id = inference_run_id
    cancel_run(session, user, prompt_id, version_id, inference_run_id, clock)
    return JSONResponse({"detail": CANCELED})
