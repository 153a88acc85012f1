"""What runs leave behind: key indicators, bulk indicators, regressions between two runs,
re-evaluation, the tasks of a subset with their predictions, cost estimates and prompt
refinement."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import Session

from app.api.prompts import render_versions
from app.db import get_by_id
from app.deps import BodyDep, ClockDep, CurrentUserDep, SessionDep
from app.errors import NotFound, ValidationFailed
from app.lifecycle import refine, results
from app.lookups import own_project, prompt_version
from app.models import Project, PromptVersion, User
from app.pagination import paginate_list
from app.render import refined_prompt
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.validation import (
    CharField,
    ChoiceField,
    IntegerField,
    ListField,
    PrimaryKeyField,
    validate,
)
from app.workspace.prompts import is_own_connection

router = APIRouter(route_class=DeferredRoute, tags=["Prompts"], default_response_class=JSONResponse)
RUN = "/api/inference-runs/{id}"
VERSION = "/api/prompts/{prompt_id}/versions/{version_id}"
MODES = ["failed", "incorrect", "regressions", "custom"]


@router.get(RUN + "/indicators/", summary="✨ Get key indicators")
def list_indicators(id: int, user: CurrentUserDep, session: SessionDep) -> JSONResponse:
    """Get key indicators for the Prompt dashboard."""
    run = results.own_run(session, user, id)
    assert run.id is not None
    found = results.indicators(session, [run])[run.id]
    return JSONResponse([{"key": key, **value} for key, value in found.items()])


@router.get(RUN + "/indicators/{indicator_key}", summary="✨ Get key indicator")
def get_indicator(
    id: int, indicator_key: str, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Get a specific key indicator for the Prompt dashboard."""
    run = results.own_run(session, user, id)
    return JSONResponse(results.indicator(session, run, indicator_key))


