"""The control plane's endpoints, under /_emulator."""

import asyncio
import hmac
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator
from sqlalchemy import text
from sqlmodel import Session, select
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.inference_runs import render
from app.control.fidelity import FIDELITY
from app.control.journal import CONTROL_PREFIX
from app.control.state import StateDocumentError, export_state, import_state, reset_state
from app.db import SessionDep, WriteSessionDep, bulk_write_session, get_by_id, write_session
from app.errors import APIError, ValidationFailed, error_response, not_found
from app.lifecycle import engine as lifecycle
from app.lifecycle.clock import EARLIEST, LATEST, emulator_state
from app.lifecycle.policy import Policy
from app.models import ACTIVE_STATUSES, ModelRun, RunEvent, RunStatus
from app.schemas import iso
from app.seed import SeedError, StrictModel, load_seed, parse_seed
from app.validation import loads_json


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed as strict JSON, as the Label Studio API's bodies are:
    a document the server could not store or render again is a JSON parse error."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


router = APIRouter(prefix=CONTROL_PREFIX, tags=["Emulator control"], route_class=StrictJSONRoute)


class ClockChange(StrictModel):
    """Exactly one of: freeze (true/false), set (an instant), advance_seconds."""

    freeze: bool | None = None
    set: AwareDatetime | None = None
    advance_seconds: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)

    @model_validator(mode="after")
    def _exactly_one(self) -> "ClockChange":
        given = [k for k in ("freeze", "set", "advance_seconds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of freeze, set, advance_seconds")
        return self


class PolicyChange(StrictModel):
    queue_delay_seconds: float | None = None
    tasks_per_second: float | None = None
    batch_size: int | None = None
    sample_subset_size: int | None = None
    failure_threshold: float | None = None
    random_seed: int | None = None


class TransitionRequest(StrictModel):
    to: Literal["InProgress", "Completed", "Failed", "Canceled"]
    reason: str = Field(default="", max_length=1000)


class AdminTokenMiddleware:
    """When an admin token is set, every control path requires "Authorization: Token <it>",
    checked before anything else of the request is read."""

    def __init__(self, app: ASGIApp, admin_token: str) -> None:
        self.app = app
        self.admin_token = admin_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CONTROL_PREFIX):
            request = Request(scope)
            refusal = _refuse_admin(request, self.admin_token)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refuse_admin(request: Request, expected: str) -> JSONResponse | None:
    parts = request.headers.get("authorization", "").split()
    given = parts[1] if len(parts) == 2 and parts[0].lower() == "token" else ""
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    detail = "Invalid token." if given else "Authentication credentials were not provided."
    return error_response(request, APIError(401, detail, headers={"WWW-Authenticate": "Token"}))


def _clock_body(request: Request, session: Session) -> dict[str, Any]:
    clock = request.app.state.clock
    return {"now": iso(clock.now(session)), "frozen": clock.frozen(session)}


@router.get("/clock", summary="The virtual clock")
def get_clock(request: Request, session: SessionDep) -> JSONResponse:
    return JSONResponse(_clock_body(request, session))


@router.post("/clock", summary="Freeze, unfreeze, set or advance the virtual clock")
def change_clock(request: Request, change: ClockChange) -> JSONResponse:
    """Advancing (or setting a later instant) applies every step that falls due, in time order,
    and answers once all of it is stored, with the runs it changed."""
    engine, clock = request.app.state.engine, request.app.state.clock
    with write_session(engine) as session:
        if change.freeze is True:
            clock.freeze(session)
        elif change.freeze is False:
            clock.unfreeze(session)
        else:
            field = "set" if change.set is not None else "advance_seconds"
            instant = change.set or clock.now(session) + timedelta(seconds=change.advance_seconds)
            if not EARLIEST <= instant <= LATEST:
                raise ValidationFailed(
                    {field: [f"The clock can show instants from {iso(EARLIEST)} to {iso(LATEST)}."]}
                )
            clock.set(session, instant)
        target = clock.now(session)
        # The runs this change moves, known before settling: the worker may take some steps.
        due = session.exec(
            select(ModelRun.id)
            .where(ModelRun.status.in_(ACTIVE_STATUSES), ModelRun.next_due_at <= target)
            .order_by(ModelRun.next_due_at, ModelRun.id)
        ).all()
    changed = list(dict.fromkeys([*due, *lifecycle.settle(engine, clock, until=target)]))
    with Session(engine) as session:
        runs = session.exec(select(ModelRun).where(ModelRun.id.in_(changed))).all()
        by_id = {run.id: run for run in runs}
        body = _clock_body(request, session) | {
            "runs": render(session, [by_id[i] for i in changed if i in by_id])
        }
    return JSONResponse(body)


@router.get("/policy", summary="The lifecycle policy")
def get_policy(session: SessionDep) -> JSONResponse:
    return JSONResponse(Policy.load(session).model_dump())


@router.put("/policy", summary="Change the lifecycle policy (fields not given keep their value)")
def put_policy(change: PolicyChange, session: WriteSessionDep) -> JSONResponse:
    merged = Policy.load(session).model_dump() | change.model_dump(exclude_unset=True)
    policy = _validated(Policy, merged)
    state = emulator_state(session)
    state.policy = policy.model_dump()
    session.add(state)
    session.commit()
    return JSONResponse(state.policy)


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(
            {
                str(e["loc"][-1]) if e["loc"] else "non_field_errors": [e["msg"]]
                for e in error.errors()
            }
        ) from None


