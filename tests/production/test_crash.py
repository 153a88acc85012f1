"""A run survives its server being killed (SIGKILL) at several points, on each backend.

Each lifecycle step is one transaction: a kill loses at most the step under way, which the
restarted server applies again. The unique (run, task) keys make a second prediction of a
task impossible; the test checks the totals against the stored rows all the same.
"""

from conftest import Emulator

from .support import (
    FINAL,
    RUNS,
    assert_run_stored,
    history,
    ok,
    poll,
    query,
    stored_counts,
    tasks_in_two_tables,
    wait_final,
)

# 300 tasks (project 1, All) in batches of 5 at 35 tasks/s: about 9 s of simulated inference.
SLOW = {"queue_delay_seconds": 0.2, "tasks_per_second": 35, "batch_size": 5}
TASKS = 300


def processed(database_url: str, run_id: int) -> int:
    """Tasks of the run predicted or failed so far, as committed in the database."""
    sql = (
        "SELECT (SELECT COUNT(*) FROM prediction WHERE run_id = ?)"
        " + (SELECT COUNT(*) FROM failed_prediction WHERE run_id = ?)"
    )
    return query(database_url, sql, run_id, run_id)[0][0]


def status(database_url: str, run_id: int) -> str:
    return query(database_url, "SELECT status FROM model_run WHERE id = ?", run_id)[0][0]


def test_a_run_survives_sigkill_at_several_points(database_url: str, start_emulator) -> None:
    # database_url first: its database is dropped after the emulators are stopped.
    emulator: Emulator = start_emulator(database_url=database_url, **SLOW)
    with emulator.client() as client:
        run_id = ok(client.post(RUNS, json={"project": 1, "project_subset": "All"}), 201)["id"]

    # Kill once some batches are stored, then each time the restarted server has stored at
    # least one batch of its own (often while catching up on the steps due while it was down).
    killed_at: list[int] = []
    restarted_in_flight = 0
    threshold = 20
    for _ in range(3):
        # The restarted server may finish the run while it catches up: then it is not killed.
        poll(
            lambda at=threshold: (
                processed(database_url, run_id) >= at or status(database_url, run_id) in FINAL
            ),
            60,
            f"{threshold} tasks done",
        )
        emulator.stop(kill=True)
        killed_at.append(processed(database_url, run_id))
        if status(database_url, run_id) != "InProgress":
            break
        emulator.start()
        restarted_in_flight += 1
        threshold = min(processed(database_url, run_id) + SLOW["batch_size"], TASKS)
    assert 0 < killed_at[0] < TASKS, killed_at
    if emulator.process is None:
        emulator.start()

    with emulator.client() as client:
        run = wait_final(client, run_id, timeout=90)
        events = history(client, run_id)
    assert run["status"] == "Completed", run
    assert_run_stored(run, stored_counts(database_url), total_tasks=TASKS)
    assert tasks_in_two_tables(database_url) == 0
    assert query(database_url, "SELECT COUNT(*) FROM run_task") == [(0,)]

    changes = [(e["from"], e["to"], e["cause"]) for e in events if e["cause"] != "restart"]
    assert changes == [
        ("Pending", "InProgress", "schedule"),
        ("InProgress", "Completed", "schedule"),
    ]
    restarts = [e for e in events if e["cause"] == "restart"]
    assert len(restarts) == restarted_in_flight >= 1, (killed_at, events)
    for event in restarts:
        assert (event["from"], event["to"], event["reason"]) == (
            "InProgress",
            "InProgress",
            "server started",
        )
