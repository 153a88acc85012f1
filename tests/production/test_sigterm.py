"""SIGTERM stops the server gracefully: requests under way get their answers, the worker ends
between steps, the process exits 0, and the runs it left in flight resume after a restart."""

import threading
import time
from typing import Any

import httpx

from .support import RUNS, history, ok, poll, wait_final

# 90 tasks (project 1, HasGT) in batches of 5 at 15 tasks/s: about 6 s of simulated inference.
SLOW = {"queue_delay_seconds": 0.2, "tasks_per_second": 15, "batch_size": 5}


def test_sigterm_answers_the_request_under_way_then_exits_0(start_emulator) -> None:
    emulator = start_emulator(**SLOW)
    with emulator.client() as client:
        run = ok(client.post(RUNS, json={"project": 1, "project_subset": "HasGT"}), 201)

        def started() -> dict[str, Any] | None:
            (listed,) = [r for r in ok(client.get(RUNS)) if r["id"] == run["id"]]
            return listed if listed["total_predictions"] > 0 else None

        poll(started, 30, "the run to make predictions")

        # A long request on a connection the server has already accepted and served once.
        answers: list[httpx.Response | BaseException] = []

        def wait_request() -> None:
            try:
                answers.append(
                    client.get(f"/_emulator/runs/{run['id']}/wait", params={"timeout": 2})
                )
            except BaseException as error:  # handed to the test thread
                answers.append(error)

        waiting = threading.Thread(target=wait_request)
        waiting.start()
        time.sleep(0.5)  # let the request reach the server before the signal
        process = emulator.process
        process.terminate()
        assert process.wait(timeout=30) == 0
        waiting.join(timeout=30)

    (answer,) = answers
    assert isinstance(answer, httpx.Response), answer
    body = ok(answer)
    assert body["id"] == run["id"]
    assert body["status"] == "InProgress" and body["timed_out"] is True
    assert "Traceback" not in emulator.log.read_text()

    emulator.stop()  # forget the exited process
    emulator.start()
    with emulator.client() as client:
        final = wait_final(client, run["id"])
        events = history(client, run["id"])
    assert final["status"] == "Completed"
    assert final["total_tasks"] == 90
    assert [(e["from"], e["to"], e["cause"]) for e in events] == [
        ("Pending", "InProgress", "schedule"),
        ("InProgress", "InProgress", "restart"),
        ("InProgress", "Completed", "schedule"),
    ]
