"""Run transitions, history, wait and forced outcomes."""

import pytest

from .support import (
    RUNS,
    SLOW,
    advance,
    assert_error,
    assert_invalid,
    at,
    create_run,
    event,
    freeze_at_t0,
    get_run,
    history,
    ok,
    pending_run,
    set_policy,
)


@pytest.fixture
def slow(control):
    """A frozen clock at T0 and the SLOW policy: 5 s Pending, then 10 tasks a second."""
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    return control


def transition(control, run_id, to, reason=None):
    body = {"to": to} | ({"reason": reason} if reason is not None else {})
    return control.post(f"/_emulator/runs/{run_id}/transition", json=body)


def test_forced_failed_outcome_ends_the_run_failed(slow, ada):
    run = create_run(ada, outcome="Failed")
    (ended,) = advance(slow, 60)["runs"]
    assert ended == pending_run(
        run["id"],
        at(0),
        status="Failed",
        total_tasks=90,
        total_predictions=90,
        total_correct_predictions=ended["total_correct_predictions"],
        triggered_at=at(5),
        predictions_updated_at=at(14),
        completed_at=at(14),
    )
    assert history(slow, run["id"])["events"][-1] == event(
        "InProgress", "Failed", at(14), "outcome", "outcome chosen at creation"
    )


def test_forced_completed_outcome_overrides_the_failure_threshold(slow, ada):
    seed = {"prompts": [{"id": 1, "title": "Ticket sentiment", "organization": 1,
                         "versions": [{"id": 9, "title": "broken", "failure_rate": 1.0}]}]}  # fmt: skip
    ok(slow.post("/_emulator/seed", json=seed))
    path = "/api/prompts/1/versions/9/inference-runs"
    forced = create_run(ada, outcome="Completed", path=path)["id"]
    chosen = create_run(ada, path=path)["id"]
    runs = {r["id"]: r for r in advance(slow, 60)["runs"]}
    assert {i: (r["status"], r["total_predictions"]) for i, r in runs.items()} == {
        forced: ("Completed", 0),
        chosen: ("Failed", 0),
    }
    assert history(slow, chosen)["events"][-1] == event(
        "InProgress",
        "Failed",
        at(14),
        "schedule",
        "100% of predictions failed, above the threshold of 50%",
    )


def test_stuck_run_stays_in_progress_until_a_transition_moves_it(slow, ada):
    run_id = create_run(ada, outcome="Stuck")["id"]
    advance(slow, 5)
    stuck = pending_run(run_id, at(0), status="InProgress", total_tasks=90, triggered_at=at(5))
    assert advance(slow, 7 * 86400)["runs"] == []
    assert get_run(ada, run_id) == stuck
    assert ok(transition(slow, run_id, "Completed", "unstuck by the test")) == stuck | {
        "status": "Completed",
        "total_predictions": 90,
        "total_correct_predictions": get_run(ada, run_id)["total_correct_predictions"],
        "predictions_updated_at": at(5 + 7 * 86400),
        "completed_at": at(5 + 7 * 86400),
    }
    assert history(slow, run_id)["events"][-1] == event(
        "InProgress", "Completed", at(5 + 7 * 86400), "control", "unstuck by the test"
    )


def test_stuck_run_can_be_failed_through_the_control_plane(slow, ada):
    run_id = create_run(ada, outcome="Stuck")["id"]
    advance(slow, 3600)
    failed = ok(transition(slow, run_id, "Failed"))
    assert (failed["status"], failed["completed_at"]) == ("Failed", at(3600))
    assert history(slow, run_id)["events"][-1] == event(
        "InProgress", "Failed", at(3600), "control", "moved through the control plane"
    )


def test_unknown_outcome_is_400_and_creates_no_run(control, ada):
    response = ada.post(RUNS, json={"project": 1}, headers={"X-Emulator-Outcome": "Maybe"})
    assert_error(
        response, 400, 'Unknown X-Emulator-Outcome "Maybe": use one of Completed, Failed, Stuck.'
    )
    assert ok(ada.get(RUNS)) == []
    assert ok(control.get("/_emulator/export"))["tables"]["model_run"] == []


def test_illegal_transition_is_400_naming_the_allowed_ones(slow, ada):
    run_id = create_run(ada)["id"]
    assert_invalid(
        transition(slow, run_id, "Completed"),
        {"to": [f"Run {run_id} is Pending; it can move to: InProgress, Canceled."]},
    )
    assert ok(transition(slow, run_id, "InProgress"))["status"] == "InProgress"
    assert_invalid(
        transition(slow, run_id, "InProgress"),
        {"to": [f"Run {run_id} is InProgress; it can move to: Completed, Failed, Canceled."]},
    )
    assert ok(transition(slow, run_id, "Canceled"))["status"] == "Canceled"
    for to in ("InProgress", "Completed", "Failed", "Canceled"):
        assert_invalid(
            transition(slow, run_id, to),
            {"to": [f"Run {run_id} is Canceled; it can move to: none (the run has ended)."]},
        )
    assert_invalid(
        transition(slow, run_id, "Pending"),
        {"to": ["Input should be 'InProgress', 'Completed', 'Failed' or 'Canceled'"]},
    )
    assert [e["to"] for e in history(slow, run_id)["events"]] == ["InProgress", "Canceled"]


def test_transition_of_an_unknown_run_is_404(control):
    for run_id in (999, 2**63):
        response = transition(control, run_id, "Canceled")
        assert_error(response, 404, "No ModelRun matches the given query.")


