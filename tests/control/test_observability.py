"""Observability in-process: runs by status as a gauge, request counters, request ids, the log
line of each request and the body-size limit. tests/production checks the same through a real
process; here the mutation run sees them."""

import logging
import re
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .support import RUNS, advance, assert_error, create_run, freeze_at_t0, ok

ROUTE = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"
LIMIT = 1_048_576
TOO_LARGE = f"Request body is too large: the limit is {LIMIT} bytes."
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def scrape(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics by (sample name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def runs_gauge(client: httpx.Client) -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for (name, labels), value in scrape(client).items()
        if name == "lse_runs"
    }


def test_runs_are_counted_by_status_at_scrape_time(control, ada):
    assert runs_gauge(control) == dict.fromkeys(
        ["Pending", "InProgress", "Completed", "Failed", "Canceled"], 0
    )
    freeze_at_t0(control)
    finished = create_run(ada, project_subset="Sample", sample_subset_size=3)["id"]
    advance(control, 60)
    canceled = create_run(ada)["id"]
    ok(ada.post(f"{RUNS}/{canceled}/cancel"))
    create_run(ada, "Failed", project_subset="Sample", sample_subset_size=1)
    create_run(ada)
    create_run(ada)
    assert ok(ada.get(f"{RUNS}"))[0]["id"] == finished

    assert runs_gauge(control) == {
        "Pending": 3, "InProgress": 0, "Completed": 1, "Failed": 0, "Canceled": 1
    }  # fmt: skip
    advance(control, 60)
    assert runs_gauge(control) == {
        "Pending": 0, "InProgress": 0, "Completed": 3, "Failed": 1, "Canceled": 1
    }  # fmt: skip


def test_each_request_is_counted_once_by_method_route_and_status(control, ada):
    def count(samples, method, status) -> float:
        labels = (("method", method), ("route", ROUTE), ("status", status))
        return samples.get(("lse_http_requests_total", labels), 0)

    def timed(samples, method) -> float:
        labels = (("method", method), ("route", ROUTE))
        return samples.get(("lse_http_request_duration_seconds_count", labels), 0)

    before = scrape(control)
    ok(ada.get(RUNS))
    ok(ada.get(RUNS))
    ada.post(RUNS, json={"project": 999})
    after = scrape(control)

    assert count(after, "GET", "200") - count(before, "GET", "200") == 2
    assert count(after, "POST", "400") - count(before, "POST", "400") == 1
    assert count(after, "POST", "201") - count(before, "POST", "201") == 0
    assert timed(after, "GET") - timed(before, "GET") == 2
    assert timed(after, "POST") - timed(before, "POST") == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    ada.get("/api/nowhere")
    assert scrape(control)[("lse_http_requests_total", unmatched)] >= 1


@pytest.mark.parametrize("given", ["trace-1.2_AbC", "x" * 128, "A"])
def test_a_valid_incoming_request_id_is_echoed(ada, given):
    assert ada.get(RUNS, headers={"X-Request-Id": given}).headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["has spaces", "x" * 129, "semi;colon", "", "a/b"])
def test_an_invalid_request_id_is_replaced_by_a_fresh_one(ada, given):
    first = ada.get(RUNS, headers={"X-Request-Id": given}).headers["x-request-id"]
    second = ada.get(RUNS, headers={"X-Request-Id": given}).headers["x-request-id"]
    assert GENERATED_ID.match(first) and GENERATED_ID.match(second) and first != second


def test_each_request_logs_one_line_with_its_id_status_and_user(ada, caplog):
    caplog.set_level(logging.INFO, logger="lse_emulator.requests")
    ada.get(RUNS, headers={"X-Request-Id": "one-line"})
    ada.get("/api/prompts/999/versions/1/inference-runs", headers={"X-Request-Id": "missing"})

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "lse_emulator.requests"]

    # The line is written once the answer has been sent: wait for it, up to a deadline.
    deadline = time.monotonic() + 10
    wanted = ("request_id=one-line ", "request_id=missing ")
    while not all(any(line.startswith(w) for line in lines()) for w in wanted):
        assert time.monotonic() < deadline, f"a request's log line is missing from {lines()}"
        time.sleep(0.01)
    (found,) = [line for line in lines() if line.startswith("request_id=one-line ")]
    assert re.fullmatch(
        rf"request_id=one-line method=GET path={RUNS} status=200 ms=\d+(\.\d+)? user_id=1", found
    ), found
    (missing,) = [line for line in lines() if line.startswith("request_id=missing ")]
    assert " status=404 " in missing and missing.endswith(" user_id=1")


def padded(size: int) -> bytes:
    """A run-creating JSON body of exactly ``size`` bytes."""
    body = b'{"project": 1, "project_subset": "Sample", "sample_subset_size": 3}'
    return body + b" " * (size - len(body))


def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_refused(control, ada):
    json = {"Content-Type": "application/json"}
    accepted = ada.post(RUNS, content=padded(LIMIT), headers=json)
    assert accepted.status_code == 201, accepted.text

    refused = ada.post(RUNS, content=padded(LIMIT + 1), headers=json)
    assert_error(refused, 413, TOO_LARGE)
    assert GENERATED_ID.match(refused.headers["x-request-id"])

    def chunks():
        body = padded(LIMIT + 1)
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    assert_error(ada.post(RUNS, content=chunks(), headers=json), 413, TOO_LARGE)
    assert len(ok(ada.get(RUNS))) == 1
