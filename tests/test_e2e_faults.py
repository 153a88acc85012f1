"""Fault rules end to end: the official client against a real server process retries the
faults Label Studio's stack answers (429, 5xx), sees delays and dropped connections, and a
faulted create creates nothing. Two processes on one database share every rule's counts."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, Emulator, postgres_database
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

FAULTS = "/_emulator/faults"
CREATE = {"method": "POST", "path": "/api/prompts/*/versions/*/inference-runs"}


@pytest.fixture(scope="module")
def emulator(server: Emulator) -> Emulator:
    """The session's server process (conftest's `server`): its tests add rules and reset it."""
    return server


@pytest.fixture
def control(emulator: Emulator) -> Iterator[httpx.Client]:
    with emulator.client(token=None) as client:
        assert client.post("/_emulator/reset").status_code == 200
        yield client


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json()


def add_rule(control: httpx.Client, **rule: Any) -> dict[str, Any]:
    return ok(control.post(FAULTS, json=rule), 201)


def sdk(emulator: Emulator, api_key: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=api_key, timeout=30)


def run_ids(client: LabelStudio) -> list[int]:
    return [run.id for run in client.prompts.runs.list(prompt_id=1, version_id=1)]


def test_the_client_retries_two_throttled_creates_and_makes_one_run(emulator, control):
    rule = add_rule(control, **CREATE, status=429, times=2, retry_after=1)
    client = sdk(emulator)
    run = client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    assert run.status == "Pending"
    assert run_ids(client) == [run.id]
    assert ok(control.get(FAULTS)) == [rule | {"matched": 2, "fired": 2}]
    statuses = [
        e["status"] for e in ok(control.get("/_emulator/requests", params={"method": "POST"}))
    ]
    assert statuses == [201, 429, 429]


def test_five_throttled_creates_outlast_the_client_and_make_no_run(emulator, control):
    add_rule(control, **CREATE, status=429, times=5, retry_after=1)
    client = sdk(emulator)
    with pytest.raises(ApiError) as raised:
        client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    assert raised.value.status_code == 429
    body = raised.value.body
    assert body["detail"] == "Request was throttled. Expected available in 1 second."
    assert body["status_code"] == 429
    assert raised.value.headers["retry-after"] == "1"
    assert run_ids(client) == []


def test_a_gateway_error_reaches_the_client_as_nginx_text(emulator, control):
    add_rule(control, **CREATE, status=502)
    client = sdk(emulator)
    with pytest.raises(ApiError) as raised:
        client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    assert raised.value.status_code == 502
    assert "<center><h1>502 Bad Gateway</h1></center>" in raised.value.body
    assert run_ids(client) == []


def test_a_delay_shows_in_the_clients_timing(emulator, control):
    add_rule(control, method="GET", path="/api/prompts/1/versions/1/inference-runs", delay_ms=800)
    client = sdk(emulator)
    started = time.monotonic()
    assert run_ids(client) == []
    assert time.monotonic() - started >= 0.8


def test_a_dropped_connection_is_a_protocol_error_for_the_client(emulator, control):
    rule = add_rule(control, **CREATE, drop=True)
    client = sdk(emulator)
    with pytest.raises(httpx.RemoteProtocolError):
        client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    # The client tried three times (it retries a lost connection too); nothing was created.
    assert ok(control.get(FAULTS))[0]["fired"] == 3
    assert run_ids(client) == []
    journal = ok(control.get("/_emulator/requests", params={"method": "POST"}))
    assert [(e["status"], e["fault"]) for e in journal] == [(0, rule["id"])] * 3


def test_probability_gives_the_same_faults_for_the_same_seed(emulator, control):
    def pattern() -> list[int]:
        ok(control.post("/_emulator/reset"))
        ok(control.put("/_emulator/policy", json={"random_seed": 42}))
        add_rule(control, method="GET", path="/api/projects/1/subsets", status=500,
                 probability=0.3)  # fmt: skip
        with emulator.client() as ada:
            return [ada.get("/api/projects/1/subsets").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 500}
    assert pattern() == first


def test_a_rule_for_one_user_spares_the_others(emulator, control):
    add_rule(control, path="/api/prompts/**", status=503, user=2)
    ada, hank = sdk(emulator), sdk(emulator, HANK_TOKEN)
    assert run_ids(ada) == []
    with pytest.raises(ApiError) as raised:
        hank.prompts.runs.list(prompt_id=2, version_id=3)
    assert raised.value.status_code == 503


def test_a_rule_for_one_organization_spares_the_others(emulator, control):
    add_rule(control, path="/api/prompts/**", status=500, organization=1)
    with pytest.raises(ApiError) as raised:
        run_ids(sdk(emulator))
    assert raised.value.status_code == 500
    assert sdk(emulator, HANK_TOKEN).prompts.runs.list(prompt_id=2, version_id=3) == []


def test_after_lets_the_first_requests_through(emulator, control):
    add_rule(control, **CREATE, status=500, after=2, times=3)
    client = sdk(emulator)
    client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    with pytest.raises(ApiError) as raised:
        client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    assert raised.value.status_code == 500
    assert raised.value.body["detail"] == "Internal server error"
    assert len(run_ids(client)) == 2


def test_two_processes_on_one_database_fire_a_rule_exactly_its_times(
    start_emulator, tmp_path: Path
):
    with postgres_database() as url:
        first = start_emulator(tmp_path / "a", database_url=url)
        second = start_emulator(tmp_path / "b", database_url=url)
        with first.client(token=None) as control:
            add_rule(control, method="GET", path="/api/projects/1/subsets", status=503, times=2)
        clients = [first.client(), second.client()]
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(
                    pool.map(
                        lambda i: clients[i % 2].get("/api/projects/1/subsets").status_code,
                        range(40),
                    )
                )
        finally:
            for client in clients:
                client.close()
        assert sorted(statuses).count(503) == 2
        assert statuses.count(200) == 38
        with second.client(token=None) as control:
            (rule,) = ok(control.get(FAULTS))
        # Requests that read the rule before it was spent count as matched, never as fired.
        assert rule["fired"] == 2
        assert rule["matched"] >= 2


def test_the_client_authenticates_with_an_x_api_key_header(emulator, control):
    client = LabelStudio(base_url=emulator.url, api_key=ADA_TOKEN, headers={"X-API-Key": ADA_TOKEN})
    assert run_ids(client) == []
    hank = LabelStudio(base_url=emulator.url, api_key=HANK_TOKEN, headers={"X-API-Key": HANK_TOKEN})
    with pytest.raises(ApiError) as raised:
        hank.prompts.runs.list(prompt_id=1, version_id=1)
    assert raised.value.status_code == 404
    wrong = LabelStudio(base_url=emulator.url, api_key="wrong", headers={"X-API-Key": "wrong"})
    with pytest.raises(ApiError) as raised:
        run_ids(wrong)
    assert (raised.value.status_code, raised.value.body["detail"]) == (401, "Invalid token.")


def test_the_client_sends_a_personal_access_token_in_x_api_key(emulator, control):
    with emulator.client() as ada:
        token = ok(ada.post("/api/token/"), 201)["token"]
    client = LabelStudio(base_url=emulator.url, api_key=token, headers={"X-API-Key": token})
    assert run_ids(client) == []
