"""Predictions field by field: each field of a body with DRF's coercions and null rules, the
project a prediction belongs to (given, or its task's), a run named, changed and cleared, the
instants of a change, and the list's filters together."""

import pytest
from conftest import Emulator

from .envelope import assert_error, assert_invalid

RESULT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
           "value": {"choices": ["Negative"]}}]  # fmt: skip
NO_CHOICE = "Select a valid choice. That choice is not one of the available choices."


@pytest.fixture(scope="module")
def world(server: Emulator) -> dict[str, int]:
    """Two projects of organization 1 with a task each (a second one in the first)."""
    with server.client() as api:
        made: dict[str, int] = {}
        for name in ("first", "second"):
            project = api.post("/api/projects/", json={"title": f"Predicted {name}"}).json()["id"]
            imported = api.post(f"/api/projects/{project}/import", json=[{"n": 1}, {"n": 2}])
            status = api.get(f"/api/projects/{project}/imports/{imported.json()['import']}/")
            made[name], (made[f"{name}_task"], made[f"{name}_other_task"]) = (
                project, status.json()["task_ids"],
            )  # fmt: skip
    return made


def test_each_field_of_a_created_prediction_in_the_spelling_drf_accepts(api, world):
    response = api.post(
        "/api/predictions/",
        json={"task": str(world["first_task"]), "project": world["second"], "result": RESULT,
              "score": "0.5", "model_version": "  v9  ", "cluster": "4",
              "neighbors": {"near": [1, 2]}, "mislabeling": "0.25", "model": None,
              "model_run": None},
    )  # fmt: skip

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"], "result": RESULT, "model_version": "v9", "created_ago": "",
        "score": 0.5, "cluster": 4, "neighbors": {"near": [1, 2]}, "mislabeling": 0.25,
        "created_at": body["created_at"], "updated_at": body["created_at"], "model": None,
        "model_run": None, "task": world["first_task"], "project": world["second"],
    }  # fmt: skip
    assert api.get(f"/api/predictions/{body['id']}/").json() == body


def test_a_prediction_without_a_project_belongs_to_its_tasks_with_the_defaults(api, world):
    for extra in ({}, {"project": None}, {"project": ""}):
        body = api.post(
            "/api/predictions/", json={"task": world["second_task"], "result": [], **extra}
        ).json()
        assert {k: body[k] for k in ("project", "model_version", "score", "cluster",
                                     "neighbors", "mislabeling", "model_run")} == {
            "project": world["second"], "model_version": "", "score": None, "cluster": None,
            "neighbors": None, "mislabeling": 0.0, "model_run": None,
        }, extra  # fmt: skip


def test_null_is_refused_for_the_fields_that_cannot_be_null(api, world):
    names = ["result", "task", "project", "score", "model_version", "cluster", "neighbors",
             "mislabeling", "model", "model_run"]  # fmt: skip
    refused = {n: ["This field may not be null."]
               for n in ("result", "task", "model_version", "mislabeling")}  # fmt: skip
    assert_invalid(api.post("/api/predictions/", json=dict.fromkeys(names)), refused)
    made = api.post("/api/predictions/", json={"task": world["first_task"], "result": []}).json()
    url = f"/api/predictions/{made['id']}/"
    assert_invalid(api.patch(url, json=dict.fromkeys(names)), refused)
    cleared = api.patch(url, json={"score": None, "cluster": None, "neighbors": None})
    assert cleared.status_code == 200, cleared.text


def test_a_changed_task_takes_the_prediction_to_its_project_unless_one_is_named(api, world):
    made = api.post("/api/predictions/", json={"task": world["first_task"], "result": []}).json()
    url = f"/api/predictions/{made['id']}/"

    moved = api.patch(url, json={"task": world["second_task"]}).json()
    assert (moved["task"], moved["project"]) == (world["second_task"], world["second"])
    named = api.patch(url, json={"task": world["first_task"], "project": world["second"]}).json()
    assert (named["task"], named["project"]) == (world["first_task"], world["second"])
    kept = api.patch(url, json={"project": world["first"]}).json()
    assert (kept["task"], kept["project"]) == (world["first_task"], world["first"])
    assert kept["result"] == [] and kept["created_at"] == made["created_at"]


def test_a_change_moves_updated_at_and_keeps_created_at(api, server, world):
    made = api.post("/api/predictions/", json={"task": world["first_task"], "result": []}).json()
    with server.client(None) as control:
        control.post("/_emulator/clock", json={"advance_seconds": 60}).raise_for_status()

    for method in ("patch", "put"):
        changed = getattr(api, method)(
            f"/api/predictions/{made['id']}/", json={"task": world["first_task"], "result": RESULT}
        ).json()
        assert changed["created_at"] == made["created_at"] < changed["updated_at"], method
        assert changed["result"] == RESULT


