"""Predictions made by runs and the external-worker mode, with label-studio-sdk 2.1.2 against
real server processes on both backends (and three replicas on PostgreSQL)."""

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, Emulator, postgres_database
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = {"X-Emulator-Inference": "external"}


def sdk(emulator: Emulator, token: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=token)


def wait_for(emulator: Emulator, run_id: int, status: str) -> dict[str, Any]:
    with emulator.client(None) as control:
        deadline = time.monotonic() + 60
        while True:
            found = control.get(
                f"/_emulator/runs/{run_id}/wait", params={"status": status, "timeout": 10}
            ).json()
            if found["status"] == status or time.monotonic() > deadline:
                assert found["status"] == status, found
                return found


def pending(emulator: Emulator, run_id: int) -> list[int]:
    with emulator.client(None) as control:
        tasks: list[int] = control.get(f"/_emulator/runs/{run_id}/pending-tasks").json()["tasks"]
        return tasks


def create_external(emulator: Emulator, **body: Any) -> int:
    with emulator.client() as api:
        url = "/api/prompts/1/versions/1/inference-runs"
        created = api.post(url, json={"project": 1, **body}, headers=EXTERNAL)
        assert created.status_code == 201, created.text
        run_id: int = created.json()["id"]
    wait_for(emulator, run_id, "InProgress")
    return run_id


def ground_truth(client: LabelStudio) -> dict[int, list[str]]:
    return {
        task.id: annotation["result"][0]["value"]["choices"]
        for task in client.tasks.list(project=1, fields="all")
        for annotation in task.annotations or []
        if annotation["ground_truth"]
    }


def the_run(client: LabelStudio, run_id: int, version: int = 1) -> Any:
    return next(
        r for r in client.prompts.runs.list(prompt_id=1, version_id=version) if r.id == run_id
    )


def test_a_client_reading_every_prediction_finds_the_runs_accuracy(server):
    client = sdk(server)
    run = client.prompts.runs.create(prompt_id=1, version_id=2, project=1, project_subset="HasGT")
    wait_for(server, run.id, "Completed")
    run = the_run(client, run.id, version=2)
    truth = ground_truth(client)
    made = [p for p in client.predictions.list(project=1) if p.model_run == run.id]
    assert len(made) == run.total_predictions and run.total_tasks == 90
    judged = [p for p in made if p.task in truth]
    correct = sum(p.result[0]["value"]["choices"] == truth[p.task] for p in judged)
    assert correct == run.total_correct_predictions
    assert correct / len(judged) == run.total_correct_predictions / len(judged)
    assert {p.model_version for p in made} == {"few-shot"}
    assert all(p.result[0]["from_name"] == "sentiment" and p.project == 1 for p in made)


