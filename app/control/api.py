"""The control plane's endpoints, under /_emulator."""

import asyncio
import hmac
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, Field, ValidationError, model_validator
from sqlalchemy import text
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from app import responses
from app.auth import header_parts
from app.control.events import ticket_is_valid
from app.control.fidelity import FIDELITY
from app.control.journal import CONTROL_PREFIX, JournalDep
from app.db import emulator_state, read_session
from app.deps import (
    ClockDep,
    EngineDep,
    SessionDep,
    SettingsDep,
    WorkerDep,
    WriteSessionDep,
)
from app.error_handlers import error_response
from app.errors import ValidationFailed, unauthorized
from app.lifecycle import machine
from app.lifecycle.clock import Clock
from app.lifecycle.external import pending_tasks
from app.lifecycle.faults import (
    FaultRuleRequest,
    add_rule,
    delete_rule,
    delete_rules,
    list_rules,
    rule_body,
)
from app.lifecycle.policy import Policy, PolicyChange
from app.lifecycle.runs import change_clock, find_run, move_run, runs_in_order
from app.lifecycle.snapshot import export_state, import_state, reset_state
from app.models import RunStatus
from app.render import iso, model_runs, run_history
from app.routing import DeferredRoute
from app.seed import StrictModel, load_seed, parse_seed
from app.validation import loads_json


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed as strict JSON, as the Label Studio API's bodies are:
    a document the server could not store or render again is a JSON parse error."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_json(await self.body())
        return self._json