def test_a_run_named_cleared_and_named_again_with_one_prediction_per_task(api, world):
    run = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": world["first"], "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Stuck"},
    ).json()
    try:
        made = api.post(
            "/api/predictions/",
            json={"task": world["first_task"], "result": [], "model_run": str(run["id"])},
        ).json()
        url = f"/api/predictions/{made['id']}/"
        assert made["model_run"] == run["id"]
        # Naming its own run again is no clash with itself.
        assert (
            api.patch(url, json={"model_run": run["id"], "score": 1}).json()["model_run"]
            == (run["id"])
        )
        cleared = api.patch(url, json={"model_run": None}).json()
        assert cleared["model_run"] is None
        other = api.post(
            "/api/predictions/",
            json={"task": world["first_task"], "result": [], "model_run": run["id"]},
        )
        assert other.status_code == 201, other.text
        assert_invalid(
            api.patch(url, json={"model_run": run["id"]}),
            {"non_field_errors": ["The fields model_run, task must make a unique set."]},
        )
        other_task = api.patch(url, json={"task": world["first_other_task"],
                                          "model_run": run["id"]})  # fmt: skip
        assert other_task.status_code == 200, other_task.text
        assert_invalid(
            api.patch(url, json={"task": world["first_task"]}),
            {"non_field_errors": ["The fields model_run, task must make a unique set."]},
        )
        assert api.get(url).json()["task"] == world["first_other_task"]
    finally:
        api.post(f"/api/prompts/1/versions/1/inference-runs/{run['id']}/cancel")


def test_a_run_of_another_organization_or_none_is_an_invalid_pk(api, world):
    for run in (999999, 0):
        assert_invalid(
            api.post("/api/predictions/",
                     json={"task": world["first_task"], "result": [], "model_run": run}),
            {"model_run": [f'Invalid pk "{run}" - object does not exist.']},
        )  # fmt: skip


def test_list_filters_are_combined_and_project_differs_from_task_project(api, world):
    def made(task: int, project: int | None = None) -> int:
        body = {"task": task, "result": [], **({"project": project} if project else {})}
        return api.post("/api/predictions/", json=body).json()["id"]

    plain = made(world["second_other_task"])
    elsewhere = made(world["second_other_task"], world["first"])  # task of second, project first

    def listed(**params: str) -> list[int]:
        response = api.get("/api/predictions/", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json() if p["task"] == world["second_other_task"]]

    assert listed(task=str(world["second_other_task"])) == [plain, elsewhere]
    assert listed(project=str(world["first"])) == [elsewhere]
    assert listed(task__project=str(world["first"])) == []
    assert listed(task__project=str(world["second"])) == [plain, elsewhere]
    assert listed(project=str(world["second"]), task__project=str(world["second"])) == [plain]
    assert listed(task=str(world["second_other_task"]), project=str(world["first"])) == [elsewhere]
    assert listed(task="", project="", task__project="") == [plain, elsewhere]
    for value in ("0", "-1", "2147483648", "1.0"):
        assert_invalid(api.get("/api/predictions/", params={"project": value}),
                       {"project": [NO_CHOICE]})  # fmt: skip
    api.delete(f"/api/predictions/{elsewhere}/").raise_for_status()
    assert listed() == [plain]
    assert_error(
        api.get(f"/api/predictions/{elsewhere}/"), 404, "No Prediction matches the given query."
    )


def test_a_prediction_of_a_task_of_another_organization_cannot_be_made(server, world):
    with server.client("globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a") as hank:
        refused = hank.post(
            "/api/predictions/",
            json={"task": 1, "result": [], "project": world["first"], "model_run": 1},
        )
    assert_invalid(refused, {"task": ['Invalid pk "1" - object does not exist.'],
                             "project": [f'Invalid pk "{world["first"]}" - object does not '
                                         "exist."],
                             "model_run": ['Invalid pk "1" - object does not exist.']})  # fmt: skip


def test_a_put_needs_the_task_and_the_result_and_a_patch_does_not(api, world):
    made = api.post("/api/predictions/", json={"task": world["first_task"], "result": []}).json()
    url = f"/api/predictions/{made['id']}/"
    assert_invalid(api.put(url, json={"score": 1}), {"result": ["This field is required."],
                                                     "task": ["This field is required."]})  # fmt: skip
    patched = api.patch(url, json={"score": 1})
    assert (patched.status_code, patched.json()["score"]) == (200, 1.0)
