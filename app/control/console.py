"""The console: a page at / and the control endpoints it is built on (workspace, runs, tasks,
live events). Everything the page does goes through public control endpoints, so a script can
do it too."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from app import responses
from app.control.api import StrictJSONRoute
from app.control.events import (
    HEARTBEAT_SECONDS,
    TICKET_SECONDS,
    EventHub,
    hub_clock,
    make_ticket,
    sse,
)
from app.control.journal import CONTROL_PREFIX
from app.db import read_session
from app.deps import ClockDep, EngineDep, SessionDep, WriteSessionDep
from app.lifecycle.runs import find_run, run_out_clock, runs_in_order
from app.models import MAX_ID, ProjectSubset
from app.render import model_runs
from app.routing import DeferredRoute
from app.seed import StrictModel
from app.workspace.overview import console_runs, list_runs, run_tasks, start_run, workspace

STATIC = Path(__file__).parent / "static"
CONSOLE_ASSETS = CONTROL_PREFIX + "/console"  # the page's script and style: open, no secret

router = APIRouter(
    prefix=CONTROL_PREFIX,
    tags=["Emulator control"],
    route_class=StrictJSONRoute,
    default_response_class=responses.JSONResponse,
)
page = APIRouter(route_class=DeferredRoute, default_response_class=responses.JSONResponse)


@page.get("/", include_in_schema=False)
def console_page() -> FileResponse:
    """The console's page; it asks for the admin token itself when the control plane needs one."""
    return FileResponse(STATIC / "console" / "index.html", headers={"Cache-Control": "no-cache"})


def console_assets() -> StaticFiles:
    return StaticFiles(directory=STATIC / "console")


@router.get("/workspace", summary="Organizations, users, projects, prompts, versions, connections")
def get_workspace(session: SessionDep) -> JSONResponse:
    """Every organization's objects, for the console; no secret is shown (tokens are masked,
    provider keys left out). `connections` is null while the emulator has no connections."""
    return JSONResponse(workspace(session))


@router.get("/runs", summary="Every organization's runs, newest first")
def get_runs(
    session: SessionDep,
    project: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    prompt: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[str | None, Query(description="statuses, comma-separated")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> JSONResponse:
    """Runs as the API shows them, plus `total_failed`, `outcome` (forced) and
    `judged_predictions` (predictions of ground-truth tasks: the correct share's denominator)."""
    return JSONResponse(list_runs(session, project, prompt, version, status, limit))


class StartRun(StrictModel):
    """A run to start as a user of the prompt's organization (its first user when omitted)."""

    version: int = Field(ge=1, le=MAX_ID)
    project: int = Field(ge=1, le=MAX_ID)
    user: int | None = Field(default=None, ge=1, le=MAX_ID)
    project_subset: Literal["All", "HasGT", "Sample"] = ProjectSubset.HAS_GT.value
    sample_subset_size: int | None = Field(default=None, ge=0, le=MAX_ID)
    outcome: Literal["Completed", "Failed", "Stuck"] | None = None


@router.post("/runs", status_code=201, summary="Start a run as a user of an organization")
def post_run(body: StartRun, session: WriteSessionDep, clock: ClockDep) -> JSONResponse:
    """The same domain function as Label Studio's create endpoint, so the run is listed by
    `client.prompts.runs.list`; `outcome` forces the end as X-Emulator-Outcome does."""
    run = start_run(
        session,
        clock,
        version=body.version,
        project=body.project,
        user=body.user,
        project_subset=body.project_subset,
        sample_subset_size=body.sample_subset_size,
        outcome=body.outcome,
    )
    return JSONResponse(console_runs(session, [run])[0], status_code=201)


@router.get("/runs/{run_id}/tasks", summary="The tasks of a run and their predictions")
def get_run_tasks(
    run_id: int, session: SessionDep, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> JSONResponse:
    """Each task predicted (with `correct` on ground-truth tasks), failed or still to predict,
    in task order; `count` is the number of tasks in all."""
    return JSONResponse(run_tasks(session, find_run(session, run_id), limit))


@router.post("/clock/run-out", summary="Advance the clock until every run has ended")
def post_clock_run_out(engine: EngineDep, clock: ClockDep) -> JSONResponse:
    """Moves the clock to the latest instant a step is due, again until no run has a step
    left (a run forced Stuck keeps waiting for a transition); answers the runs it changed."""
    changed = run_out_clock(engine, clock)
    with read_session(engine) as session:
        runs = model_runs(session, runs_in_order(session, changed))
        return JSONResponse(hub_clock(clock, session) | {"runs": runs})


@router.post("/events/ticket", summary="A ticket for the event stream")
def post_events_ticket(request: Request) -> JSONResponse:
    """EventSource cannot send an Authorization header: with the admin token (checked like any
    control request) this answers a ticket to pass as `?ticket=` to /_emulator/events, valid
    for 60 s and on every process that shares the admin token. Without an admin token in
    force the stream needs none."""
    admin_token: str = request.app.state.admin_token
    ticket = make_ticket(admin_token) if admin_token else ""
    return JSONResponse({"ticket": ticket, "expires_in": TICKET_SECONDS})


@router.get("/events", summary="Live changes (Server-Sent Events)")
async def get_events(request: Request) -> StreamingResponse:
    """A text/event-stream of `hello` (the clock, on connect), `runs` (runs created or changed,
    as /_emulator/runs shows them), `clock` (frozen, set, advanced, or the policy changed),
    `requests` (new journal entries of this process, oldest first) and `reset` (runs vanished:
    reload). With an admin token in force, pass `?ticket=` from POST /_emulator/events/ticket."""
    hub: EventHub = request.app.state.events
    request.state.event_stream = True  # its connection is closed first on shutdown

    def hello() -> str:
        with read_session(hub.engine()) as session:
            return json.dumps(hub_clock(hub.clock, session))

    first = await run_in_threadpool(hello)
    subscriber = hub.subscribe()

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n" + sse("hello", first)
            while True:
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is None:
                    return
                yield sse(*event)
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