def test_starting_a_pending_run_by_hand_starts_its_schedule_now(slow, ada):
    run_id = create_run(ada)["id"]
    advance(slow, 1)
    started = pending_run(run_id, at(0), status="InProgress", total_tasks=90, triggered_at=at(1))
    assert ok(transition(slow, run_id, "InProgress")) == started
    (run,) = advance(slow, 1)["runs"]
    assert run == started | {
        "total_predictions": 10,
        "total_correct_predictions": run["total_correct_predictions"],
        "predictions_updated_at": at(2),
    }


def test_completing_a_run_midway_makes_the_remaining_predictions(slow, ada):
    full = create_run(ada)["id"]
    halfway = create_run(ada)["id"]
    advance(slow, 8)
    assert get_run(ada, halfway)["total_predictions"] == 30
    completed = ok(transition(slow, halfway, "Completed"))
    assert completed == pending_run(
        halfway,
        at(0),
        status="Completed",
        total_tasks=90,
        total_predictions=90,
        total_correct_predictions=completed["total_correct_predictions"],
        triggered_at=at(5),
        predictions_updated_at=at(8),
        completed_at=at(8),
    )
    advance(slow, 60)
    # The same predictions as a run left to its schedule.
    assert completed["total_correct_predictions"] == get_run(ada, full)["total_correct_predictions"]
    assert advance(slow, 60)["runs"] == []


def test_history_records_every_change_with_its_cause(slow, ada):
    scheduled = create_run(ada)["id"]
    canceled = create_run(ada)["id"]
    controlled = create_run(ada)["id"]
    advance(slow, 6)
    ok(ada.post(f"{RUNS}/{canceled}/cancel"))
    ok(transition(slow, controlled, "Canceled", "no longer needed"))
    advance(slow, 60)
    assert history(slow, scheduled) == {
        "run": scheduled,
        "status": "Completed",
        "events": [
            event("Pending", "InProgress", at(5), "schedule"),
            event("InProgress", "Completed", at(14), "schedule"),
        ],
    }
    assert history(slow, canceled) == {
        "run": canceled,
        "status": "Canceled",
        "events": [
            event("Pending", "InProgress", at(5), "schedule"),
            event("InProgress", "Canceled", at(6), "cancel", "canceled through the API"),
        ],
    }
    assert history(slow, controlled)["events"][-1] == event(
        "InProgress", "Canceled", at(6), "control", "no longer needed"
    )


def test_history_of_a_new_run_is_empty_and_of_an_unknown_run_404(slow, ada):
    run_id = create_run(ada)["id"]
    assert history(slow, run_id) == {"run": run_id, "status": "Pending", "events": []}
    assert_error(
        slow.get("/_emulator/runs/999/history"), 404, "No ModelRun matches the given query."
    )


def test_restart_is_noted_in_the_history_of_runs_in_flight(start_emulator, tmp_path):
    first = start_emulator(data_dir=tmp_path / "data")
    with first.client(token=None) as control, first.client() as ada:
        freeze_at_t0(control)
        run_id = create_run(ada)["id"]
    first.stop()
    second = start_emulator(data_dir=tmp_path / "data")
    with second.client(token=None) as control:
        assert history(control, run_id) == {
            "run": run_id,
            "status": "Pending",
            "events": [event("Pending", "Pending", at(0), "restart", "server started")],
        }


def test_wait_answers_as_soon_as_the_run_reaches_the_status(control, ada):
    run = create_run(ada)
    waited = ok(control.get(f"/_emulator/runs/{run['id']}/wait", params={"status": "Completed"}))
    assert waited == get_run(ada, run["id"]) | {"timed_out": False}
    assert waited["status"] == "Completed"


def test_wait_accepts_several_statuses(slow, ada):
    run_id = create_run(ada)["id"]
    advance(slow, 5)
    waited = ok(slow.get(f"/_emulator/runs/{run_id}/wait", params={"status": "InProgress,Failed"}))
    assert (waited["status"], waited["timed_out"]) == ("InProgress", False)


def test_wait_answers_on_any_final_status(slow, ada):
    run_id = create_run(ada)["id"]
    ok(transition(slow, run_id, "Canceled"))
    waited = ok(slow.get(f"/_emulator/runs/{run_id}/wait?status=InProgress&timeout=30"))
    assert (waited["status"], waited["timed_out"]) == ("Canceled", False)


def test_wait_times_out_with_the_current_state(slow, ada):
    run = create_run(ada)
    waited = ok(slow.get(f"/_emulator/runs/{run['id']}/wait?status=Completed&timeout=0.5"))
    assert waited == run | {"timed_out": True}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "status=Done",
            {
                "status": [
                    '"Done" is not a status; use Pending, InProgress, Completed, Failed, Canceled.'
                ]
            },
        ),
        (
            "status=Completed,Later,Done",
            {
                "status": [
                    '"Done,Later" is not a status; use Pending, InProgress, Completed, Failed, Canceled.'
                ]
            },
        ),
        (
            "status=",
            {
                "status": [
                    '"" is not a status; use Pending, InProgress, Completed, Failed, Canceled.'
                ]
            },
        ),
        ("timeout=301", {"timeout": ["Input should be less than or equal to 300"]}),
        ("timeout=-1", {"timeout": ["Input should be greater than or equal to 0"]}),
    ],
)
def test_bad_wait_query_is_400(control, ada, query, errors):
    run_id = create_run(ada)["id"]
    assert_invalid(control.get(f"/_emulator/runs/{run_id}/wait?{query}"), errors)


def test_wait_for_an_unknown_run_is_404(control):
    response = control.get("/_emulator/runs/999/wait?timeout=1")
    assert_error(response, 404, "No ModelRun matches the given query.")
