"""Limits (body size, JSON nesting) and observability (request ids, metrics, request logs)."""

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from conftest import ADA_TOKEN, Emulator
from prometheus_client.parser import text_string_to_metric_families

from .support import RUNS, ok, poll, wait_final

LIMIT = 1_048_576
TOO_LARGE = f"Request body is too large: the limit is {LIMIT} bytes."
RUNS_ROUTE = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
JSON = {"Content-Type": "application/json"}


def assert_envelope(response: httpx.Response, status_code: int, detail: str, **extra: Any) -> None:
    """Label Studio's error envelope, whole."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert uuid.UUID(body["id"]).version == 4
    assert body == {
        "id": body["id"],
        "status_code": status_code,
        "version": "1.23.2",
        "detail": detail,
        "exc_info": None,
        **extra,
    }


def padded(size: int) -> bytes:
    """A valid run-creating JSON body of exactly ``size`` bytes (trailing whitespace)."""
    body = b'{"project": 1, "project_subset": "Sample", "sample_subset_size": 3}'
    return body + b" " * (size - len(body))


def run_count(api: httpx.Client) -> int:
    return len(ok(api.get(RUNS)))


def nested(depth: int) -> dict[str, Any]:
    """A JSON object nested ``depth`` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_body_above_the_limit_with_content_length_is_413(api: httpx.Client) -> None:
    before = run_count(api)
    response = api.post(RUNS, content=padded(LIMIT + 1), headers=JSON)
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    assert_envelope(response, 413, TOO_LARGE)
    assert REQUEST_ID.match(response.headers["x-request-id"])
    assert run_count(api) == before


