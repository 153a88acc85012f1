"""SIGTERM stops the server gracefully: requests under way get their answers, the worker ends
between steps, the process exits 0, and the runs it left in flight resume after a restart."""

import http.client
import json
from pathlib import Path
from typing import Any

from .support import RUNS, history, ok, poll, wait_final

# 90 tasks (project 1, HasGT) in batches of 5 at 15 tasks/s: about 6 s of simulated inference.
SLOW = {"queue_delay_seconds": 0.2, "tasks_per_second": 15, "batch_size": 5}


def unread_bytes(server_port: int, client_port: int) -> int:
    """Bytes waiting unread in the server's end of a loopback connection (Linux's table of
    TCP sockets: local and remote address, then the send and receive queues)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == (local, remote):
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no server socket for the client port {client_port}")


def test_sigterm_answers_the_request_under_way_then_exits_0(start_emulator) -> None:
    emulator = start_emulator(**SLOW)
    with emulator.client() as client:
        run = ok(client.post(RUNS, json={"project": 1, "project_subset": "HasGT"}), 201)

        def started() -> dict[str, Any] | None:
            (listed,) = [r for r in ok(client.get(RUNS)) if r["id"] == run["id"]]
            return listed if listed["total_predictions"] > 0 else None

        poll(started, 30, "the run to make predictions")

        # A long request on a connection the server has already accepted and served once.
        # Its bytes have reached the server once the server's socket holds none unread: the
        # server has then begun the request, and a graceful stop must answer it.
        host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/_emulator/health")
        connection.getresponse().read()
        connection.request("GET", f"/_emulator/runs/{run['id']}/wait?timeout=2")
        client_port = connection.sock.getsockname()[1]
        poll(lambda: unread_bytes(int(port), client_port) == 0, 30, "the server to read it")
        process = emulator.process
        process.terminate()
        assert process.wait(timeout=30) == 0
        answer = connection.getresponse()
        body = json.loads(answer.read())
        connection.close()

    assert answer.status == 200, body
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
