"""What each request leaves behind, seen from the middleware itself: its log line (text or
JSON), its metrics, its request id, and the metrics of the lifecycle steps."""

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest

from app.observability import BodyTooLarge, Metrics, RequestIds, RequestMiddleware

GENERATED = r"[0-9a-f]{32}"


def answer(status: int, state: dict[str, Any] | None = None):
    """An application that answers every request with ``status`` (and notes ``state``)."""

    async def app(scope, receive, send) -> None:
        scope.setdefault("state", {}).update(state or {})
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def serve(
    middleware: RequestMiddleware, headers: list[tuple[bytes, bytes]], chunks: tuple = (b"",)
) -> list[dict]:
    """One GET /api/x through the middleware, its body sent in ``chunks``; the messages it
    sent."""
    sent: list[dict] = []
    pending = list(chunks)

    async def receive() -> dict:
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/x", "headers": headers,
             "app": SimpleNamespace(state=SimpleNamespace(
                 settings=SimpleNamespace(server_version="1.23.2")))}  # fmt: skip
    asyncio.run(middleware(scope, receive, send))
    return sent


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(lambda: None)


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lse_emulator.requests"]


def test_a_json_log_line_has_each_field_of_the_request(metrics, caplog):
    caplog.set_level(logging.INFO, logger="lse_emulator.requests")
    middleware = RequestMiddleware(answer(201, {"user_id": 7}), metrics, 1024, json_logs=True)
    serve(middleware, [(b"x-request-id", b"trace-1")])
    (line,) = logged(caplog)
    fields = json.loads(line)
    assert isinstance(fields.pop("ms"), float)
    assert fields == {"request_id": "trace-1", "method": "GET", "path": "/api/x",
                      "status": 201, "user_id": 7}  # fmt: skip


def test_a_dropped_connection_is_logged_and_counted_with_status_0(metrics, caplog):
    caplog.set_level(logging.INFO, logger="lse_emulator.requests")
    middleware = RequestMiddleware(answer(500, {"dropped": True}), metrics, 1024, json_logs=False)
    serve(middleware, [(b"x-request-id", b"gone")])
    (line,) = logged(caplog)
    assert line.startswith("request_id=gone method=GET path=/api/x status=0 ms=")
    assert line.endswith(" user_id=None")
    labels = {"method": "GET", "route": "unmatched", "status": "0"}
    assert metrics.registry.get_sample_value("lse_http_requests_total", labels) == 1


def test_the_answer_carries_the_request_id_after_the_applications_headers(metrics):
    start, _ = serve(RequestMiddleware(answer(200), metrics, 1024, False), [])
    ((name, value),) = start["headers"]
    assert name == b"x-request-id"
    assert len(value) == 32 and int(value, 16) >= 0


def test_a_declared_body_above_the_limit_is_refused_before_the_application_runs(metrics):
    ran: list[bool] = []

    async def app(scope, receive, send) -> None:
        ran.append(True)

    middleware = RequestMiddleware(app, metrics, 1024, json_logs=False)
    start, body = serve(middleware, [(b"content-length", b"1025")])
    assert ran == []
    assert start["status"] == 413
    envelope = json.loads(body["body"])
    assert envelope == {"id": envelope["id"], "status_code": 413, "version": "1.23.2",
                        "detail": "Request body is too large: the limit is 1024 bytes.",
                        "exc_info": None}  # fmt: skip
    labels = {"method": "GET", "route": "unmatched", "status": "413"}
    assert metrics.registry.get_sample_value("lse_http_requests_total", labels) == 1
    assert (
        metrics.registry.get_sample_value(
            "lse_http_request_duration_seconds_count", {"method": "GET", "route": "unmatched"}
        )
        == 1
    )


def test_fresh_request_ids_count_up_from_a_random_start():
    ids = RequestIds()
    first, second = ids.next(), ids.next()
    assert len(first) == len(second) == 32
    assert int(second, 16) == int(first, 16) + 1
    assert RequestIds().next() != first


