"""Predictions: Label Studio's Prediction shape, filters task, project and task__project,
validation, isolation, and which predictions count as a version's."""

import itertools
from collections.abc import Iterator

import httpx
import pytest
from conftest import HANK_TOKEN, Emulator

from .envelope import assert_error, assert_invalid

_ids = itertools.count(9300)
RESULT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
           "value": {"choices": ["Negative"]}}]  # fmt: skip
NO_CHOICE = "Select a valid choice. That choice is not one of the available choices."


@pytest.fixture
def tasks(server: Emulator) -> tuple[int, list[int]]:
    """A fresh project of organization 1 with two tasks: (project, task ids)."""
    project = next(_ids)
    with server.client(None) as control:
        seeded = control.post(
            "/_emulator/seed",
            json={"projects": [{"id": project, "title": f"P {project}", "organization": 1,
                                "tasks": [{"data": {"text": "a"}}, {"data": {"text": "b"}}]}]},
        )  # fmt: skip
        assert seeded.status_code == 200, seeded.text
    with server.client() as api:
        listed = api.get("/api/tasks/", params={"project": project}).json()
    return project, [t["id"] for t in listed["tasks"]]


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


def test_create_answers_the_whole_prediction(api, tasks):
    project, (task, _) = tasks
    response = api.post(
        "/api/predictions/",
        json={"task": task, "result": RESULT, "score": 0.75, "model_version": "v7"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "result": RESULT,
        "model_version": "v7",
        "created_ago": "",
        "score": 0.75,
        "cluster": None,
        "neighbors": None,
        "mislabeling": 0.0,
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
        "model": None,
        "model_run": None,
        "task": task,
        "project": project,
    }
    assert api.get(f"/api/predictions/{body['id']}/").json() == body


def test_list_filters_by_task_project_and_task_project(api, tasks):
    project, (first, second) = tasks
    made = [
        api.post("/api/predictions/", json={"task": t, "result": RESULT}).json()["id"]
        for t in (first, second, second)
    ]
    assert [p["id"] for p in api.get("/api/predictions/", params={"task": second}).json()] == made[
        1:
    ]
    for name in ("project", "task__project"):
        listed = api.get("/api/predictions/", params={name: project}).json()
        assert [p["id"] for p in listed] == made
    everything = [p["id"] for p in api.get("/api/predictions/").json()]
    assert set(made) <= set(everything) and everything == sorted(everything)


@pytest.mark.parametrize("name", ["task", "project", "task__project"])
@pytest.mark.parametrize("value", ["99999", "abc"])
def test_list_filter_naming_no_object_is_400(api, name, value):
    assert_invalid(api.get("/api/predictions/", params={name: value}), {name: [NO_CHOICE]})


def test_update_overwrite_and_delete(api, tasks):
    _, (first, second) = tasks
    made = api.post("/api/predictions/", json={"task": first, "result": RESULT}).json()
    url = f"/api/predictions/{made['id']}/"
    patched = api.patch(url, json={"score": 0.1})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["score"], patched.json()["result"]) == (0.1, RESULT)
    put = api.put(url, json={"task": second, "result": [], "model_version": "v2"})
    assert put.status_code == 200, put.text
    assert (put.json()["task"], put.json()["result"], put.json()["model_version"]) == (
        second, [], "v2",
    )  # fmt: skip
    assert_invalid(api.put(url, json={}), {"result": ["This field is required."],
                                           "task": ["This field is required."]})  # fmt: skip
    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404, "No Prediction matches the given query.")


def test_body_is_validated_with_every_bad_field_at_once(api, hank, tasks):
    _, (task, _) = tasks
    assert_invalid(
        api.post(
            "/api/predictions/",
            json={"task": 99999, "result": {"a": 1}, "score": "high", "model": 3, "cluster": "x"},
        ),
        {
            "result": ['Expected a list of items but got type "dict".'],
            "task": ['Invalid pk "99999" - object does not exist.'],
            "score": ["A valid number is required."],
            "cluster": ["A valid integer is required."],
            "model": ['Invalid pk "3" - object does not exist.'],
        },
    )
    assert_invalid(
        hank.post("/api/predictions/", json={"task": task, "result": []}),
        {"task": [f'Invalid pk "{task}" - object does not exist.']},
    )


@pytest.mark.parametrize("sent", ["", "not json", "{"])
def test_a_form_result_that_is_not_a_json_list_is_400(api, tasks, sent):
    _, (task, _) = tasks
    assert_invalid(
        api.post("/api/predictions/", data={"task": str(task), "result": sent}),
        {"result": ['Expected a list of items but got type "str".']},
    )


def test_predictions_of_another_organization_are_404_and_unlisted(api, hank, tasks):
    _, (task, _) = tasks
    made = api.post("/api/predictions/", json={"task": task, "result": RESULT}).json()
    url = f"/api/predictions/{made['id']}/"
    for response in (
        hank.get(url),
        hank.patch(url, json={"score": 1}),
        hank.put(url, json={"task": task, "result": []}),
        hank.delete(url),
    ):
        assert_error(response, 404, "No Prediction matches the given query.")
    assert made["id"] not in [p["id"] for p in hank.get("/api/predictions/").json()]
    assert_invalid(hank.get("/api/predictions/", params={"task": task}), {"task": [NO_CHOICE]})
    assert api.get(url).json()["result"] == RESULT


def test_posted_predictions_do_not_count_as_a_versions_unless_they_name_its_run(api, tasks):
    project, (first, second) = tasks
    count = {"project": project, "project_subset": "All"}
    url = "/api/prompts/1/versions/1/prediction-count"
    api.post("/api/predictions/", json={"task": first, "result": RESULT, "model_version": "v1"})
    assert api.get(url, params=count).json()["existing_predictions"] == 0
    run = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": project, "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Stuck"},
    ).json()
    named = api.post(
        "/api/predictions/", json={"task": second, "result": [], "model_run": run["id"]}
    )
    assert named.status_code == 201, named.text
    assert named.json()["model_run"] == run["id"]
    assert api.get(url, params=count).json()["existing_predictions"] == 1
    assert_invalid(
        api.post("/api/predictions/", json={"task": second, "result": [], "model_run": run["id"]}),
        {"non_field_errors": ["The fields model_run, task must make a unique set."]},
    )
    api.post(f"/api/prompts/1/versions/1/inference-runs/{run['id']}/cancel")


def test_a_page_of_tasks_gathers_each_tasks_predictions(api, tasks):
    """A task's counters on a page of tasks: every prediction counted, the scores not null
    averaged, the versions not blank named once in the order first seen; with fields=all the
    predictions themselves, oldest first."""
    project, (first, second) = tasks
    made = []
    for score, version in [(0.5, "v1"), (None, "v2"), (0.25, ""), (0.0, "v1"), (None, None)]:
        body = {"task": first, "result": RESULT, "score": score}
        if version is not None:
            body["model_version"] = version
        made.append(ok_created(api.post("/api/predictions/", json=body)))
    for fields in ("task_only", "all"):
        listed = api.get("/api/tasks/", params={"project": project, "fields": fields}).json()
        one, other = listed["tasks"]
        assert (one["total_predictions"], one["predictions_score"]) == (5, 0.25)
        assert one["predictions_model_versions"] == "v1, v2"
        assert (other["id"], other["total_predictions"], other["predictions_score"]) == (
            second, 0, 0.0,
        )  # fmt: skip
        shown = [p["id"] for p in one["predictions"]]
        assert shown == (made if fields == "all" else [])


def ok_created(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    identifier: int = response.json()["id"]
    return identifier
