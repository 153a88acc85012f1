"""Three `lse-emulator serve` processes on one PostgreSQL database share the work and the clock.

Every lifecycle step is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so no run is started,
predicted or finished twice, even when one replica dies while holding work.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import Emulator, postgres_database
from prometheus_client.parser import text_string_to_metric_families

from .support import (
    RUNS,
    assert_run_stored,
    history,
    ok,
    poll,
    query,
    runs_by_id,
    stored_counts,
    tasks_in_two_tables,
)

SAMPLE = 20
# Each run lives over two seconds (0.2 s queued, then one batch of 20 tasks at 10 tasks/s), so
# that many are in flight when a replica dies; two steps a run keep 200 runs quick.
REPLICA = {"queue_delay_seconds": 0.2, "tasks_per_second": 10, "batch_size": 20}


def start_replicas(start_emulator, tmp_path: Path, url: str, count: int) -> list[Emulator]:
    """Start ``count`` servers on one database at once, each with a data directory of its own."""

    def start(index: int) -> Emulator:
        return start_emulator(tmp_path / f"replica-{index}", database_url=url, **REPLICA)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def create_runs(replicas: list[Emulator], count: int) -> list[dict[str, Any]]:
    """Create ``count`` Sample runs, spread over the replicas, from many threads at once."""

    clients = [replica.client() for replica in replicas]  # httpx clients are thread-safe
    body = {"project": 1, "project_subset": "Sample", "sample_subset_size": SAMPLE}

    def create(index: int) -> dict[str, Any]:
        return ok(clients[index % len(clients)].post(RUNS, json=body), 201)

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            return list(pool.map(create, range(count)))
    finally:
        for client in clients:
            client.close()


def assert_clock_shared(replicas: list[Emulator]) -> None:
    """Freezing, moving and unfreezing the clock through one replica is seen by all of them."""
    clients = [replica.client(token=None) for replica in replicas]
    try:
        frozen = ok(clients[0].post("/_emulator/clock", json={"freeze": True}))
        assert frozen["frozen"] is True
        for client in clients:
            assert ok(client.get("/_emulator/clock")) == {"now": frozen["now"], "frozen": True}

        moved = ok(clients[1].post("/_emulator/clock", json={"advance_seconds": 60}))
        assert moved["now"] > frozen["now"]
        for client in clients:
            assert ok(client.get("/_emulator/clock")) == {"now": moved["now"], "frozen": True}

        ok(clients[2].post("/_emulator/clock", json={"freeze": False}))
        for client in clients:
            clock = ok(client.get("/_emulator/clock"))
            assert clock["frozen"] is False
            assert clock["now"] >= moved["now"]
    finally:
        for client in clients:
            client.close()


def count(url: str, sql: str, *params: Any) -> int:
    return query(url, sql, *params)[0][0]


def check_replicas(replicas: list[Emulator], url: str) -> None:
    """The clock check, then 200 runs through the replicas, one of which is killed midway."""
    assert_clock_shared(replicas)
    created = create_runs(replicas, 100)

    # Kill one replica while runs are under way: some predicted, some not yet finished.
    def in_flight() -> bool:
        active = "SELECT COUNT(*) FROM model_run WHERE status IN ('Pending', 'InProgress')"
        return count(url, "SELECT COUNT(*) FROM prediction") > 0 and count(url, active) > 0

    poll(in_flight, 30, "runs under way")
    replicas[2].stop(kill=True)
    created += create_runs(replicas[:2], 100)

    ids = [run["id"] for run in created]
    assert len(set(ids)) == 200
    finished = "SELECT COUNT(*) FROM model_run WHERE status IN ('Completed', 'Failed', 'Canceled')"
    poll(lambda: count(url, finished) == 200, 90, "every run to finish", interval=0.2)
    with replicas[0].client() as client:
        listed = runs_by_id(client)
        with ThreadPoolExecutor(max_workers=8) as pool:
            events = dict(zip(ids, pool.map(lambda i: history(client, i), ids), strict=True))
        metrics = client.get("/metrics").text

    assert sorted(listed) == sorted(ids)
    stored = stored_counts(url)
    for run_id in ids:
        run = listed[run_id]
        assert run["status"] == "Completed", run
        assert_run_stored(run, stored, total_tasks=SAMPLE)
        changes = [(e["from"], e["to"], e["cause"]) for e in events[run_id]]
        assert changes == [
            ("Pending", "InProgress", "schedule"),
            ("InProgress", "Completed", "schedule"),
        ], run_id
    assert tasks_in_two_tables(url) == 0
    assert count(url, "SELECT COUNT(*) FROM run_task") == 0

    # The runs gauge is counted in the shared database, so any replica reports all of them.
    (runs,) = [f for f in text_string_to_metric_families(metrics) if f.name == "lse_runs"]
    by_status = {s.labels["status"]: s.value for s in runs.samples}
    assert by_status == {
        "Pending": 0,
        "InProgress": 0,
        "Completed": 200,
        "Failed": 0,
        "Canceled": 0,
    }


def test_replicas_share_the_clock_and_the_runs_and_survive_one_dying(
    start_emulator, tmp_path: Path
) -> None:
    with postgres_database() as url:
        replicas = start_replicas(start_emulator, tmp_path, url, 3)
        try:
            check_replicas(replicas, url)
        finally:  # before the database is dropped
            for replica in replicas:
                replica.stop()
