"""`serve --workers N`: several uvicorn processes on one port, each with its own lifecycle worker."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import httpx
import pytest
from conftest import ADA_TOKEN, FAST, TLS, postgres_database

from .support import (
    RUNS,
    assert_run_stored,
    history,
    ok,
    stored_counts,
    tasks_in_two_tables,
    wait_final,
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_worker_processes_share_the_runs_each_step_once(tmp_path, backend):
    sqlite = nullcontext(f"sqlite:///{tmp_path / 'emulator.sqlite3'}")
    with postgres_database() if backend == "postgresql" else sqlite as url:
        env = {
            **os.environ,
            "LSE_EMULATOR_DATA_DIR": str(tmp_path),
            "LSE_EMULATOR_DATABASE_URL": url,
        }
        env.update({f"LSE_EMULATOR_{k.upper()}": str(v) for k, v in FAST.items()})
        ready = tmp_path / "ready"
        command = [
            "lse-emulator",
            "serve",
            "--port",
            "0",
            "--workers",
            "3",
            "--ready-file",
            str(ready),
        ]
        with open(tmp_path / "server.log", "wb") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            base = ready.read_text().strip()
            headers = {"Authorization": f"Token {ADA_TOKEN}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30, verify=TLS) as client:
                subset = {"project": 1, "project_subset": "Sample", "sample_subset_size": 20}
                with ThreadPoolExecutor(8) as pool:
                    created = list(
                        pool.map(lambda _: ok(client.post(RUNS, json=subset), 201), range(40))
                    )
                runs = [wait_final(client, run["id"]) for run in created]
                events = {run["id"]: history(client, run["id"]) for run in runs}
        finally:
            server.terminate()
            assert server.wait(timeout=30) == 0
        stored = stored_counts(url)
        for run in runs:
            assert run["status"] == "Completed"
            assert_run_stored(run, stored, 20)
            # A worker that finishes starting after its siblings notes the runs already in
            # flight as resumed ("restart"); the status changes are what must happen once.
            changes = [(e["from"], e["to"]) for e in events[run["id"]] if e["cause"] != "restart"]
            assert changes == [("Pending", "InProgress"), ("InProgress", "Completed")]
        assert tasks_in_two_tables(url) == 0
        assert "Traceback" not in (tmp_path / "server.log").read_text()