def test_a_lifecycle_step_counts_predictions_and_its_lag(metrics):
    metrics.observe_step(0.3, made=4, failed=1)
    metrics.observe_step(-2.0, made=2, failed=0)  # early: counted as on time
    sample = metrics.registry.get_sample_value
    assert sample("lse_predictions_total", {"outcome": "success"}) == 6
    assert sample("lse_predictions_total", {"outcome": "failure"}) == 1
    assert sample("lse_lifecycle_lag_seconds_sum") == 0.3
    assert sample("lse_lifecycle_lag_seconds_bucket", {"le": "0.01"}) == 1
    assert sample("lse_lifecycle_lag_seconds_bucket", {"le": "0.25"}) == 1
    assert sample("lse_lifecycle_lag_seconds_bucket", {"le": "0.5"}) == 2


def test_the_metrics_are_named_described_and_bucketed_for_prometheus(metrics):
    metrics.requests.labels("GET", "/api/x", "200").inc()
    metrics.latency.labels("GET", "/api/x").observe(0.001)
    metrics.faults.labels("1", "drop").inc()
    text = generate_latest(metrics.registry).decode()
    helps = [line for line in text.splitlines()
             if line.startswith("# HELP") and "_created " not in line]  # fmt: skip
    assert helps == [
        "# HELP lse_http_requests_total HTTP requests",
        "# HELP lse_http_request_duration_seconds HTTP request latency",
        "# HELP lse_lifecycle_lag_seconds How late a due lifecycle step ran",
        "# HELP lse_predictions_total Predictions made",
        "# HELP lse_faults_total Faults injected",
        "# HELP lse_runs Inference runs by status",
    ]
    latency = [line.split('le="')[1].split('"')[0] for line in text.splitlines()
               if line.startswith("lse_http_request_duration_seconds_bucket")]  # fmt: skip
    assert latency == ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5", "1.0", "2.5", "5.0", "+Inf"]  # fmt: skip
    lag = [line.split('le="')[1].split('"')[0] for line in text.splitlines()
           if line.startswith("lse_lifecycle_lag_seconds_bucket")]  # fmt: skip
    assert lag == ["0.01", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0",
                   "+Inf"]  # fmt: skip
    assert 'lse_faults_total{rule="1",status="drop"} 1.0' in text


def test_runs_by_status_are_all_zero_before_the_database_is_open(metrics):
    sample = metrics.registry.get_sample_value
    statuses = ["Pending", "InProgress", "Completed", "Failed", "Canceled"]
    assert [sample("lse_runs", {"status": s}) for s in statuses] == [0, 0, 0, 0, 0]


def read_whole_body(received: list[int]):
    """An application that reads the whole body, then answers 200."""

    async def app(scope, receive, send) -> None:
        more = True
        while more:
            message = await receive()
            received.append(len(message["body"]))
            more = message["more_body"]
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_a_streamed_body_of_exactly_the_limit_is_read_whole(metrics):
    received: list[int] = []
    middleware = RequestMiddleware(read_whole_body(received), metrics, 1024, json_logs=False)
    start, _ = serve(middleware, [], chunks=(b"x" * 1000, b"x" * 24))
    assert (start["status"], received) == (200, [1000, 24])
    # The application gave no headers: the request id is the only one.
    assert [name for name, _ in start["headers"]] == [b"x-request-id"]


def test_a_streamed_body_one_byte_past_the_limit_is_refused_as_it_arrives(metrics):
    received: list[int] = []
    middleware = RequestMiddleware(read_whole_body(received), metrics, 1024, json_logs=False)
    with pytest.raises(BodyTooLarge, match="^Request body is too large: the limit is 1024 bytes.$"):
        serve(middleware, [], chunks=(b"x" * 1000, b"x" * 25))
    assert received == [1000]


def test_a_request_whose_application_fails_before_answering_is_counted_as_500(metrics):
    async def app(scope, receive, send) -> None:
        raise RuntimeError("no answer")

    with pytest.raises(RuntimeError):
        serve(RequestMiddleware(app, metrics, 1024, json_logs=False), [])
    labels = {"method": "GET", "route": "unmatched", "status": "500"}
    assert metrics.registry.get_sample_value("lse_http_requests_total", labels) == 1
