"""What an inference service posts back (batch predictions and failed predictions of a run) and
trying a version on one task."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.deps import BodyDep, ClockDep, CurrentUserDep, SessionDep
from app.errors import ValidationFailed
from app.lifecycle.external import (
    AMOUNTS,
    MAX_BATCH_ITEMS,
    record_failures,
    record_predictions,
)
from app.lifecycle.model import try_task
from app.lifecycle.policy import Policy
from app.lookups import own_project, own_task_id, prompt_version
from app.models import Task
from app.responses import JSONResponse, exact_float
from app.routing import DeferredRoute
from app.validation import (
    CharField,
    Field,
    IntegerField,
    JSONField,
    ListField,
    PrimaryKeyField,
    validate,
)

router = APIRouter(route_class=DeferredRoute, tags=["Prompts"], default_response_class=JSONResponse)


def batch_fields(items: str) -> dict[str, Field]:
    """BatchPredictionsRequestRequest / BatchFailedPredictionsRequestRequest."""
    return {
        "modelrun_id": IntegerField(required=True),
        items: ListField(child=JSONField(), required=True),
        "job_id": CharField(max_length=255),
    }


def _checked(values: dict[str, object], items: str) -> list[object]:
    found = values[items]
    assert isinstance(found, list)
    if len(found) > MAX_BATCH_ITEMS:
        raise ValidationFailed.field(
            items, f"Ensure this field has no more than {MAX_BATCH_ITEMS} elements."
        )
    return found


@router.post(
    "/api/model-run/batch-predictions", status_code=201, summary="✨ Create batch predictions"
)
def batch_predictions(
    request: Request,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
    num_predictions: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    """Create a new batch prediction."""
    values = validate(batch_fields("results"), body.data, form=body.form)
    results = _checked(values, "results")
    request.state.run_id = values["modelrun_id"]
    run = record_predictions(session, user, values["modelrun_id"], results, clock)
    job_id = values.get("job_id") or run.job_id or ""
    return JSONResponse({"job_id": job_id, "results": _echoed(results)}, status_code=201)


def _echoed(items: list[object]) -> list[object]:
    """Stored items as the answer writes them back, their amounts through exact_float: costs
    in dollars are small floats, which would otherwise have json.dumps write the whole answer
    (several times orjson's time for a batch of 1,000)."""
    for item in items:
        if type(item) is dict:
            for name in AMOUNTS:
                value = item.get(name)
                if type(value) is float:
                    item[name] = exact_float(value)
    return items


@router.post(
    "/api/model-run/batch-failed-predictions",
    status_code=201,
    summary="✨ Create batch of failed predictions",
)
def batch_failed_predictions(
    request: Request,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
    num_failed_predictions: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    """Create a new batch of failed predictions."""
    values = validate(batch_fields("failed_predictions"), body.data, form=body.form)
    failures = _checked(values, "failed_predictions")
    request.state.run_id = values["modelrun_id"]
    run = record_failures(session, user, values["modelrun_id"], failures, clock)
    job_id = values.get("job_id") or run.job_id or ""
    return JSONResponse({"job_id": job_id, "failed_predictions": failures}, status_code=201)


@router.post(
    "/api/prompts/{prompt_id}/versions/{version_id}/try-task",
    summary="✨ Try prompt on a single task",
)
def try_version_on_task(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
) -> JSONResponse:
    """Run a single-task ephemeral prediction using the current (possibly unsaved) prompt."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    fields: dict[str, Field] = {
        "project_id": PrimaryKeyField(required=True, resolve=own_project(session, user)),
        "task_id": PrimaryKeyField(required=True, resolve=own_task_id(session, user)),
        "prompt_override": CharField(allow_blank=True),
    }
    values = validate(fields, body.data, form=body.form)
    task = session.get(Task, values["task_id"])
    if task is None or task.project_id != values["project_id"]:
        raise ValidationFailed.field(
            "task_id", f'Invalid pk "{values["task_id"]}" - object does not exist.'
        )
    seed = Policy.load(session).random_seed
    answer = try_task(
        session, prompt, version, values["project_id"], values["task_id"], seed,
        values.get("prompt_override"),
    )  # fmt: skip
    return JSONResponse(answer)