def _run(session: Session, run_id: int, lock: bool = False) -> ModelRun:
    run = get_by_id(session, ModelRun, run_id, lock)
    if run is None:
        raise not_found("ModelRun")
    return run


@router.post("/runs/{run_id}/transition", summary="Move a run along the lifecycle graph")
def transition_run(
    run_id: int, change: TransitionRequest, request: Request, session: WriteSessionDep
) -> JSONResponse:
    run = _run(session, run_id, lock=True)
    if change.to not in lifecycle.TRANSITIONS[run.status]:
        allowed = ", ".join(lifecycle.TRANSITIONS[run.status]) or "none (the run has ended)"
        raise ValidationFailed(
            {"to": [f"Run {run.id} is {run.status}; it can move to: {allowed}."]}
        )
    now = request.app.state.clock.now(session)
    policy = Policy.load(session)
    reason = change.reason or "moved through the control plane"
    if change.to == RunStatus.IN_PROGRESS:
        lifecycle.start(session, run, policy, now, "control")
    elif change.to == RunStatus.COMPLETED:
        lifecycle.complete_now(session, run, policy, now, "control", reason)
    else:
        lifecycle.transition(session, run, change.to, now, "control", reason)
    session.commit()
    return JSONResponse(render(session, [run])[0])


def _history(session: Session, run_id: int) -> list[dict[str, Any]]:
    events = session.exec(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id))
    return [
        {
            "from": e.from_status,
            "to": e.to_status,
            "at": iso(e.at),
            "cause": e.cause,
            "reason": e.reason,
        }
        for e in events
    ]


@router.get("/runs/{run_id}/history", summary="Every status change of a run")
def run_history(run_id: int, session: SessionDep) -> JSONResponse:
    run = _run(session, run_id)
    return JSONResponse({"run": run.id, "status": run.status, "events": _history(session, run.id)})


@router.get("/runs/{run_id}/wait", summary="Wait until a run reaches a status")
async def wait_for_run(
    run_id: int,
    request: Request,
    status: Annotated[str, Query()] = "Completed,Failed,Canceled",
    timeout: Annotated[float, Query(ge=0, le=300)] = 10,
) -> JSONResponse:
    """Answers when the run reaches one of the statuses (comma-separated) or any final status,
    or at the timeout with its current state and "timed_out": true."""
    wanted = {s.strip() for s in status.split(",") if s.strip()}
    unknown = sorted(wanted - set(RunStatus))
    if unknown or not wanted:
        choices = ", ".join(RunStatus)
        raise ValidationFailed(
            {"status": [f'"{",".join(unknown)}" is not a status; use {choices}.']}
        )
    wanted |= set(lifecycle.FINAL_STATUSES)
    engine = request.app.state.engine
    deadline = time.monotonic() + timeout

    def look() -> dict[str, Any]:
        with Session(engine) as session:
            return render(session, [_run(session, run_id)])[0]

    while True:
        run = await run_in_threadpool(look)
        if run["status"] in wanted:
            return JSONResponse(run | {"timed_out": False})
        if time.monotonic() >= deadline:
            return JSONResponse(run | {"timed_out": True})
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


@router.post("/seed", summary="Upsert a seed document by id")
def seed(session: WriteSessionDep, document: Annotated[Any, Body()]) -> JSONResponse:
    try:
        result = load_seed(session, parse_seed(document, "seed"), "seed")
        emulator_state(session).seed_changed = True
    except SeedError as error:
        session.rollback()
        raise APIError(400, str(error)) from None
    session.commit()
    return JSONResponse(result)


@router.post("/reset", summary="Return to the boot state")
def reset(request: Request) -> JSONResponse:
    state = request.app.state
    with bulk_write_session(state.engine) as session:
        reset_state(session, state.settings, state.clock)
    state.journal.clear()
    return JSONResponse({"detail": "Emulator reset to its boot state."})


@router.get("/export", summary="The whole state as one JSON document")
def export(session: SessionDep) -> JSONResponse:
    return JSONResponse(export_state(session))


@router.post("/import", summary="Replace the whole state with an exported document")
def import_(session: WriteSessionDep, document: Annotated[Any, Body()]) -> JSONResponse:
    try:
        import_state(session, document)
    except StateDocumentError as error:
        session.rollback()
        raise APIError(400, str(error)) from None
    session.commit()
    return JSONResponse({"detail": "State imported."})


@router.get("/requests", summary="The recent Label Studio API requests, newest first")
def requests(
    request: Request,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
) -> JSONResponse:
    return JSONResponse(request.app.state.journal.query(method, path, status))


@router.delete("/requests", summary="Clear the request journal")
def clear_requests(request: Request) -> JSONResponse:
    request.app.state.journal.clear()
    return JSONResponse({"detail": "Journal cleared."})


@router.get("/health", summary="Database and lifecycle worker health")
def health(request: Request) -> JSONResponse:
    body = {"status": "ok", "database": "ok", "worker": "ok"}
    try:
        with Session(request.app.state.engine) as session:
            session.exec(text("SELECT 1"))
    except Exception:
        body["database"] = "unreachable"
    worker = request.app.state.worker
    if not worker.alive:
        body["worker"] = "stopped"
    elif worker.last_error:
        body["worker"] = f"failing: {worker.last_error}"
    healthy = body["database"] == "ok" and body["worker"] == "ok"
    body["status"] = "ok" if healthy else "error"
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/fidelity", summary="How faithful each endpoint and behaviour is")
def fidelity() -> JSONResponse:
    return JSONResponse(FIDELITY)
