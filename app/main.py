"""The application factory: the lifespan owns the engine, migrations, seed and lifecycle worker."""

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, insert, select, update
from starlette.types import Receive, Scope, Send

from app import __version__
from app.api import (
    connections,
    inference_runs,
    model_run_batches,
    predictions,
    projects,
    prompts,
    results,
    tasks,
    tokens,
    users,
)
from app.config import Settings, needs_generated_admin_token
from app.control import api as control
from app.control import console
from app.control.docs import install_docs
from app.control.events import POLL_SECONDS, EventHub
from app.control.faults import SERVER_SEND, EdgeBatch, EdgeReads, FaultMiddleware
from app.control.journal import Journal, JournalMiddleware
from app.db import GroupCommit, clock_and_policy, make_engine, write_session
from app.error_handlers import install_error_handlers
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.lifecycle.worker import Worker
from app.methods import MethodsMiddleware
from app.migrate import migrate, startup_lock
from app.models import ACTIVE_STATUSES, EmulatorState, ModelRun, RunEvent, table_of
from app.observability import Metrics, RequestMiddleware
from app.openapi import build_definition
from app.responses import JSONResponse
from app.routing import DeferredRoute, index_routes
from app.seed import database_is_empty, load_configured_seed

log = logging.getLogger("lse_emulator")


def prepare_database(engine: Engine, settings: Settings, clock: Clock) -> None:
    """Create the shared state row, apply the settings' policy, seed an empty database and
    note in each in-flight run's history that the server restarted under it. Plain statements
    on the tables: the ORM configures its mappers on first use (8 ms of CPU), which a start
    leaves to the first request that needs them."""
    state, runs = table_of(EmulatorState), table_of(ModelRun)
    policy = Policy.from_settings(settings).model_dump()
    with write_session(engine) as session:
        connection = session.connection()
        updated = connection.execute(update(state).where(state.c.id == 1).values(policy=policy))
        if not updated.rowcount:
            secret_key = secrets.token_urlsafe(48)
            connection.execute(insert(state).values(id=1, secret_key=secret_key, policy=policy))
        if database_is_empty(session):
            load_configured_seed(session, settings)
        now = clock.read(clock_and_policy(session))
        active = select(runs.c.id, runs.c.status).where(runs.c.status.in_(ACTIVE_STATUSES))
        restarted = [{"run_id": run_id, "from_status": status, "to_status": status, "at": now,
                      "cause": "restart", "reason": "server started"}
                     for run_id, status in connection.execute(active)]  # fmt: skip
        if restarted:
            connection.execute(insert(table_of(RunEvent)), restarted)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve a router's routes as they were declared (with the app's response class, given to
    every router), in the application's own list. FastAPI's include_router keeps the router as
    a branch that each request matches twice (every route of every branch before it, then the
    branch again to handle it), and on the first request that reaches it analyses each of its
    routes again (dependencies, parameters, response model): 40 ms of CPU on a server's first
    request, for routes that an include without prefix, tags or dependencies leaves as they
    are. Every router's routes are DeferredRoutes, which plan their dependencies on first use
    (app/routing.py)."""
    app.router.routes.extend(router.routes)


class EmulatorApp(FastAPI):
    """The application, which keeps the server's own ``send`` in each request's scope: a fault
    rule that drops connections closes the request's connection through it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the application; nothing touches the database until the lifespan starts."""
    settings = settings or Settings()
    clock = clock or Clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.sqlalchemy_url()
        engine = make_engine(url)
        with startup_lock(engine):
            migrate(engine, create_when_empty=True)
            prepare_database(engine, settings, clock)
        app.state.engine = engine
        # The engine whose transactions take the write lock when they begin (SQLite).
        app.state.writer = engine.execution_options(write=True)
        app.state.writes = GroupCommit(engine)
        app.state.edge_reads = EdgeReads(engine)
        app.state.edge_batch = EdgeBatch(engine, app.state.edge_reads)
        worker = Worker(
            engine, clock, settings.worker_interval_seconds, app.state.metrics.observe_step
        )
        app.state.worker = worker
        worker.start()
        try:
            yield
        finally:
            await app.state.events.close()
            await worker.stop()
            await app.state.edge_batch.close()
            app.state.edge_reads.close()
            engine.dispose()

    app = EmulatorApp(
        title="Label Studio Enterprise Prompts API (lse-emulator)",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        default_response_class=JSONResponse,
        # Served by install_docs with the package's own copies of their scripts (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    # The application's own routes (the metrics, the docs pages) are analysed on first use too.
    app.router.route_class = DeferredRoute
    app.state.settings = settings
    app.state.clock = clock
    app.state.journal = Journal(settings.journal_size)
    for module in (
        inference_runs,
        model_run_batches,
        projects,
        prompts,
        tokens,
        connections,
        users,
        tasks,
        predictions,
        results,
    ):
        add_routes(app, module.router)
    admin_token = settings.admin_token
    if needs_generated_admin_token(settings):
        # Built without the command line (which generates and prints one for all workers).
        admin_token = secrets.token_urlsafe(32)
        log.warning("control plane admin token (generated): %s", admin_token)
    app.state.admin_token = admin_token
    app.state.events = EventHub(lambda: app.state.engine, clock, app.state.journal, POLL_SECONDS)
    if settings.control_enabled:
        add_routes(app, control.router)
        add_routes(app, console.router)
        add_routes(app, console.page)
        app.mount(console.CONSOLE_ASSETS, console.console_assets(), name="console-assets")
    install_docs(app)
    # Innermost: HEAD and OPTIONS of every API route, journaled and faulted like the others.
    app.add_middleware(MethodsMiddleware)
    if admin_token:
        app.add_middleware(
            control.AdminTokenMiddleware,
            admin_token=admin_token,
            control_enabled=settings.control_enabled,
        )
    # Inside the journal and the request log, so that they record faulted requests too.
    app.add_middleware(FaultMiddleware)
    app.add_middleware(JournalMiddleware, journal=app.state.journal)
    app.state.metrics = Metrics(lambda: getattr(app.state, "engine", None))
    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        json_logs=settings.log_format == "json",
    )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    index_routes(app.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_definition(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app
