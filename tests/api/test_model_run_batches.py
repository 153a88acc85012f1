"""Predictions made by runs, the batch endpoints an inference service posts to, the external
inference mode and try-task."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, TLS, Emulator
from starlette.responses import JSONResponse as StdlibJSONResponse

from .envelope import assert_error, assert_invalid

RUNS = "/api/prompts/1/versions/{version}/inference-runs"
PREDICTIONS = "/api/model-run/batch-predictions"
FAILURES = "/api/model-run/batch-failed-predictions"
EXTERNAL = {"X-Emulator-Inference": "external"}


@pytest.fixture
def control(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(None) as client:
        yield client


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


def create_run(api: httpx.Client, version: int = 1, headers: Any = None, **body: Any) -> Any:
    created = api.post(RUNS.format(version=version), json={"project": 1, **body}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


def run_to_end(control: httpx.Client, run_id: int) -> dict[str, Any]:
    control.post("/_emulator/clock", json={"advance_seconds": 3600}).raise_for_status()
    runs = control.get(f"/_emulator/runs/{run_id}/wait", params={"timeout": 10}).json()
    return runs


def external_run(api: httpx.Client, control: httpx.Client, **body: Any) -> tuple[int, list[int]]:
    """An InProgress external run over project 1 and the tasks it waits for."""
    run = create_run(api, headers=EXTERNAL, **body)
    control.post("/_emulator/clock", json={"advance_seconds": 10}).raise_for_status()
    pending = control.get(f"/_emulator/runs/{run['id']}/pending-tasks").json()
    assert pending["status"] == "InProgress" and pending["inference_mode"] == "external"
    return run["id"], pending["tasks"]


def ground_truth(api: httpx.Client, project: int = 1) -> dict[int, list[str]]:
    tasks = api.get("/api/tasks/", params={"project": project, "fields": "all", "page_size": 1000})
    return {
        t["id"]: a["result"][0]["value"]["choices"]
        for t in tasks.json()["tasks"]
        for a in t["annotations"]
        if a["ground_truth"]
    }


def run_predictions(api: httpx.Client, run_id: int) -> list[dict[str, Any]]:
    listed = api.get("/api/predictions/", params={"project": 1}).json()
    return [p for p in listed if p["model_run"] == run_id]


def test_run_predictions_are_label_studio_results_whose_accuracy_the_client_can_check(api, control):
    run = create_run(api, version=2)
    run_to_end(control, run["id"])
    ended = api.get(RUNS.format(version=2)).json()
    ended = next(r for r in ended if r["id"] == run["id"])
    assert ended["status"] == "Completed"
    made = run_predictions(api, run["id"])
    truth = ground_truth(api)
    assert len(made) == ended["total_predictions"] > 0
    correct = sum(p["result"][0]["value"]["choices"] == truth[p["task"]] for p in made)
    assert correct == ended["total_correct_predictions"]
    assert 0 < correct < len(made)  # version 2 is right 91% of the time
    one = made[0]
    region = one["result"][0]
    assert region == {
        "id": region["id"],
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "origin": "prediction",
        "value": {"choices": [region["value"]["choices"][0]]},
    }
    assert region["value"]["choices"][0] in ("Positive", "Negative", "Neutral")
    assert one["model_version"] == "few-shot" and one["project"] == 1
    assert 0.5 <= one["score"] <= 1


def test_try_task_answers_what_a_run_predicts(api, control):
    run = create_run(api, version=1, project_subset="All")
    run_to_end(control, run["id"])
    made = {p["task"]: p for p in run_predictions(api, run["id"])}
    task = min(made)
    answer = api.post("/api/prompts/1/versions/1/try-task", json={"project_id": 1, "task_id": task})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["task_id"] == task
    assert body["annotation_result"] == made[task]["result"]
    choice = made[task]["result"][0]["value"]["choices"][0]
    assert body["parsed_result"] == {"sentiment": choice}
    assert body["raw_response"] == f'{{"sentiment": "{choice}"}}'
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert usage["total_cost_usd"] > 0


def test_try_task_validation_and_isolation(api, hank):
    url = "/api/prompts/1/versions/1/try-task"
    assert_invalid(api.post(url, json={}), {"project_id": ["This field is required."],
                                            "task_id": ["This field is required."]})  # fmt: skip
    hanks_task = hank.get("/api/tasks/", params={"project": 3}).json()["tasks"][0]["id"]
    assert_invalid(
        api.post(url, json={"project_id": 3, "task_id": hanks_task}),
        {"project_id": ['Invalid pk "3" - object does not exist.'],
         "task_id": [f'Invalid pk "{hanks_task}" - object does not exist.']},
    )  # fmt: skip
    project_2_task = api.get("/api/tasks/", params={"project": 2}).json()["tasks"][0]["id"]
    assert_invalid(
        api.post(url, json={"project_id": 1, "task_id": project_2_task}),
        {"task_id": [f'Invalid pk "{project_2_task}" - object does not exist.']},
    )
    assert_error(hank.post(url, json={"project_id": 3, "task_id": hanks_task}), 404,
                 "No ModelInterface matches the given query.")  # fmt: skip


def test_an_external_run_waits_and_completes_from_posted_batches(api, control):
    run_id, tasks = external_run(api, control)
    assert len(tasks) == 90
    truth = ground_truth(api)
    half = tasks[:45]
    results = [
        {"task_id": t, "output": {"sentiment": truth[t][0]}, "error": False, "message": None,
         "details": None, "prompt_tokens": 120, "completion_tokens": 3,
         "prompt_cost_usd": 0.0001, "completion_cost_usd": 0.00002, "total_cost_usd": 0.00012,
         "message_counts": {"user": 1}, "inference_time": 0.8}
        for t in half
    ]  # fmt: skip
    posted = api.post(PREDICTIONS, params={"num_predictions": 45},
                      json={"modelrun_id": run_id, "results": results})  # fmt: skip
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"job_id": "", "results": results}
    # written as json.dumps writes it: 2e-05, not 0.00002
    assert posted.content == StdlibJSONResponse({"job_id": "", "results": results}).body
    pending = control.get(f"/_emulator/runs/{run_id}/pending-tasks").json()
    assert pending["tasks"] == tasks[45:] and pending["count"] == 45
    # nothing is judged from the wall clock: the run waits however far the clock moves
    control.post("/_emulator/clock", json={"advance_seconds": 3600}).raise_for_status()
    listed = next(r for r in api.get(RUNS.format(version=1)).json() if r["id"] == run_id)
    assert listed["status"] == "InProgress"
    assert listed["total_predictions"] == listed["total_correct_predictions"] == 45
    failures = [{"task_id": t, "message": "Timed out", "error_type": "TimeoutError"}
                for t in tasks[45:]]  # fmt: skip
    posted = api.post(FAILURES, params={"num_failed_predictions": 45},
                      json={"modelrun_id": run_id, "failed_predictions": failures})  # fmt: skip
    assert posted.status_code == 201, posted.text
    listed = next(r for r in api.get(RUNS.format(version=1)).json() if r["id"] == run_id)
    # half failed: exactly the threshold (0.5), not above it
    assert listed["status"] == "Completed"
    assert (listed["total_tasks"], listed["total_predictions"]) == (90, 45)
    assert_error(
        api.post(FAILURES, json={"modelrun_id": run_id, "failed_predictions": failures[:1]}),
        400,
        f"Inference run {run_id} is Completed; predictions are accepted only while it is "
        "InProgress.",
    )


def test_a_bad_batch_is_refused_whole_naming_each_bad_item(api, control):
    run_id, tasks = external_run(api, control)
    good = {"task_id": tasks[0], "output": {"sentiment": "Positive"}}
    items = [
        good,
        {"task_id": tasks[1], "output": {"sentiment": "Maybe"}},
        {"task_id": tasks[0], "output": {"sentiment": "Negative"}},
        {"task_id": 999999, "output": {"sentiment": "Negative"}},
        {"task_id": tasks[2], "output": {"mood": "Negative"}},
        {"task_id": "x"},
        {"task_id": tasks[3], "output": {"sentiment": "Neutral"}, "prompt_tokens": -1},
    ]
    refused = api.post(PREDICTIONS, json={"modelrun_id": run_id, "results": items})
    assert_invalid(refused, {"results": [
        'results[1].output.sentiment: "Maybe" is not one of Positive, Negative, Neutral.',
        f"results[2].task_id: task {tasks[0]} is also results[0].",
        f"results[3].task_id: task 999999 is not in the subset of run {run_id}.",
        'results[4].output.mood: the label config has no control named "mood" (it has '
        "sentiment).",
        "results[5].task_id: a whole number is required.",
        "results[6].prompt_tokens: a whole number >= 0 or null is required.",
    ]})  # fmt: skip
    pending = control.get(f"/_emulator/runs/{run_id}/pending-tasks").json()
    assert pending["tasks"] == tasks  # nothing of the batch was stored
    assert api.post(PREDICTIONS, json={"modelrun_id": run_id, "results": [good]}).status_code == 201
    again = api.post(FAILURES, json={"modelrun_id": run_id, "failed_predictions": [
        {"task_id": tasks[0], "message": "m", "error_type": "E"}]})  # fmt: skip
    assert_invalid(again, {"failed_predictions": [
        f"failed_predictions[0].task_id: task {tasks[0]} already has a result in run {run_id}."
    ]})  # fmt: skip
    control.post(f"/_emulator/runs/{run_id}/transition", json={"to": "Canceled"})


def test_batch_endpoints_refuse_unknown_foreign_and_simulated_runs(api, hank, control):
    body = {"results": [], "modelrun_id": 987654}
    assert_error(api.post(PREDICTIONS, json=body), 404, "No ModelRun matches the given query.")
    run_id, _ = external_run(api, control)
    for url, items in ((PREDICTIONS, "results"), (FAILURES, "failed_predictions")):
        assert_error(hank.post(url, json={"modelrun_id": run_id, items: []}), 404,
                     "No ModelRun matches the given query.")  # fmt: skip
        assert_invalid(api.post(url, json={}), {"modelrun_id": ["This field is required."],
                                                items: ["This field is required."]})  # fmt: skip
        assert_invalid(
            api.post(url, json={"modelrun_id": "a", items: {}}),
            {"modelrun_id": ["A valid integer is required."],
             items: ['Expected a list of items but got type "dict".']},
        )  # fmt: skip
    simulated = create_run(api)
    assert_error(
        api.post(PREDICTIONS, json={"modelrun_id": simulated["id"], "results": []}),
        400,
        f"Inference run {simulated['id']} is simulated: the emulator makes its predictions. "
        "Create the run with X-Emulator-Inference: external to post them.",
    )
    no_token = httpx.post(f"{api.base_url}{PREDICTIONS}", json=body, verify=TLS)
    assert no_token.status_code == 401
    control.post(f"/_emulator/runs/{run_id}/transition", json={"to": "Canceled"})


def test_inference_mode_comes_from_the_header_or_the_policy(api, control):
    assert_error(
        api.post(RUNS.format(version=1), json={"project": 1},
                 headers={"X-Emulator-Inference": "psychic"}),
        400,
        'Unknown X-Emulator-Inference "psychic": use one of simulated, external.',
    )  # fmt: skip
    control.put("/_emulator/policy", json={"inference_mode": "external"}).raise_for_status()
    try:
        run_id, tasks = external_run(api, control)
        assert len(tasks) == 90
    finally:
        control.put("/_emulator/policy", json={"inference_mode": "simulated"})
    control.post(f"/_emulator/runs/{run_id}/transition", json={"to": "Canceled"})
    assert ADA_TOKEN  # Ada's runs throughout
