"""End to end with the official client: label-studio-sdk against a real emulator process."""

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from conftest import ADA_TOKEN, FAST, HANK_TOKEN, TLS, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.types import ModelRun

PROMPT = 1  # demo seed: organization 1's prompt
EXACT = 1  # its version with failure_rate 0: every task gets a prediction
FLAKY = 2  # its version with failure_rate 0.02
SUPPORT, REVIEWS = 1, 2  # demo projects of organization 1 (300 tasks / 90 GT, 120 / 40)
SLOW = {"tasks_per_second": 5, "batch_size": 1}
ENVELOPE_KEYS = ["id", "status_code", "version", "detail", "exc_info"]
T = TypeVar("T")


def sdk(emulator: Emulator, api_key: str = ADA_TOKEN, **options: Any) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=api_key, timeout=30, **options)


def poll(fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 60) -> T:
    """Fetch until done(value) holds, failing with the last value once the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}; last seen: {value!r}")
        time.sleep(0.05)


def get_run(client: LabelStudio, run: ModelRun) -> ModelRun:
    """The run as runs.list shows it now."""
    runs = client.prompts.runs.list(
        prompt_id=run.parent_model, version_id=run.model_version, project=run.project
    )
    return next(listed for listed in runs if listed.id == run.id)


def wait_until(client: LabelStudio, run: ModelRun, done: Callable[[ModelRun], bool], what: str):
    return poll(lambda: get_run(client, run), done, f"run {run.id} {what}")


def wait_for_end(client: LabelStudio, run: ModelRun) -> ModelRun:
    return wait_until(client, run, lambda r: r.status in ("Completed", "Failed", "Canceled"), "end")


def subset_counts(client: LabelStudio, project: int) -> dict[str, int]:
    return {item.subset: item.count for item in client.prompts.subsets(project_pk=project)}


def prediction_count(emulator: Emulator, version: int, **query: Any) -> dict[str, int]:
    with emulator.client() as http:
        response = http.get(
            f"/api/prompts/{PROMPT}/versions/{version}/prediction-count", params=query
        )
    assert response.status_code == 200, response.text
    return response.json()


def database(emulator: Emulator) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(emulator.data_dir / "lse-emulator.sqlite3"))


def assert_consistent_totals(run: ModelRun) -> None:
    assert 0 <= run.total_correct_predictions <= run.total_predictions <= run.total_tasks
    assert run.created_at <= run.triggered_at <= run.completed_at


def assert_envelope(error: ApiError, status: int, detail: str) -> dict[str, Any]:
    assert error.status_code == status
    body = error.body
    assert list(body)[: len(ENVELOPE_KEYS)] == ENVELOPE_KEYS
    assert (body["status_code"], body["detail"], body["exc_info"]) == (status, detail, None)
    assert uuid.UUID(body["id"]).version == 4
    return body


# Authentication


def test_legacy_key_client_reads_the_subsets_the_http_api_lists(server: Emulator) -> None:
    client = sdk(server)

    subsets = client.prompts.subsets(project_pk=SUPPORT)

    with server.client() as http:
        listed = http.get(f"/api/projects/{SUPPORT}/subsets").json()
    assert [(s.subset, s.count) for s in subsets] == [(s["subset"], s["count"]) for s in listed]
    assert [s.subset for s in subsets] == ["All", "HasGT", "Sample"]
    assert (subsets[0].count, subsets[1].count) == (300, 90)


@pytest.fixture(scope="module")
def personal_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, str]]:
    """An emulator of its own (a user has one valid personal token at a time) and Ada's token."""
    emulator = Emulator(tmp_path_factory.mktemp("personal-token"), dict(FAST)).start()
    try:
        yield emulator, sdk(emulator).tokens.create().token
    finally:
        emulator.stop()


def test_personal_token_is_a_refresh_jwt_listed_without_its_signature(
    personal_token: tuple[Emulator, str],
) -> None:
    emulator, refresh = personal_token

    claims = jwt.decode(refresh, options={"verify_signature": False})

    assert (claims["token_type"], claims["user_id"]) == ("refresh", "1")
    assert claims["exp"] > claims["iat"]
    # Listed as Label Studio lists it: header and payload only, never a usable token.
    shown = ".".join(refresh.split(".")[:2])
    assert [t.token for t in sdk(emulator).tokens.list()] == [shown]
    assert [t.token for t in sdk(emulator).tokens.list(ordering="-created_at")] == [shown]