def test_chunked_body_above_the_limit_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        body = padded(LIMIT + 64 * 1024)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    before = run_count(api)
    response = api.post(RUNS, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_envelope(response, 413, TOO_LARGE)
    assert run_count(api) == before


def test_body_of_exactly_the_limit_is_accepted(api: httpx.Client) -> None:
    run = ok(api.post(RUNS, content=padded(LIMIT), headers=JSON), 201)
    assert run["project_subset"] == "Sample" and run["sample_subset_size"] == 3


def test_filters_json_nested_deeper_than_32_levels_is_400(api: httpx.Client) -> None:
    before = run_count(api)
    for depth in (33, 200):
        body = {"project": 1, "project_subset": "Custom", "filters_json": nested(depth)}
        assert_envelope(
            api.post(RUNS, json=body),
            400,
            "Validation error",
            validation_errors={
                "filters_json": ["Value is nested too deeply (more than 32 levels)."]
            },
        )
    assert run_count(api) == before
    body = {"project": 1, "project_subset": "All", "filters_json": nested(32)}
    assert ok(api.post(RUNS, json=body), 201)["filters_json"] == nested(32)


def test_json_nested_too_deeply_to_parse_is_400(api: httpx.Client) -> None:
    before = run_count(api)
    content = b'{"project": 1, "filters_json": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(content) < LIMIT
    response = api.post(RUNS, content=content, headers=JSON)
    assert_envelope(response, 400, "JSON parse error - the document is nested too deeply")
    assert run_count(api) == before


def test_every_response_has_a_request_id(server: Emulator) -> None:
    with server.client() as ada, server.client(token="not-a-token") as stranger:
        responses = [
            ada.get(RUNS),
            ada.get("/api/prompts/999/versions/1/inference-runs"),
            stranger.get(RUNS),
            ada.get("/_emulator/health"),
            ada.get("/metrics"),
        ]
    assert [r.status_code for r in responses] == [200, 404, 401, 200, 200]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_valid_incoming_request_id_is_echoed_and_an_invalid_one_replaced(
    api: httpx.Client,
) -> None:
    for given in ("trace-1.2_AbC", "x" * 128):
        response = api.get(RUNS, headers={"X-Request-Id": given})
        assert response.headers["x-request-id"] == given
    response = api.post(RUNS, json={"project": 999}, headers={"X-Request-Id": "client-42"})
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "client-42"
    for bad in ("has spaces", "x" * 129, "semi;colon", ""):
        response = api.get(RUNS, headers={"X-Request-Id": bad})
        assert REQUEST_ID.match(response.headers["x-request-id"]), bad


def metrics(api: httpx.Client) -> dict[str, Any]:
    """The scraped metric families by name (counters without their _total suffix)."""
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families: dict[str, Any], name: str, sample_name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    for s in families[name].samples:
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_metrics_count_requests_runs_and_predictions(api: httpx.Client) -> None:
    before = metrics(api)
    created = [
        ok(
            api.post(
                RUNS, json={"project": 1, "project_subset": "Sample", "sample_subset_size": n}
            ),
            201,
        )
        for n in (10, 15)
    ]
    finished = [wait_final(api, run["id"]) for run in created]
    assert api.get(RUNS).status_code == 200
    after = metrics(api)

    assert {
        "lse_http_requests",
        "lse_http_request_duration_seconds",
        "lse_runs",
        "lse_lifecycle_lag_seconds",
        "lse_predictions",
    } <= set(after)
    assert after["lse_http_requests"].type == "counter"
    assert after["lse_http_request_duration_seconds"].type == "histogram"
    assert after["lse_runs"].type == "gauge"
    assert after["lse_lifecycle_lag_seconds"].type == "histogram"
    assert after["lse_predictions"].type == "counter"

    def requests(families: dict[str, Any], method: str, status: str) -> float:
        return sample(families, "lse_http_requests", "lse_http_requests_total",
                      method=method, route=RUNS_ROUTE, status=status)  # fmt: skip

    assert requests(after, "POST", "201") - requests(before, "POST", "201") == 2
    assert requests(after, "GET", "200") - requests(before, "GET", "200") >= 1

    def latency_count(families: dict[str, Any]) -> float:
        return sample(families, "lse_http_request_duration_seconds",
                      "lse_http_request_duration_seconds_count", method="POST", route=RUNS_ROUTE)  # fmt: skip

    assert latency_count(after) - latency_count(before) == 2

    runs = {s.labels["status"]: s.value for s in after["lse_runs"].samples}
    assert set(runs) == {"Pending", "InProgress", "Completed", "Failed", "Canceled"}
    assert runs["Completed"] >= 2
    assert sum(runs.values()) >= run_count(api)

    def made(families: dict[str, Any], outcome: str) -> float:
        return sample(families, "lse_predictions", "lse_predictions_total", outcome=outcome)

    predicted = sum(run["total_predictions"] for run in finished)
    assert made(after, "success") - made(before, "success") >= predicted
    assert made(after, "failure") >= made(before, "failure")

    def lag_count(families: dict[str, Any]) -> float:
        return sample(families, "lse_lifecycle_lag_seconds", "lse_lifecycle_lag_seconds_count")

    assert lag_count(after) - lag_count(before) >= 4  # two starts and at least two batches
    assert sample(after, "lse_lifecycle_lag_seconds", "lse_lifecycle_lag_seconds_sum") >= 0


def test_json_request_log_has_one_line_per_request_and_no_token(start_emulator) -> None:
    emulator: Emulator = start_emulator(log_format="json")
    responses: list[httpx.Response] = []
    with emulator.client() as ada, emulator.client(token="wrong-secret-4f1e") as stranger:
        responses.append(ada.post(RUNS, json={"project": 1}))
        responses.append(ada.get(RUNS, headers={"X-Request-Id": "from-the-client"}))
        responses.append(ada.get("/api/prompts/999/versions/1/inference-runs"))
        responses.append(stranger.get(RUNS))
        personal = ada.post("/api/token/")
        responses.append(personal)
        refresh = ok(personal, 201)["token"]
        responses.append(ada.post("/api/token/refresh/", json={"refresh": refresh}))
        access = ok(responses[-1])["access"]
        with emulator.client(token=None) as bearer:
            bearer.headers["Authorization"] = f"Bearer {access}"
            responses.append(bearer.get(RUNS))
    assert [r.status_code for r in responses] == [201, 200, 404, 401, 201, 200, 200]

    def logged() -> dict[str, list[dict[str, Any]]] | None:
        lines: dict[str, list[dict[str, Any]]] = {}
        for line in emulator.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                lines.setdefault(entry["request_id"], []).append(entry)
        wanted = {r.headers["x-request-id"] for r in responses}
        return lines if wanted <= set(lines) else None

    lines = poll(logged, 10, "the request log lines")
    for response in responses:
        (entry,) = lines[response.headers["x-request-id"]]
        assert entry["method"] == response.request.method
        assert entry["path"] == response.request.url.path
        assert entry["status"] == response.status_code
        assert entry["ms"] >= 0
    assert lines["from-the-client"][0]["user_id"] == 1
    # The file holds stdout too, where `serve` prints the demo token once, as the README says;
    # no other line may carry a token.
    banner = f"API token (ada@acme.test): {ADA_TOKEN}"
    text = emulator.log.read_text()
    assert text.count(banner) == 1
    text = text.replace(banner, "")
    for secret in (ADA_TOKEN, "wrong-secret-4f1e", refresh, access):
        assert secret not in text
