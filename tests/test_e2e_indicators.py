"""End to end with the official client: indicators, regressions between two versions, subset
tasks, cost estimates and prompt refinement through label-studio-sdk against a real emulator
process (both backends)."""

import time
from typing import Any

import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

NOT_RUN = "No ModelRun matches the given query."


def sdk(emulator: Emulator, api_key: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=api_key, timeout=30)


def refused(call: Any, status_code: int, detail: str) -> None:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status_code == status_code
    assert caught.value.body["detail"] == detail


def finished(client: LabelStudio, version_id: int, run_id: int) -> Any:
    deadline = time.monotonic() + 30
    while True:
        run = next(r for r in client.prompts.runs.list(prompt_id=1, version_id=version_id)
                   if r.id == run_id)  # fmt: skip
        if run.status in ("Completed", "Failed", "Canceled"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} did not end: {run.status}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def two_runs(server: Emulator) -> tuple[Any, Any]:
    client = sdk(server)
    runs = []
    for version_id in (1, 2):
        run = client.prompts.runs.create(prompt_id=1, version_id=version_id, project=1,
                                         project_subset="HasGT")  # fmt: skip
        runs.append(finished(client, version_id, run.id))
    return runs[0], runs[1]


def judged(server: Emulator, run_id: int) -> dict[int, bool]:
    """Task -> correct of a run's predictions on ground-truth tasks, read by the client: from
    the prediction's result against the ground truth where it names labels, else from the
    control plane's per-task view."""
    with server.client(token=None) as control:
        rows = control.get(f"/_emulator/runs/{run_id}/tasks", params={"limit": 1000}).json()
    out = {r["id"]: r["correct"] for r in rows["tasks"] if r["state"] == "predicted"
           and r["ground_truth"]}  # fmt: skip
    client = sdk(server)
    for prediction in client.predictions.list(project=1):
        if prediction.model_run == run_id and prediction.task in out and prediction.result:
            task = client.tasks.get(id=prediction.task)
            [truth] = [a for a in task.annotations if a["ground_truth"]]

            def chosen(result: Any) -> set[str]:
                return {c for r in result for c in r["value"].get("choices", [])}

            out[prediction.task] = chosen(prediction.result) == chosen(truth["result"])
    return out


def test_indicators_agree_with_predictions_read_back(server, two_runs):
    client = sdk(server)
    run = two_runs[0]
    made = [p for p in client.predictions.list(project=1) if p.model_run == run.id]
    assert len(made) == run.total_predictions
    correct = judged(server, run.id)
    assert sum(correct.values()) == run.total_correct_predictions
    listed = client.prompts.indicators.list(id=run.id)
    assert [i.title for i in listed] == ["Accuracy", "Predictions", "Failed predictions", "Cost"]
    accuracy = client.prompts.indicators.get(id=run.id, indicator_key="accuracy")
    assert accuracy.title == "Accuracy"
    assert accuracy.values["accuracy"] == round(sum(correct.values()) / len(correct), 6)
    assert listed[0].values == accuracy.values
    refused(lambda: client.prompts.indicators.get(id=run.id, indicator_key="nope"), 404,
            "No KeyIndicator matches the given query.")  # fmt: skip
    hank = sdk(server, HANK_TOKEN)
    refused(lambda: hank.prompts.indicators.list(id=run.id), 404, NOT_RUN)
    refused(lambda: hank.prompts.indicators.get(id=run.id, indicator_key="accuracy"), 404, NOT_RUN)


def test_two_versions_compared_through_regressions(server, two_runs):
    a, b = two_runs
    with server.client() as api:
        body = api.get("/api/inference-runs/regressions/",
                       params={"run_a": a.id, "run_b": b.id}).json()  # fmt: skip
    ca, cb = judged(server, a.id), judged(server, b.id)
    assert {i["task_id"] for i in body["regressions"]} == {
        t for t in ca if ca[t] and not cb.get(t, False)
    }
    assert {i["task_id"] for i in body["improvements"]} == {
        t for t in cb if cb[t] and not ca.get(t, False)
    }
    assert {i["task_id"] for i in body["stable_correct"]} == {
        t for t in ca if ca[t] and cb.get(t, False)
    }
    assert body["summary"]["regressions"] == len(body["regressions"])


def test_pages_through_subset_tasks(server, two_runs):
    client = sdk(server)
    run = two_runs[1]
    seen: list[Any] = []
    page = 1
    while True:
        answer = client.prompts.subset_tasks(project_pk=1, model_run=run.id, page=page,
                                             page_size=20)  # fmt: skip
        [wrapper] = answer.results
        seen += wrapper.task_result_list
        assert answer.count == wrapper.task_count == run.total_tasks
        if answer.next is None:
            break
        page += 1
    assert len(seen) == run.total_tasks == len({item.id for item in seen})
    predicted = {p.task: p.id for p in client.predictions.list(project=1) if p.model_run == run.id}
    assert {i.id: i.prediction["id"] for i in seen if i.prediction} == predicted
    assert all(i.error["message"] for i in seen if not i.prediction)
    matches = client.prompts.subset_tasks(project_pk=1, model_run=run.id,
                                          alignment_outcome="true_positive", page_size=1000)  # fmt: skip
    correct = {t for t, ok in judged(server, run.id).items() if ok}
    assert {i.id for i in matches.results[0].task_result_list} == correct
    refused(lambda: client.prompts.subset_tasks(project_pk=1, page=1), 400, "Validation error")
    hank = sdk(server, HANK_TOKEN)
    refused(lambda: hank.prompts.subset_tasks(project_pk=1, parent_model=2), 404,
            "No Project matches the given query.")  # fmt: skip


def test_cost_estimate_and_refinement(server):
    client = sdk(server)
    estimate = client.prompts.versions.cost_estimate(prompt_id=1, version_id=1)
    assert estimate.is_error is False
    assert float(estimate.total_cost_usd) == pytest.approx(
        float(estimate.prompt_cost_usd) + float(estimate.completion_cost_usd)
    )
    job = client.prompts.versions.refine_prompt(
        prompt_id=1, version_id=1, project_id=1, teacher_model_name="gpt-4o",
        teacher_model_provider_connection_id=1, async_=False,
    )  # fmt: skip
    assert job.refinement_status == "Completed" and job.title == "baseline (refined)"
    again = client.prompts.versions.get_refined_prompt(
        prompt_id=1, version_id=1, refinement_job_id=job.refinement_job_id
    )
    assert again.prompt == job.prompt and again.previous_version.id == 1
    titles = [v.title for v in client.prompts.versions.list(prompt_id=1)]
    assert job.title in titles
    hank = sdk(server, HANK_TOKEN)
    refused(lambda: hank.prompts.versions.cost_estimate(prompt_id=1, version_id=1), 404,
            "No ModelInterface matches the given query.")  # fmt: skip
    refused(
        lambda: hank.prompts.versions.get_refined_prompt(
            prompt_id=1, version_id=1, refinement_job_id=job.refinement_job_id
        ),
        404,
        "No ModelInterface matches the given query.",
    )