def test_an_external_run_is_completed_by_a_worker_across_a_restart(start_emulator, database_url):
    emulator = start_emulator(database_url=database_url)
    run_id = create_external(emulator, project_subset="Sample", sample_subset_size=20)
    tasks = pending(emulator, run_id)
    assert len(tasks) == 20
    client = sdk(emulator)
    results = [{"task_id": t, "output": {"sentiment": "Negative"}, "error": False,
                "message": None, "details": None, "prompt_tokens": 120, "completion_tokens": 3,
                "prompt_cost_usd": 0.0001, "completion_cost_usd": 0.00002,
                "total_cost_usd": 0.00012, "message_counts": {"user": 1},
                "inference_time": 0.8} for t in tasks[:10]]  # fmt: skip
    answer = client.prompts.batch_predictions(
        modelrun_id=run_id, results=results, num_predictions=len(results)
    )
    assert (answer.job_id, answer.results) == ("", results)
    bad = [{**results[0], "task_id": tasks[10]}, {**results[0], "task_id": tasks[11],
                                                   "output": {"sentiment": "Maybe"}}]  # fmt: skip
    with pytest.raises(ApiError) as refused:
        client.prompts.batch_predictions(modelrun_id=run_id, results=bad, num_predictions=2)
    assert refused.value.status_code == 400
    assert refused.value.body["validation_errors"] == {"results": [
        'results[1].output.sentiment: "Maybe" is not one of Positive, Negative, Neutral.'
    ]}  # fmt: skip
    assert pending(emulator, run_id) == tasks[10:]  # the bad batch stored nothing
    with pytest.raises(ApiError) as foreign:
        sdk(emulator, HANK_TOKEN).prompts.batch_predictions(modelrun_id=run_id, results=[])
    assert foreign.value.status_code == 404
    assert foreign.value.body["detail"] == "No ModelRun matches the given query."

    emulator.stop()
    emulator.start()
    client = sdk(emulator)
    assert the_run(client, run_id).status == "InProgress"
    assert pending(emulator, run_id) == tasks[10:]
    client.prompts.batch_predictions(
        modelrun_id=run_id,
        results=[{**results[0], "task_id": t} for t in tasks[10:18]],
        num_predictions=8,
    )
    client.prompts.batch_failed_predictions(
        modelrun_id=run_id,
        failed_predictions=[{"task_id": t, "message": "Request timed out.",
                             "error_type": "APITimeoutError"} for t in tasks[18:]],
        num_failed_predictions=2,
    )  # fmt: skip
    run = the_run(client, run_id)
    assert (run.status, run.total_tasks, run.total_predictions) == ("Completed", 20, 18)
    truth = ground_truth(client)
    expected = sum(truth[t] == ["Negative"] for t in tasks[:18] if t in truth)
    assert run.total_correct_predictions == expected
    with pytest.raises(ApiError) as finished:
        client.prompts.batch_failed_predictions(
            modelrun_id=run_id, failed_predictions=[{"task_id": tasks[0], "message": "m",
                                                     "error_type": "E"}]
        )  # fmt: skip
    assert finished.value.status_code == 400


def test_the_readme_worker_completes_a_run_as_written(start_emulator):
    emulator = start_emulator()
    readme = (ROOT / "README.md").read_text()
    worker = next(
        b
        for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
        if "batch_predictions" in b
    )
    run_id = create_external(emulator, project_subset="All")
    done = subprocess.run(
        [sys.executable, "-c", worker.replace("http://127.0.0.1:8080", emulator.url)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run = the_run(sdk(emulator), run_id)
    assert (run.status, run.total_tasks, run.total_predictions) == ("Completed", 300, 300)


def test_three_replicas_count_each_posted_task_once(start_emulator, tmp_path):
    with postgres_database() as url:
        replicas = [start_emulator(tmp_path / f"replica-{i}", database_url=url) for i in range(3)]
        run_id = create_external(replicas[0], project_subset="All")
        tasks = pending(replicas[0], run_id)
        assert len(tasks) == 300
        clients = [sdk(replica) for replica in replicas]

        def post(index: int) -> int:
            """Every task posted twice, in batches of 25, to two different replicas."""
            chunk = tasks[(index // 2) * 25 : (index // 2 + 1) * 25]
            items = [{"task_id": t, "output": {"sentiment": "Positive"}} for t in chunk]
            try:
                clients[index % 3].prompts.batch_predictions(modelrun_id=run_id, results=items)
                return 1
            except ApiError as error:
                assert error.status_code == 400, error.body
                return 0

        with ThreadPoolExecutor(max_workers=6) as pool:
            accepted = sum(pool.map(post, range(24)))
        assert accepted == 12  # one of the two posts of each batch
        for client in clients:
            run = the_run(client, run_id)
            assert (run.status, run.total_predictions) == ("Completed", 300)
        with replicas[0].client() as api:
            stored = api.get("/api/predictions/", params={"project": 1}).json()
        assert sorted(p["task"] for p in stored if p["model_run"] == run_id) == sorted(tasks)
        for replica in replicas:
            replica.stop()
    assert httpx  # the control plane is read with httpx
