"""The virtual clock, the policy and the run lifecycle they drive."""

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .support import (
    RUNS,
    SLOW,
    advance,
    assert_invalid,
    at,
    create_run,
    freeze_at_t0,
    get_run,
    ok,
    pending_run,
    set_policy,
)

BOOT_POLICY = {
    "queue_delay_seconds": 0.2,
    "tasks_per_second": 2000.0,
    "batch_size": 25,
    "sample_subset_size": 20,
    "failure_threshold": 0.5,
    "random_seed": 0,
    "inference_mode": "simulated",
}


def test_clock_runs_on_wall_time_after_boot(control):
    body = ok(control.get("/_emulator/clock"))
    assert list(body) == ["now", "frozen"] and body["frozen"] is False
    now = datetime.fromisoformat(body["now"])
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(hours=1)


def test_frozen_clock_stands_still_until_set_or_advanced(control):
    frozen = ok(control.post("/_emulator/clock", json={"freeze": True}))
    assert frozen == {"now": frozen["now"], "frozen": True, "runs": []}
    assert ok(control.get("/_emulator/clock")) == {"now": frozen["now"], "frozen": True}
    assert ok(control.post("/_emulator/clock", json={"set": "2030-01-01T01:00:00+01:00"})) == {
        "now": at(0),
        "frozen": True,
        "runs": [],
    }
    assert advance(control, 90.5) == {"now": at(90.5), "frozen": True, "runs": []}
    assert ok(control.get("/_emulator/clock")) == {"now": at(90.5), "frozen": True}


def test_unfrozen_clock_moves_on_from_where_it_stood(control):
    freeze_at_t0(control)
    body = ok(control.post("/_emulator/clock", json={"freeze": False}))
    assert body["frozen"] is False and body["runs"] == []
    assert datetime.fromisoformat(body["now"]) >= datetime.fromisoformat(at(0))
    assert datetime.fromisoformat(body["now"]) < datetime.fromisoformat(at(3600))


def test_setting_a_running_clock_keeps_it_running(control):
    body = ok(control.post("/_emulator/clock", json={"set": at(0)}))
    assert body["frozen"] is False
    now = datetime.fromisoformat(ok(control.get("/_emulator/clock"))["now"])
    assert datetime.fromisoformat(at(0)) <= now < datetime.fromisoformat(at(3600))


CLOCK_RANGE = "The clock can show instants from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z."


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({}, {"non_field_errors": ["give exactly one of freeze, set, advance_seconds"]}),
        (
            {"freeze": True, "advance_seconds": 1},
            {"non_field_errors": ["give exactly one of freeze, set, advance_seconds"]},
        ),
        (
            {"advance_seconds": -1},
            {"advance_seconds": ["Input should be greater than or equal to 0"]},
        ),
        ({"set": "2030-01-01T00:00:00"}, {"set": ["Input should have timezone info"]}),
        ({"rewind": 5}, {"rewind": ["Extra inputs are not permitted"]}),
        ({"set": "9999-12-31T23:59:59Z"}, {"set": [CLOCK_RANGE]}),
        ({"set": "1900-01-01T00:00:00Z"}, {"set": [CLOCK_RANGE]}),
        (
            {"advance_seconds": 315360001},
            {"advance_seconds": ["Input should be less than or equal to 315360000"]},
        ),
    ],
)
def test_bad_clock_change_is_400_and_changes_nothing(control, change, errors):
    freeze_at_t0(control)
    assert_invalid(control.post("/_emulator/clock", json=change), errors)
    assert ok(control.get("/_emulator/clock")) == {"now": at(0), "frozen": True}


def test_advance_past_the_last_instant_is_400_and_changes_nothing(control):
    ok(control.post("/_emulator/clock", json={"freeze": True}))
    ok(control.post("/_emulator/clock", json={"set": "8999-12-31T00:00:00Z"}))
    assert_invalid(
        control.post("/_emulator/clock", json={"advance_seconds": 2 * 86400}),
        {"advance_seconds": [CLOCK_RANGE]},
    )
    assert ok(control.get("/_emulator/clock")) == {"now": "8999-12-31T00:00:00Z", "frozen": True}


def test_policy_starts_as_the_settings(control):
    assert ok(control.get("/_emulator/policy")) == BOOT_POLICY


def test_policy_put_merges_the_given_fields(control):
    expected = BOOT_POLICY | {"batch_size": 5, "failure_threshold": 0.25}
    assert set_policy(control, batch_size=5, failure_threshold=0.25) == expected
    assert set_policy(control, random_seed=7) == expected | {"random_seed": 7}
    assert ok(control.get("/_emulator/policy")) == expected | {"random_seed": 7}


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"batch_size": 5, "speed": 3}, {"speed": ["Extra inputs are not permitted"]}),
        (
            {"tasks_per_second": 0},
            {"tasks_per_second": ["Input should be greater than or equal to 0.001"]},
        ),
        (
            {"failure_threshold": 1.5},
            {"failure_threshold": ["Input should be less than or equal to 1"]},
        ),
        ({"batch_size": None}, {"batch_size": ["Input should be a valid integer"]}),
        (
            {"batch_size": "many"},
            {
                "batch_size": [
                    "Input should be a valid integer, unable to parse string as an integer"
                ]
            },
        ),
    ],
)
def test_bad_policy_is_400_naming_the_field_and_changes_nothing(control, change, errors):
    assert_invalid(control.put("/_emulator/policy", json=change), errors)
    assert ok(control.get("/_emulator/policy")) == BOOT_POLICY