@router.get(
    "/api/inference-runs/bulk-indicators/", summary="✨ Bulk fetch indicators for inference runs"
)
def bulk_indicators(
    user: CurrentUserDep,
    session: SessionDep,
    run_ids: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Bulk fetch default indicators for multiple inference runs at once."""
    ids = results.parse_ids("run_ids", run_ids, results.BULK_MAX_RUNS)
    return JSONResponse({"results": results.bulk_indicators(session, user, ids)})


def _run_param(session: Session, user: User, name: str, raw: str | None) -> Any:
    if raw is None or raw == "":
        return ValidationFailed.field(name, "This field is required.")
    if not raw.isdigit():
        return ValidationFailed.field(name, "A valid integer is required.")
    return results.own_run(session, user, int(raw)) if int(raw) > 0 else NotFound("ModelRun")


@router.get(
    "/api/inference-runs/regressions/",
    summary="✨ Compare correctness transitions between inference runs",
)
def regressions(
    user: CurrentUserDep,
    session: SessionDep,
    run_a: Annotated[str | None, Query()] = None,
    run_b: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Compare correctness transitions between two inference runs."""
    found = {name: _run_param(session, user, name, raw) for name, raw in
             (("run_a", run_a), ("run_b", run_b))}  # fmt: skip
    errors: dict[str, list[str]] = {}
    for value in found.values():
        if isinstance(value, ValidationFailed) and value.validation_errors:
            errors.update(value.validation_errors)
    if errors:
        raise ValidationFailed(errors)
    for value in found.values():
        if isinstance(value, NotFound):
            raise value
    return JSONResponse(results.regressions(session, found["run_a"], found["run_b"]))


@router.post(
    "/api/inference-runs/re-evaluate/",
    status_code=201,
    summary="✨ Re-evaluate specific tasks from a previous run",
)
def re_evaluate(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a new inference run targeting only specific tasks (re-evaluation)."""
    fields = {
        "mode": ChoiceField(choices=MODES, required=True),
        "model_version_id": PrimaryKeyField(
            required=True, resolve=results.own_version(session, user)
        ),
        "source_model_run_id": IntegerField(min_value=1),
        "run_b_id": IntegerField(min_value=1),
        "task_ids": ListField(child=IntegerField(min_value=1), default=[]),
    }
    values = validate(fields, body.data, form=body.form)
    missing = results.own_task_ids(session, user, values.get("task_ids") or [])
    if missing:
        raise ValidationFailed.field(
            "task_ids", f'Invalid pk "{missing[0]}" - object does not exist.'
        )
    run, task_ids = results.re_evaluate(session, user, values, clock)
    answer: dict[str, Any] = {"mode": values["mode"], "model_version_id": run.version_id}
    for name in ("source_model_run_id", "run_b_id"):
        if values.get(name) is not None:
            answer[name] = values[name]
    answer["task_ids"] = task_ids
    return JSONResponse(answer, status_code=201)


@router.get(
    "/api/projects/{project_pk}/subset-tasks",
    tags=["Projects"],
    summary="✨ Get Project Subset Task List with Predictions and Accuracy details",
)
def subset_tasks(
    project_pk: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Provides list of tasks, based on project subset. Includes predictions for tasks."""
    project = get_by_id(session, Project, project_pk) if project_pk > 0 else None
    if project is None or project.organization_id != user.organization_id:
        raise NotFound("Project")
    params = dict(request.query_params)
    items = results.subset_tasks(session, user, project, params)
    include_total = params.get("include_total", "true").lower() not in ("false", "0", "no")

    def render(page: Sequence[Any]) -> list[dict[str, Any]]:
        wrapper: dict[str, Any] = {
            "task_result_list": list(page),
            "next_cursor": None,
            "previous_cursor": None,
        }
        if include_total:
            wrapper["task_count"] = len(items)
        return [wrapper]

    url = str(request.url.replace(query=""))
    return JSONResponse(paginate_list(items, url, params, render))


@router.get(
    VERSION + "/cost-estimate",
    summary="✨ Get cost estimate for running a prompt version on a particular project/subset",
)
def cost_estimate(
    prompt_id: int, version_id: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Get an estimate of the cost for making an inference run on the selected Prompt Version
    and Project/ProjectSubset."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    params = dict(request.query_params)
    return JSONResponse(results.estimate_cost(session, prompt, version, params))


def _refined(session: Session, job: Any) -> dict[str, Any]:
    previous = session.get(PromptVersion, job.version_id)
    refined = (
        session.get(PromptVersion, job.refined_version_id)
        if job.refined_version_id is not None
        else None
    )
    return refined_prompt(
        job, render_versions(session, [previous])[0] if previous is not None else None, refined
    )


@router.post(VERSION + "/refine", status_code=201, summary="✨ Refine a prompt version")
def refine_prompt(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
    async_: Annotated[str | None, Query(alias="async")] = None,
) -> JSONResponse:
    """Refine a prompt version using a teacher model and save the refined prompt as a new
    version."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    fields = {
        "project_id": PrimaryKeyField(required=True, resolve=own_project(session, user)),
        "teacher_model_name": CharField(required=True),
        "teacher_model_provider_connection_id": PrimaryKeyField(
            required=True, resolve=lambda pk: is_own_connection(session, user, pk)
        ),
    }
    values = validate(fields, body.data, form=body.form)
    wait = (async_ or "true").strip().lower() in ("false", "0", "no", "off")
    job = refine.start_refinement(session, user, prompt, version, values, clock, wait)
    return JSONResponse(_refined(session, job), status_code=201)


@router.get(VERSION + "/refine", summary="✨ Get refined prompt")
def get_refined_prompt(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    session: SessionDep,
    refinement_job_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Get the refined prompt based on the refinement_job_id."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    job = refine.own_job(session, version, refinement_job_id)
    status = 200 if job.status == refine.COMPLETED else 202
    return JSONResponse(_refined(session, job), status_code=status)
