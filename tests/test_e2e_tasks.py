"""End to end with the official client: import tasks (and poll the import), tasks and
predictions through label-studio-sdk against a real emulator process."""

import itertools
import time

import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

_ids = itertools.count(9500)
GT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
       "value": {"choices": ["Positive"]}}]  # fmt: skip


def sdk(emulator: Emulator, token: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=token, timeout=30)


@pytest.fixture
def project(server: Emulator) -> int:
    """A fresh, empty project of organization 1."""
    project_id = next(_ids)
    with server.client(token=None) as control:
        seeded = control.post(
            "/_emulator/seed",
            json={
                "projects": [{"id": project_id, "title": f"E2E {project_id}", "organization": 1}]
            },
        )  # fmt: skip
        assert seeded.status_code == 200, seeded.text
    return project_id


def poll_import(client: LabelStudio, project: int, import_id: int) -> object:
    """Poll the import's status as a Label Studio Enterprise client must, with a deadline."""
    deadline = time.monotonic() + 30
    while True:
        status = client.tasks.create_many_status(id=project, import_pk=import_id)
        if status.status in ("completed", "failed"):
            return status
        assert time.monotonic() < deadline, f"import {import_id} never finished: {status}"
        time.sleep(0.05)


def refusal(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def test_import_with_ground_truth_run_a_version_and_read_the_tasks_back(server, project):
    client = sdk(server)
    answer = client.projects.import_tasks(
        id=project,
        request=[
            {"data": {"text": f"ticket {i}"},
             "annotations": [{"result": GT, "ground_truth": i < 4}]}
            for i in range(10)
        ],
    )  # fmt: skip
    assert answer.import_ is not None
    status = poll_import(client, project, answer.import_)
    assert (status.status, status.task_count, status.annotation_count) == ("completed", 10, 10)
    subsets = {s.subset: s.count for s in client.prompts.subsets(project_pk=project)}
    assert (subsets["All"], subsets["HasGT"]) == (10, 4)

    run = client.prompts.runs.create(prompt_id=1, version_id=1, project=project)
    deadline = time.monotonic() + 60
    while run.status not in ("Completed", "Failed", "Canceled"):
        assert time.monotonic() < deadline, f"run {run.id} never ended"
        time.sleep(0.05)
        runs = client.prompts.runs.list(prompt_id=1, version_id=1, project=project)
        run = next(r for r in runs if r.id == run.id)
    assert (run.status, run.total_tasks, run.total_predictions) == ("Completed", 4, 4)

    tasks = list(client.tasks.list(project=project, fields="all", page_size=3))
    assert len(tasks) == 10 and [t.inner_id for t in tasks] == list(range(1, 11))
    predicted = [t for t in tasks if t.predictions]
    assert len(predicted) == 4 and all(t.ground_truth for t in predicted)
    predictions = client.predictions.list(project=project)
    assert sorted(p.task for p in predictions) == sorted(t.id for t in predicted)
    assert {p.model_run for p in predictions} == {run.id}


def test_import_refusals_and_a_failed_import(server, project):
    client = sdk(server)
    failed = client.projects.import_tasks(id=project, request=[{"data": "not an object"}])
    status = poll_import(client, project, failed.import_)
    assert status.status == "failed" and "Expected a dictionary" in status.error
    error = refusal(lambda: sdk(server, HANK_TOKEN).projects.import_tasks(
        id=project, request=[{"data": {"text": "x"}}]))  # fmt: skip
    assert error.status_code == 404
    assert error.body["detail"] == "No Project matches the given query."
    error = refusal(lambda: client.tasks.create_many_status(id=project, import_pk=999999))
    assert (error.status_code, error.body["detail"]) == (
        404, "No ProjectImport matches the given query.",
    )  # fmt: skip


def test_tasks_client_create_get_update_list_delete(server, project):
    client = sdk(server)
    created = client.tasks.create(data={"text": "hello"}, project=project, meta={"source": "e2e"})
    assert (created.data, created.project, created.meta, created.inner_id) == (
        {"text": "hello"}, project, {"source": "e2e"}, 1,
    )  # fmt: skip
    fetched = client.tasks.get(id=str(created.id))
    assert fetched.id == created.id and fetched.data == {"text": "hello"}
    updated = client.tasks.update(id=str(created.id), data={"text": "bye"})
    assert updated.data == {"text": "bye"}
    pager = client.tasks.list(project=project)
    assert [t.id for t in pager] == [created.id]
    assert (pager.response.total, pager.response.total_annotations) == (1, 0)
    client.tasks.delete(id=str(created.id))
    error = refusal(lambda: client.tasks.get(id=str(created.id)))
    assert (error.status_code, error.body["detail"]) == (404, "No Task matches the given query.")


def test_tasks_client_refusals(server, project):
    client, hank = sdk(server), sdk(server, HANK_TOKEN)
    created = client.tasks.create(data={"text": "mine"}, project=project)
    for call in (
        lambda: hank.tasks.get(id=str(created.id)),
        lambda: hank.tasks.update(id=str(created.id), data={}),
        lambda: hank.tasks.delete(id=str(created.id)),
    ):
        error = refusal(call)
        assert (error.status_code, error.body["detail"]) == (
            404,
            "No Task matches the given query.",
        )
    error = refusal(lambda: hank.tasks.create(data={"text": "x"}, project=project))
    assert error.status_code == 400
    assert error.body["validation_errors"] == {
        "project": [f'Invalid pk "{project}" - object does not exist.']
    }
    error = refusal(lambda: list(hank.tasks.list(project=project)))
    assert (error.status_code, error.body["detail"]) == (404, "No Project matches the given query.")


def test_predictions_client_create_get_update_list_delete(server, project):
    client = sdk(server)
    task = client.tasks.create(data={"text": "t"}, project=project)
    made = client.predictions.create(task=task.id, result=GT, score=0.9, model_version="m1")
    assert (made.task, made.project, made.score, made.model_version, made.result) == (
        task.id, project, 0.9, "m1", GT,
    )  # fmt: skip
    assert client.predictions.get(id=made.id).model_version == "m1"
    changed = client.predictions.update(id=made.id, score=0.2)
    assert (changed.score, changed.result) == (0.2, GT)
    assert [p.id for p in client.predictions.list(task=task.id)] == [made.id]
    assert [p.id for p in client.predictions.list(task_project=project)] == [made.id]
    client.predictions.delete(id=made.id)
    error = refusal(lambda: client.predictions.get(id=made.id))
    assert (error.status_code, error.body["detail"]) == (
        404, "No Prediction matches the given query.",
    )  # fmt: skip


def test_predictions_client_refusals(server, project):
    client, hank = sdk(server), sdk(server, HANK_TOKEN)
    task = client.tasks.create(data={"text": "t"}, project=project)
    made = client.predictions.create(task=task.id, result=GT)
    for call in (
        lambda: hank.predictions.get(id=made.id),
        lambda: hank.predictions.update(id=made.id, score=1.0),
        lambda: hank.predictions.delete(id=made.id),
    ):
        error = refusal(call)
        assert error.status_code == 404
        assert error.body["detail"] == "No Prediction matches the given query."
    error = refusal(lambda: hank.predictions.create(task=task.id, result=GT))
    assert error.status_code == 400
    assert error.body["validation_errors"] == {
        "task": [f'Invalid pk "{task.id}" - object does not exist.']
    }
    error = refusal(lambda: client.predictions.list(task=999999))
    assert error.status_code == 400
    assert error.body["validation_errors"] == {
        "task": ["Select a valid choice. That choice is not one of the available choices."]
    }