class StrictJSONRoute(DeferredRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


router = APIRouter(
    prefix=CONTROL_PREFIX,
    tags=["Emulator control"],
    route_class=StrictJSONRoute,
    default_response_class=responses.JSONResponse,
)


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


class TransitionRequest(StrictModel):
    to: Literal["InProgress", "Completed", "Failed", "Canceled"]
    reason: str = Field(default="", max_length=1000)


# A health probe needs no secret and learns nothing but "up".
OPEN_CONTROL_PATHS = {CONTROL_PREFIX + "/health"}
# The console's script and style, the same for everyone (the page asks for the token itself).
OPEN_CONTROL_PREFIXES = (CONTROL_PREFIX + "/console/",)
# EventSource cannot send headers: the event stream also takes a ticket signed with the token.
EVENTS_PATH = CONTROL_PREFIX + "/events"
METRICS_PATH = "/metrics"


class AdminTokenMiddleware:
    """When an admin token is in force, every control path but health, and /metrics (which
    counts every organization's runs), require "Authorization: Token <it>", checked before
    anything else of the request is read."""

    def __init__(self, app: ASGIApp, admin_token: str, control_enabled: bool) -> None:
        self.app = app
        self.admin_token = admin_token
        self.control_enabled = control_enabled

    def _guarded(self, path: str) -> bool:
        if path == METRICS_PATH:
            return True
        return (
            self.control_enabled
            and path.startswith(CONTROL_PREFIX)
            and path not in OPEN_CONTROL_PATHS
            and not path.startswith(OPEN_CONTROL_PREFIXES)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope["path"]):
            request = Request(scope)
            ticket = request.query_params.get("ticket")
            if (
                scope["path"] == EVENTS_PATH
                and ticket is not None
                and ticket_is_valid(self.admin_token, ticket)
            ):
                await self.app(scope, receive, send)
                return
            refusal = _refuse_admin(request, self.admin_token)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refuse_admin(request: Request, expected: str) -> JSONResponse | None:
    parts = header_parts(request.headers.get("authorization"))
    given = parts[1] if len(parts) == 2 and parts[0].lower() == b"token" else b""
    if hmac.compare_digest(given, expected.encode()):
        return None
    detail = "Invalid token." if given else "Authentication credentials were not provided."
    return error_response(request, unauthorized(detail))


def _clock_body(clock: Clock, session: Session) -> dict[str, Any]:
    return {"now": iso(clock.now(session)), "frozen": clock.frozen(session)}


@router.get("/clock", summary="The virtual clock")
def get_clock(clock: ClockDep, session: SessionDep) -> JSONResponse:
    return JSONResponse(_clock_body(clock, session))


@router.post("/clock", summary="Freeze, unfreeze, set or advance the virtual clock")
def post_clock(change: ClockChange, engine: EngineDep, clock: ClockDep) -> JSONResponse:
    """Advancing (or setting a later instant) applies every step that falls due, in time order,
    and answers once all of it is stored, with the runs it changed."""
    changed = change_clock(
        engine,
        clock,
        freeze=change.freeze,
        instant=change.set,
        advance_seconds=change.advance_seconds,
    )
    with read_session(engine) as session:
        runs = model_runs(session, runs_in_order(session, changed))
        return JSONResponse(_clock_body(clock, session) | {"runs": runs})


@router.get("/policy", summary="The lifecycle policy")
def get_policy(session: SessionDep) -> JSONResponse:
    return JSONResponse(Policy.load(session).model_dump())


@router.put("/policy", summary="Change the lifecycle policy (fields not given keep their value)")
def put_policy(change: PolicyChange, session: WriteSessionDep) -> JSONResponse:
    merged = Policy.load(session).model_dump() | change.model_dump(exclude_unset=True)
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as error:
        raise ValidationFailed(
            {str(e["loc"][-1]): [e["msg"]] for e in error.errors() if e["loc"]}
        ) from None
    state = emulator_state(session)
    state.policy = policy.model_dump()
    session.add(state)
    session.commit()
    return JSONResponse(state.policy)


@router.post("/runs/{run_id}/transition", summary="Move a run along the lifecycle graph")
def transition_run(
    run_id: int, change: TransitionRequest, clock: ClockDep, session: WriteSessionDep
) -> JSONResponse:
    run = move_run(session, run_id, change.to, change.reason, clock)
    return JSONResponse(model_runs(session, [run])[0])


@router.get("/runs/{run_id}/history", summary="Every status change of a run")
def get_run_history(run_id: int, session: SessionDep) -> JSONResponse:
    return JSONResponse(run_history(session, find_run(session, run_id)))


@router.get("/runs/{run_id}/pending-tasks", summary="The tasks an external run still waits for")
def get_pending_tasks(run_id: int, session: SessionDep) -> JSONResponse:
    run = find_run(session, run_id)
    tasks = pending_tasks(session, run)
    return JSONResponse({"run": run.id, "status": run.status,
                         "inference_mode": run.inference_mode, "count": len(tasks),
                         "tasks": tasks})  # fmt: skip


@router.get("/runs/{run_id}/wait", summary="Wait until a run reaches a status")
async def wait_for_run(
    run_id: int,
    engine: EngineDep,
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
    wanted |= set(machine.FINAL_STATUSES)
    deadline = time.monotonic() + timeout

    def look() -> dict[str, Any]:
        with read_session(engine) as session:
            return model_runs(session, [find_run(session, run_id)])[0]

    while True:
        run = await run_in_threadpool(look)
        if run["status"] in wanted:
            return JSONResponse(run | {"timed_out": False})
        if time.monotonic() >= deadline:
            return JSONResponse(run | {"timed_out": True})
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


@router.post("/seed", summary="Upsert a seed document by id")
def seed(session: WriteSessionDep, document: Annotated[Any, Body()]) -> JSONResponse:
    result = load_seed(session, parse_seed(document, "seed"), "seed")
    emulator_state(session).seed_changed = True
    session.commit()
    return JSONResponse(result)


@router.post("/reset", summary="Return to the boot state")
def reset(
    engine: EngineDep, settings: SettingsDep, clock: ClockDep, journal: JournalDep
) -> JSONResponse:
    reset_state(engine, settings, clock)
    journal.clear()
    return JSONResponse({"detail": "Emulator reset to its boot state."})


@router.get("/export", summary="The whole state as one JSON document")
def export(request: Request, session: SessionDep) -> JSONResponse:
    """Connection secrets are included only when an admin token guards the control plane."""
    return JSONResponse(export_state(session, include_secrets=bool(request.app.state.admin_token)))


@router.post("/import", summary="Replace the whole state with an exported document")
def import_(session: WriteSessionDep, document: Annotated[Any, Body()]) -> JSONResponse:
    import_state(session, document)
    session.commit()
    return JSONResponse({"detail": "State imported."})


@router.get("/requests", summary="The recent Label Studio API requests, newest first")
def requests(
    journal: JournalDep,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
) -> JSONResponse:
    return JSONResponse(journal.query(method, path, status))


@router.delete("/requests", summary="Clear the request journal")
def clear_requests(journal: JournalDep) -> JSONResponse:
    journal.clear()
    return JSONResponse({"detail": "Journal cleared."})


@router.get("/health", summary="Database and lifecycle worker health")
def health(engine: EngineDep, worker: WorkerDep) -> JSONResponse:
    body = {"status": "ok", "database": "ok", "worker": "ok"}
    try:
        with read_session(engine) as session:
            session.execute(text("SELECT 1"))
    except Exception:
        body["database"] = "unreachable"
    if not worker.alive:
        body["worker"] = "stopped"
    elif worker.last_error:
        body["worker"] = f"failing: {worker.last_error}"
    healthy = body["database"] == "ok" and body["worker"] == "ok"
    body["status"] = "ok" if healthy else "error"
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.post("/faults", summary="Add a fault rule", status_code=201)
def post_fault(rule: FaultRuleRequest, session: WriteSessionDep) -> JSONResponse:
    stored = add_rule(session, rule)
    session.commit()
    return JSONResponse(rule_body(stored), status_code=201)


@router.get("/faults", summary="The fault rules, with how often each matched and fired")
def get_faults(session: SessionDep) -> JSONResponse:
    return JSONResponse([rule_body(rule) for rule in list_rules(session)])


@router.delete("/faults/{rule_id}", summary="Remove a fault rule", status_code=204)
def delete_fault(rule_id: int, session: WriteSessionDep) -> Response:
    delete_rule(session, rule_id)
    session.commit()
    return Response(status_code=204)


@router.delete("/faults", summary="Remove every fault rule")
def delete_faults(session: WriteSessionDep) -> JSONResponse:
    removed = delete_rules(session)
    session.commit()
    return JSONResponse({"detail": f"{removed} fault rules removed.", "removed": removed})


@router.get("/fidelity", summary="How faithful each endpoint and behaviour is")
def fidelity() -> JSONResponse:
    return JSONResponse(FIDELITY)
