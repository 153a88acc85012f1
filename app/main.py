"""The application factory: the lifespan owns the engine, migrations, seed and lifecycle worker."""

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api import inference_runs, projects, prompts, tokens
from app.auth import authenticate
from app.config import Settings
from app.control import api as control
from app.control.journal import Journal, JournalMiddleware
from app.db import make_engine, migrate, startup_lock, write_session
from app.errors import APIError, ValidationFailed, envelope, error_response
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.lifecycle.worker import Worker
from app.models import ACTIVE_STATUSES, EmulatorState, ModelRun, RunEvent
from app.observability import BodyTooLarge, Metrics, RequestMiddleware
from app.schemas import ModelRunRequestRequest, TokenRefreshRequest
from app.seed import configured_seed, database_is_empty, load_seed

log = logging.getLogger("lse_emulator")
PUBLIC_PATHS = {"/api/token/refresh/"}
METHOD_ORDER = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def prepare_database(engine, settings: Settings, clock: Clock) -> None:
    """Create the shared state row, apply the settings' policy, seed an empty database and
    note in each in-flight run's history that the server restarted under it."""
    with write_session(engine) as session:
        state = session.get(EmulatorState, 1)
        policy = Policy.from_settings(settings).model_dump()
        if state is None:
            state = EmulatorState(id=1, secret_key=secrets.token_urlsafe(48), policy=policy)
        else:
            state.policy = policy
        session.add(state)
        session.flush()
        if database_is_empty(session):
            load_seed(session, *configured_seed(settings))
        now = clock.now(session)
        for run in session.exec(select(ModelRun).where(ModelRun.status.in_(ACTIVE_STATUSES))):
            session.add(RunEvent(run_id=run.id, from_status=run.status, to_status=run.status,
                                 at=now, cause="restart", reason="server started"))  # fmt: skip


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the application; nothing touches the database until the lifespan starts."""
    settings = settings or Settings()
    clock = clock or Clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.sqlalchemy_url()
        engine = make_engine(url)
        with startup_lock(engine):
            migrate(engine)
            prepare_database(engine, settings, clock)
        app.state.engine = engine
        worker = Worker(engine, clock, settings.worker_interval_seconds, app.state.metrics)
        app.state.worker = worker
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            engine.dispose()

    app = FastAPI(
        title="Label Studio Enterprise Prompts API (lse-emulator)",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.journal = Journal(settings.journal_size)
    for module in (inference_runs, projects, prompts, tokens):
        app.include_router(module.router)
    if settings.control_enabled:
        app.include_router(control.router)
        if settings.admin_token:
            app.add_middleware(control.AdminTokenMiddleware, admin_token=settings.admin_token)
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

    _install_error_handlers(app)
    _install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    def _api_error(request: Request, error: APIError) -> JSONResponse:
        return error_response(request, error)

    @app.exception_handler(BodyTooLarge)
    def _too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return error_response(request, APIError(413, str(error)))

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            return _method_not_allowed(request)
        detail = "Not found." if error.status_code == 404 else str(error.detail)
        return error_response(request, APIError(error.status_code, detail, headers=error.headers))

    @app.exception_handler(RequestValidationError)
    def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # A path that does not parse names no object; a bad query parameter is django-filter's
        # 400 ("Enter a number."); a bad control-plane body names its fields.
        errors: dict[str, list[str]] = {}
        for item in error.errors():
            if item["type"] == "json_invalid":
                detail = f"JSON parse error - {item.get('ctx', {}).get('error', 'invalid JSON')}"
                return error_response(request, APIError(400, detail))
            where, name = item["loc"][0], ".".join(str(p) for p in item["loc"][1:])
            if where == "path":
                return error_response(request, APIError(404, "Not found."))
            if where == "query" and item["type"].startswith("int"):
                message = "Enter a number."
            else:
                message = item["msg"].removeprefix("Value error, ")
            errors.setdefault(name or "non_field_errors", []).append(message)
        return error_response(request, ValidationFailed(errors))

    @app.exception_handler(RecursionError)
    def _too_deep(request: Request, error: RecursionError) -> JSONResponse:
        # Input nested deeper than Python can walk is the input's fault wherever it is met.
        return error_response(request, APIError(400, "The request is nested too deeply."))

    @app.exception_handler(Exception)
    def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = envelope(request.app.state.settings.server_version, 500, "Internal server error")
        return JSONResponse(body, status_code=500)


def _method_not_allowed(request: Request) -> JSONResponse:
    """DRF authenticates before it checks the method, and lists every method of the path."""
    if request.url.path not in PUBLIC_PATHS:
        with Session(request.app.state.engine) as session:
            try:
                authenticate(session, request.headers.get("authorization"))
            except APIError as error:
                return error_response(request, error)
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.path_regex.match(request.url.path):
            allowed |= route.methods
    allow = ", ".join(m for m in METHOD_ORDER if m in allowed)
    error = APIError(405, f'Method "{request.method}" not allowed.', headers={"Allow": allow})
    return error_response(request, error)


def _install_openapi(app: FastAPI) -> None:
    """Request-body schemas are documented by reference (bodies are parsed as DRF does), so
    they are added to the components here."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ModelRunRequestRequest, TokenRefreshRequest):
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(definition.pop("$defs", {}))
                components[model.__name__] = definition
            # Errors are answered 400 in Label Studio's envelope, never FastAPI's 422.
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