def test_refresh_jwt_key_is_exchanged_for_access_tokens(
    personal_token: tuple[Emulator, str],
) -> None:
    emulator, refresh = personal_token
    sent: list[httpx.Request] = []

    with httpx.Client(timeout=30, event_hooks={"request": [sent.append]}, verify=TLS) as recording:
        client = sdk(emulator, api_key=refresh, httpx_client=recording)
        run = client.prompts.runs.create(prompt_id=PROMPT, version_id=EXACT, project=REVIEWS)
        listed = client.prompts.runs.list(prompt_id=PROMPT, version_id=EXACT, project=REVIEWS)

    assert run.created_by.id == 1 and run.created_by.username == "ada"
    assert run.id in [r.id for r in listed]
    exchange, *calls = sent
    assert (exchange.method, exchange.url.path) == ("POST", "/api/token/refresh/")
    assert "authorization" not in exchange.headers
    scheme, access = calls[0].headers["authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt.decode(access, options={"verify_signature": False})["token_type"] == "access"
    assert {c.headers["authorization"] for c in calls} == {f"Bearer {access}"}


def test_refresh_jwt_itself_is_refused_as_a_bearer_token(
    personal_token: tuple[Emulator, str],
) -> None:
    emulator, refresh = personal_token
    access = sdk(emulator).tokens.refresh(refresh=refresh).access

    with httpx.Client(base_url=emulator.url, timeout=30, verify=TLS) as http:
        as_refresh = http.get("/api/token/", headers={"Authorization": f"Bearer {refresh}"})
        as_access = http.get("/api/token/", headers={"Authorization": f"Bearer {access}"})

    assert as_refresh.status_code == 401
    assert as_access.status_code == 200


def test_second_personal_token_is_a_conflict(personal_token: tuple[Emulator, str]) -> None:
    emulator, _ = personal_token

    with pytest.raises(ApiError) as raised:
        sdk(emulator).tokens.create(request_options={"max_retries": 0})

    assert_envelope(
        raised.value,
        409,
        "You already have a valid token. Please revoke it before creating a new one.",
    )


def test_wrong_legacy_key_is_401(server: Emulator) -> None:
    with pytest.raises(ApiError) as raised:
        sdk(server, api_key="not-a-key").prompts.runs.list(prompt_id=PROMPT, version_id=EXACT)

    assert_envelope(raised.value, 401, "Invalid token.")


# Runs


def test_create_answers_a_pending_run_with_the_fields_sent(server: Emulator) -> None:
    client = sdk(server)
    updated = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    run = client.prompts.runs.create(
        prompt_id=PROMPT,
        version_id=EXACT,
        project=REVIEWS,
        project_subset="Sample",
        sample_subset_size=3,
        job_id="job-42",
        organization=1,
        predictions_updated_at=updated,
    )

    assert (run.status, run.project, run.model_version, run.parent_model) == (
        "Pending",
        REVIEWS,
        EXACT,
        PROMPT,
    )
    assert (run.project_subset, run.sample_subset_size, run.job_id) == ("Sample", 3, "job-42")
    assert (run.organization, run.predictions_updated_at) == (1, updated)
    assert (run.total_tasks, run.total_predictions, run.total_correct_predictions) == (0, 0, 0)
    assert (run.triggered_at, run.completed_at, run.task_ids, run.source_model_run) == (None,) * 4
    assert run.created_by.email == "ada@acme.test"
    wait_for_end(client, run)


def test_omitted_subset_defaults_to_hasgt(server: Emulator) -> None:
    client = sdk(server)

    run = client.prompts.runs.create(prompt_id=PROMPT, version_id=EXACT, project=REVIEWS)

    assert run.project_subset == "HasGT"
    assert wait_for_end(client, run).total_tasks == subset_counts(client, REVIEWS)["HasGT"]


@pytest.mark.parametrize("subset", ["All", "HasGT", "Sample"])
def test_run_completes_over_the_subset_the_project_lists(server: Emulator, subset: str) -> None:
    client = sdk(server)
    expected = subset_counts(client, SUPPORT)[subset]
    counted = prediction_count(server, EXACT, project=SUPPORT, project_subset=subset)
    assert counted["total_tasks"] == expected

    run = client.prompts.runs.create(
        prompt_id=PROMPT, version_id=EXACT, project=SUPPORT, project_subset=subset
    )
    done = wait_for_end(client, run)

    assert done.status == "Completed"
    assert done.total_tasks == expected
    assert_consistent_totals(done)
    assert done.total_predictions == done.total_tasks  # failure_rate 0
    assert done.total_correct_predictions <= subset_counts(client, SUPPORT)["HasGT"]
    assert done.predictions_updated_at is not None


def test_sample_subset_size_of_the_run_sets_its_size(server: Emulator) -> None:
    client = sdk(server)
    counted = prediction_count(
        server, EXACT, project=SUPPORT, project_subset="Sample", sample_subset_size=7
    )
    assert counted["total_tasks"] == 7

    run = client.prompts.runs.create(
        prompt_id=PROMPT,
        version_id=EXACT,
        project=SUPPORT,
        project_subset="Sample",
        sample_subset_size=7,
    )
    done = wait_for_end(client, run)

    assert (done.status, done.total_tasks, done.total_predictions) == ("Completed", 7, 7)
    assert_consistent_totals(done)


def test_same_run_twice_gives_the_same_totals(server: Emulator) -> None:
    client = sdk(server)

    def run_once() -> ModelRun:
        return client.prompts.runs.create(
            prompt_id=PROMPT, version_id=FLAKY, project=SUPPORT, project_subset="All"
        )

    first, second = run_once(), run_once()
    first, second = wait_for_end(client, first), wait_for_end(client, second)

    def totals(run: ModelRun) -> tuple:
        return (run.status, run.total_tasks, run.total_predictions, run.total_correct_predictions)

    assert totals(first) == totals(second)
    assert first.total_tasks == subset_counts(client, SUPPORT)["All"]
    assert_consistent_totals(first)


def test_only_missing_predictions_after_a_completed_run_selects_no_task(server: Emulator) -> None:
    client = sdk(server)
    full = client.prompts.runs.create(
        prompt_id=PROMPT, version_id=EXACT, project=REVIEWS, project_subset="HasGT"
    )
    full = wait_for_end(client, full)
    assert full.status == "Completed"
    assert full.total_predictions == full.total_tasks == subset_counts(client, REVIEWS)["HasGT"]
    assert prediction_count(server, EXACT, project=REVIEWS, project_subset="HasGT") == {
        "existing_predictions": full.total_tasks,
        "tasks_to_run": 0,
        "total_tasks": full.total_tasks,
    }

    missing = client.prompts.runs.create(
        prompt_id=PROMPT,
        version_id=EXACT,
        project=REVIEWS,
        project_subset="HasGT",
        only_missing_predictions=True,
    )
    done = wait_for_end(client, missing)

    assert (done.status, done.total_tasks, done.total_predictions) == ("Completed", 0, 0)
    assert "only_missing_predictions" not in done.model_dump()


def test_cancel_stops_a_run_in_progress(start_emulator) -> None:
    emulator = start_emulator(**SLOW)
    client = sdk(emulator)
    run = client.prompts.runs.create(
        prompt_id=PROMPT, version_id=EXACT, project=SUPPORT, project_subset="All"
    )
    wait_until(
        client, run, lambda r: r.status == "InProgress" and r.total_predictions > 0, "predicting"
    )

    answer = client.prompts.runs.cancel(prompt_id=PROMPT, version_id=EXACT, inference_run_id=run.id)

    assert answer.detail
    canceled = get_run(client, run)
    assert canceled.status == "Canceled" and canceled.completed_at is not None
    assert 0 < canceled.total_predictions < canceled.total_tasks
    # Another run advancing by several steps shows the worker kept working meanwhile.
    witness = client.prompts.runs.create(
        prompt_id=PROMPT, version_id=EXACT, project=REVIEWS, project_subset="All"
    )
    wait_until(client, witness, lambda r: r.total_predictions >= 5, "predicting 5 tasks")
    after = get_run(client, run)
    assert (after.status, after.total_predictions, after.completed_at) == (
        "Canceled",
        canceled.total_predictions,
        canceled.completed_at,
    )
    with database(emulator) as db:
        rows = db.execute("SELECT COUNT(*) FROM prediction WHERE run_id = ?", (run.id,))
        assert rows.fetchone()[0] == canceled.total_predictions


def test_cancel_of_a_pending_run_leaves_it_untouched(start_emulator) -> None:
    client = sdk(start_emulator(queue_delay_seconds=3600))
    run = client.prompts.runs.create(prompt_id=PROMPT, version_id=EXACT, project=SUPPORT)

    client.prompts.runs.cancel(prompt_id=PROMPT, version_id=EXACT, inference_run_id=run.id)

    canceled = get_run(client, run)
    assert (canceled.status, canceled.triggered_at, canceled.total_tasks) == ("Canceled", None, 0)
    assert canceled.completed_at is not None


def test_run_survives_a_server_killed_mid_run(start_emulator) -> None:
    first = start_emulator(**SLOW)
    run = sdk(first).prompts.runs.create(
        prompt_id=PROMPT,
        version_id=FLAKY,
        project=SUPPORT,
        project_subset="Sample",
        sample_subset_size=25,
    )
    before = wait_until(
        sdk(first),
        run,
        lambda r: r.status == "InProgress" and r.total_predictions >= 3,
        "predicting 3 tasks",
    )
    assert before.total_predictions < before.total_tasks == 25

    first.stop(kill=True)
    second = start_emulator(data_dir=first.data_dir, **SLOW)
    done = wait_for_end(sdk(second), run)

    assert done.status == "Completed" and done.total_tasks == 25
    assert_consistent_totals(done)
    assert done.total_predictions >= before.total_predictions
    with database(second) as db:
        duplicates = db.execute(
            "SELECT run_id, task_id FROM prediction GROUP BY run_id, task_id HAVING COUNT(*) > 1"
        ).fetchall()
        (made,) = db.execute(
            "SELECT COUNT(*) FROM prediction WHERE run_id = ?", (run.id,)
        ).fetchone()
        (failed,) = db.execute(
            "SELECT COUNT(*) FROM failed_prediction WHERE run_id = ?", (run.id,)
        ).fetchone()
        (covered,) = db.execute(
            "SELECT COUNT(*) FROM (SELECT task_id FROM prediction WHERE run_id = ?"
            " UNION SELECT task_id FROM failed_prediction WHERE run_id = ?)",
            (run.id, run.id),
        ).fetchone()
    assert duplicates == []
    assert made == done.total_predictions
    assert done.total_predictions + failed == done.total_tasks == covered


# Errors


def test_unknown_version_is_an_api_error_404(server: Emulator) -> None:
    with pytest.raises(ApiError) as raised:
        sdk(server).prompts.runs.list(prompt_id=PROMPT, version_id=99999)

    body = assert_envelope(raised.value, 404, "No ThirdPartyModelVersion matches the given query.")
    assert list(body) == ENVELOPE_KEYS and body["version"] == "1.23.2"


def test_another_organizations_prompt_is_an_api_error_404(server: Emulator) -> None:
    with pytest.raises(ApiError) as raised:
        sdk(server, api_key=HANK_TOKEN).prompts.runs.create(
            prompt_id=PROMPT, version_id=EXACT, project=SUPPORT
        )

    assert_envelope(raised.value, 404, "No ModelInterface matches the given query.")


def test_invalid_body_is_an_api_error_400_with_every_bad_field(server: Emulator) -> None:
    with pytest.raises(ApiError) as raised:
        sdk(server).prompts.runs.create(
            prompt_id=PROMPT,
            version_id=EXACT,
            project=99999,
            project_subset="Foo",  # type: ignore[arg-type]
        )

    body = assert_envelope(raised.value, 400, "Validation error")
    assert body["validation_errors"] == {
        "project": ['Invalid pk "99999" - object does not exist.'],
        "project_subset": ['"Foo" is not a valid choice.'],
    }


def test_list_filter_names_only_the_subsets_a_query_can_select(server: Emulator) -> None:
    with pytest.raises(ApiError) as raised:
        sdk(server).prompts.runs.list(
            prompt_id=PROMPT,
            version_id=EXACT,
            project_subset="Custom",  # type: ignore[arg-type]
        )

    body = assert_envelope(raised.value, 400, "Validation error")
    assert body["validation_errors"] == {
        "project_subset": ["Select a valid choice. Custom is not one of the available choices."]
    }


def test_cancel_of_a_completed_run_is_an_api_error_400(server: Emulator) -> None:
    client = sdk(server)
    run = client.prompts.runs.create(prompt_id=PROMPT, version_id=EXACT, project=REVIEWS)
    assert wait_for_end(client, run).status == "Completed"

    with pytest.raises(ApiError) as raised:
        client.prompts.runs.cancel(prompt_id=PROMPT, version_id=EXACT, inference_run_id=run.id)

    assert raised.value.status_code == 400
    assert raised.value.body["status_code"] == 400
