"""Request ids, one log line per request, Prometheus metrics and the request-body limit."""

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import envelope
from app.models import ModelRun, RunStatus

log = logging.getLogger("lse_emulator.requests")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _request_ids() -> "itertools.count[int]":
    # Unique without a random draw per request: 64 random bits for the process, then a count
    # (32 hexadecimal digits in all, the length a random UUID's hex has).
    return itertools.count(int.from_bytes(os.urandom(8), "big") << 64)


class RequestIds:
    """Fresh request ids; a forked worker process starts its own sequence."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._ids = _request_ids()

    def next(self) -> str:
        if os.getpid() != self._pid:
            self._pid, self._ids = os.getpid(), _request_ids()
        return f"{next(self._ids) & (2**128 - 1):032x}"


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is too large: the limit is {limit} bytes.")


class Metrics:
    """The emulator's metrics, in a registry of its own (one per application)."""

    def __init__(self, engine_getter: Callable[[], Engine | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lse_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "lse_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.lag = Histogram(
            "lse_lifecycle_lag_seconds", "How late a due lifecycle step ran",
            registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )  # fmt: skip
        self.predictions = Counter(
            "lse_predictions", "Predictions made", ["outcome"], registry=self.registry
        )
        # Faults injected, by rule and by what the request got: its status, "drop" or "delay".
        self.faults = Counter(
            "lse_faults", "Faults injected", ["rule", "status"], registry=self.registry
        )
        self.registry.register(_RunsCollector(engine_getter))
        # Each (method, route, status)'s counter and histogram, looked up once: labels() costs
        # a few microseconds a call, twice a request.
        self._observers: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request: counted, and its latency observed."""
        key = (method, route, status)
        observers = self._observers.get(key)
        if observers is None:
            if len(self._observers) >= 4096:  # methods are the client's to choose
                self._observers.clear()
            observers = self._observers[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        observers[0].inc()
        observers[1].observe(seconds)

    def observe_step(self, lag: float, made: int, failed: int) -> None:
        """One lifecycle step: how late it ran, the predictions it made and those that failed."""
        self.lag.observe(max(lag, 0.0))
        self.predictions.labels("success").inc(made)
        self.predictions.labels("failure").inc(failed)


class _RunsCollector:
    """Runs by status, counted in the database at scrape time (shared by every replica)."""

    def __init__(self, engine_getter: Callable[[], Engine | None]) -> None:
        self.engine_getter = engine_getter

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("lse_runs", "Inference runs by status", labels=["status"])
        engine: Engine | None = self.engine_getter()
        counts: dict[str, int] = {}
        if engine is not None:
            with Session(engine) as session:
                rows = session.exec(select(ModelRun.status, func.count()).group_by(ModelRun.status))
                counts = dict(rows.all())
        for status in RunStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        yield family


class RequestMiddleware:
    """Gives each request an id (echoed as X-Request-Id), logs one line for it, measures it,
    and refuses bodies above the limit before they are read whole."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, json_logs: bool):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.json_logs = json_logs
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given and _REQUEST_ID.match(given) else self.ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500}
        limit = self.max_body_bytes
        declared = headers.get(b"content-length", b"0")
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]  # fmt: skip
            await send(message)

        try:
            if declared.isdigit() and int(declared) > limit:
                version = scope["app"].state.settings.server_version
                body = envelope(version, 413, str(BodyTooLarge(limit)))
                await JSONResponse(body, status_code=413)(scope, receive, send_with_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
        finally:
            # A dropped connection got no answer at all: status 0.
            code = 0 if scope.get("state", {}).get("dropped") else status["code"]
            self._record(scope, code, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope["method"]
        self.metrics.observe_request(method, template, status, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        state: dict[str, Any] = scope.get("state", {})
        path, ms, user_id = scope["path"], round(seconds * 1000, 2), state.get("user_id")
        if self.json_logs:
            fields = {"request_id": request_id, "method": method, "path": path,
                      "status": status, "ms": ms, "user_id": user_id}  # fmt: skip
            log.info(json.dumps(fields))
        else:
            log.info(f"request_id={request_id} method={method} path={path} status={status} "
                     f"ms={ms} user_id={user_id}")  # fmt: skip