def test_run_moves_exactly_as_the_policy_and_the_advanced_clock_say(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    created = create_run(ada)
    run_id = created["id"]
    assert created == pending_run(run_id, at(0))

    assert advance(control, 4.9) == {"now": at(4.9), "frozen": True, "runs": []}
    assert get_run(ada, run_id) == created

    started = pending_run(run_id, at(0), status="InProgress", total_tasks=90, triggered_at=at(5))
    assert advance(control, 0.1) == {"now": at(5), "frozen": True, "runs": [started]}

    moved = advance(control, 3)
    (run,) = moved["runs"]
    assert moved == {"now": at(8), "frozen": True, "runs": [run]}
    assert run == started | {
        "total_predictions": 30,
        "total_correct_predictions": run["total_correct_predictions"],
        "predictions_updated_at": at(8),
    }
    assert 0 <= run["total_correct_predictions"] <= 30

    # 60 tasks are left: six more batches, the last one due at 14 s.
    (run,) = advance(control, 5.9)["runs"]
    assert (run["status"], run["total_predictions"]) == ("InProgress", 80)
    ended = advance(control, 0.1)
    (run,) = ended["runs"]
    assert ended == {"now": at(14), "frozen": True, "runs": [run]}
    assert run == started | {
        "status": "Completed",
        "total_predictions": 90,
        "total_correct_predictions": run["total_correct_predictions"],
        "predictions_updated_at": at(14),
        "completed_at": at(14),
    }
    assert run["total_correct_predictions"] <= run["total_predictions"] == run["total_tasks"]
    assert get_run(ada, run_id) == run
    assert advance(control, 3600)["runs"] == []


def test_advancing_applies_every_due_step_in_time_order(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    first = create_run(ada)["id"]
    advance(control, 2)
    second = create_run(ada, project_subset="Sample", sample_subset_size=20)["id"]
    body = advance(control, 60)
    assert [r["id"] for r in body["runs"]] == [first, second]
    runs = {r["id"]: r for r in body["runs"]}
    assert runs[first]["completed_at"] == at(14)
    assert runs[second] == pending_run(
        second,
        at(2),
        project_subset="Sample",
        sample_subset_size=20,
        status="Completed",
        total_tasks=20,
        total_predictions=20,
        total_correct_predictions=runs[second]["total_correct_predictions"],
        triggered_at=at(7),
        predictions_updated_at=at(9),
        completed_at=at(9),
    )


def test_setting_a_later_instant_applies_the_steps_due_until_then(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    run_id = create_run(ada)["id"]
    body = ok(control.post("/_emulator/clock", json={"set": at(6)}))
    (run,) = body["runs"]
    assert body == {"now": at(6), "frozen": True, "runs": [run]}
    assert (run["id"], run["status"], run["total_predictions"]) == (run_id, "InProgress", 10)
    assert advance(control, 0) == {"now": at(6), "frozen": True, "runs": []}


def test_nothing_moves_on_its_own_while_the_clock_is_frozen(control, ada):
    ok(control.post("/_emulator/clock", json={"freeze": True}))
    run = create_run(ada)
    waited = ok(control.get(f"/_emulator/runs/{run['id']}/wait?status=InProgress&timeout=1"))
    assert waited == run | {"timed_out": True}


def test_unfrozen_runs_progress_on_wall_time(control, ada):
    run = create_run(ada)
    waited = ok(control.get(f"/_emulator/runs/{run['id']}/wait?status=Completed&timeout=60"))
    assert waited["timed_out"] is False
    assert waited["status"] == "Completed"
    assert waited["total_predictions"] == waited["total_tasks"] == 90


def test_concurrent_creating_listing_and_advancing_loses_and_duplicates_nothing(emulator, control):
    creators, runs_each = 4, 8
    statuses: list[int] = []
    created: list[int] = []
    failures: list[Exception] = []
    lock = threading.Lock()
    done = threading.Event()

    def record(response: httpx.Response) -> httpx.Response:
        with lock:
            statuses.append(response.status_code)
        return response

    def create(index: int) -> None:
        subsets = [{"project_subset": "HasGT"}, {"project_subset": "All"},
                   {"project_subset": "Sample", "sample_subset_size": 30}]  # fmt: skip
        try:
            with emulator.client() as client:
                for n in range(runs_each):
                    body = subsets[(index + n) % len(subsets)]
                    response = record(client.post(RUNS, json={"project": 1, **body}))
                    if response.status_code == 201:
                        with lock:
                            created.append(response.json()["id"])
                    listed = record(client.get(RUNS)).json()
                    ids = [run["id"] for run in listed]
                    assert len(ids) == len(set(ids)), ids
        except Exception as error:  # reported by the main thread
            failures.append(error)

    def advance_repeatedly() -> None:
        try:
            with emulator.client(token=None) as client:
                while not done.is_set():
                    record(client.post("/_emulator/clock", json={"advance_seconds": 0.05}))
        except Exception as error:
            failures.append(error)

    advancer = threading.Thread(target=advance_repeatedly)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(creators)]
    advancer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    advancer.join(timeout=120)

    assert failures == []
    assert statuses and all(200 <= s < 300 for s in statuses), sorted(set(statuses))
    assert len(created) == creators * runs_each
    advance(control, 3600)
    with emulator.client() as client:
        listed = ok(client.get(RUNS))
    assert sorted(r["id"] for r in listed) == sorted(created)
    assert len(set(created)) == len(created)
    for run in listed:
        assert run["status"] == "Completed", run
        assert run["total_predictions"] == run["total_tasks"] > 0, run
