"""Tasks and imports: LseTask, the paginated task list, ProjectImport, ground truth kept in step
with annotations, deletes that take annotations, predictions and run bookkeeping along."""

import itertools
from collections.abc import Iterator

import httpx
import pytest
from conftest import HANK_TOKEN, TLS, Emulator

from .envelope import assert_error, assert_invalid

_ids = itertools.count(9100)
GT_RESULT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
              "value": {"choices": ["Positive"]}}]  # fmt: skip


@pytest.fixture
def project(server: Emulator) -> int:
    """A fresh, empty project of organization 1 (the demo projects stay as the seed made them)."""
    project_id = next(_ids)
    with server.client(None) as control:
        response = control.post(
            "/_emulator/seed",
            json={
                "projects": [{"id": project_id, "title": f"Tasks {project_id}", "organization": 1}]
            },  # fmt: skip
        )
        assert response.status_code == 200, response.text
    return project_id


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


def import_tasks(api: httpx.Client, project: int, tasks: list) -> dict:
    """Import and read the import's status (already final: imports finish in their request)."""
    response = api.post(f"/api/projects/{project}/import", json=tasks)
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["import"]
    status = api.get(f"/api/projects/{project}/imports/{body['import']}/")
    assert status.status_code == 200, status.text
    return status.json()


def subsets(api: httpx.Client, project: int) -> dict[str, int]:
    return {s["subset"]: s["count"] for s in api.get(f"/api/projects/{project}/subsets").json()}


def test_import_with_ground_truth_makes_hasgt_tasks_and_reports_counts(api, project):
    status = import_tasks(
        api,
        project,
        [
            {
                "data": {"text": "great"},
                "annotations": [{"result": GT_RESULT, "ground_truth": True}],
            },
            {"data": {"text": "meh"}, "annotations": [{"result": GT_RESULT}]},
            {"text": "bare data, as Label Studio reads an item without a data key"},
            {"data": {"text": "scored"}, "predictions": [{"result": GT_RESULT, "score": 0.5}]},
        ],
    )
    assert status["status"] == "completed"
    assert status["error"] is None
    assert (status["task_count"], status["annotation_count"], status["prediction_count"]) == (
        4,
        2,
        1,
    )
    assert status["project"] == project and len(status["task_ids"]) == 4
    assert subsets(api, project) == {"All": 4, "HasGT": 1, "Sample": 4}
    listed = api.get("/api/tasks/", params={"project": project, "fields": "all"}).json()
    assert (listed["total"], listed["total_annotations"], listed["total_predictions"]) == (4, 2, 1)
    first, second, bare, scored = listed["tasks"]
    assert first["ground_truth"] is True and second["ground_truth"] is False
    assert first["annotations"][0]["result"] == GT_RESULT
    assert first["annotations"][0]["completed_by"] == 1  # the importing user
    assert bare["data"] == {"text": "bare data, as Label Studio reads an item without a data key"}
    assert [t["inner_id"] for t in listed["tasks"]] == [1, 2, 3, 4]
    assert scored["predictions"][0]["score"] == 0.5
    assert scored["total_predictions"] == 1


def test_import_with_bad_tasks_fails_in_its_status_and_creates_nothing(api, project):
    status = import_tasks(api, project, [{"data": "text"}, {"data": {"a": 1}, "annotations": [5]}])
    assert status["status"] == "failed"
    assert status["task_count"] == 0 and status["task_ids"] == []
    assert (
        "Task 0: {'data': ['Expected a dictionary of items but got type \"str\".']}"
        in status["error"]
    )
    assert "Task 1:" in status["error"]
    assert subsets(api, project)["All"] == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("just text", "Incorrect task data: expected a list of tasks, but got str."),
        ([], "No tasks found in the request."),
    ],
)
def test_import_refuses_a_body_that_is_not_tasks(api, project, body, detail):
    assert_error(api.post(f"/api/projects/{project}/import", json=body), 400, detail)


def test_import_and_its_status_are_404_for_another_organization(api, hank, project):
    created = api.post(f"/api/projects/{project}/import", json=[{"text": "x"}]).json()["import"]
    assert_error(
        hank.post(f"/api/projects/{project}/import", json=[{"text": "x"}]),
        404,
        "No Project matches the given query.",
    )
    assert_error(
        hank.get(f"/api/projects/{project}/imports/{created}/"),
        404,
        "No Project matches the given query.",
    )
    assert_error(
        api.get(f"/api/projects/{project}/imports/999999/"),
        404,
        "No ProjectImport matches the given query.",
    )


def test_import_without_commit_counts_but_creates_no_task(api, project):
    response = api.post(
        f"/api/projects/{project}/import?commit_to_project=false", json=[{"text": "x"}]
    )
    status = api.get(f"/api/projects/{project}/imports/{response.json()['import']}/").json()
    assert (status["status"], status["task_count"], status["commit_to_project"]) == (
        "completed", 1, False,
    )  # fmt: skip
    assert subsets(api, project)["All"] == 0


def test_task_list_pages_with_totals_and_an_empty_page_after_the_last(api, project):
    import_tasks(api, project, [{"text": f"t{i}"} for i in range(5)])
    pages = [
        api.get("/api/tasks/", params={"project": project, "page_size": 2, "page": page}).json()
        for page in (1, 2, 3, 4)
    ]
    assert [len(p["tasks"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 for p in pages)
    ids = [t["id"] for p in pages for t in p["tasks"]]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert pages[0]["tasks"][0]["annotations"] == []  # task_only by default
    for page in ("0", "abc"):
        assert_error(
            api.get("/api/tasks/", params={"project": project, "page": page}), 404, "Invalid page."
        )


def test_task_list_filters_selected_items_ordering_and_only_annotated(api, project):
    ids = import_tasks(
        api,
        project,
        [{"text": "a"}, {"data": {"text": "b"}, "annotations": [{"result": GT_RESULT,
                                                                 "ground_truth": True}]},
         {"text": "c"}],
    )["task_ids"]  # fmt: skip

    def listed(**params) -> list[int]:
        response = api.get("/api/tasks/", params={"project": project, **params})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tasks"]]

    assert listed(only_annotated="true") == [ids[1]]
    assert listed(query='{"ordering": ["-tasks:id"]}') == ids[::-1]
    assert listed(query='{"ordering": ["tasks:id"]}') == ids
    assert listed(query=f'{{"selectedItems": {{"all": false, "included": [{ids[2]}]}}}}') == [
        ids[2]
    ]
    assert listed(query=f'{{"selectedItems": {{"all": true, "excluded": [{ids[2]}]}}}}') == ids[:2]
    gt = '{"filters": {"conjunction": "and", "items": [{"filter": "filter:tasks:ground_truth", "operator": "equal", "type": "Boolean", "value": true}]}}'
    assert listed(query=gt) == [ids[1]]


def test_task_list_needs_a_project_of_the_organization(api, hank, project):
    assert_error(api.get("/api/tasks/"), 404, "Neither project nor view id specified")
    assert_error(
        hank.get("/api/tasks/", params={"project": project}),
        404,
        "No Project matches the given query.",
    )
    assert_error(
        api.get("/api/tasks/", params={"project": 99999}),
        404,
        "No Project matches the given query.",
    )


def test_create_get_update_and_delete_a_task(api, project):
    created = api.post("/api/tasks/", json={"project": project, "data": {"text": "hello"}})
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["project"], task["data"], task["inner_id"], task["meta"]) == (
        project, {"text": "hello"}, 1, {},
    )  # fmt: skip
    assert task["created_at"] == task["updated_at"] and task["created_at"].endswith("Z")
    assert api.get(f"/api/tasks/{task['id']}/").json() == task
    patched = api.patch(
        f"/api/tasks/{task['id']}/", json={"data": {"text": "bye"}, "meta": {"k": 1}}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["data"], patched.json()["meta"]) == ({"text": "bye"}, {"k": 1})
    assert api.delete(f"/api/tasks/{task['id']}/").status_code == 204
    assert_error(api.get(f"/api/tasks/{task['id']}/"), 404, "No Task matches the given query.")


def test_task_body_is_validated_with_every_bad_field_at_once(api, hank, project):
    assert_invalid(
        api.post("/api/tasks/", json={}),
        {"data": ["This field is required."], "project": ["This field is required."]},
    )
    assert_invalid(
        api.post("/api/tasks/", json={"data": "text", "project": 99999, "allow_skip": "maybe"}),
        {
            "data": ['Expected a dictionary of items but got type "str".'],
            "project": ['Invalid pk "99999" - object does not exist.'],
            "allow_skip": ["Must be a valid boolean."],
        },
    )
    # Another organization's project does not exist for Hank.
    assert_invalid(
        hank.post("/api/tasks/", json={"data": {}, "project": project}),
        {"project": [f'Invalid pk "{project}" - object does not exist.']},
    )


def test_tasks_of_another_organization_are_404_and_unchanged(api, hank, project):
    task = api.post("/api/tasks/", json={"project": project, "data": {"text": "mine"}}).json()
    url = f"/api/tasks/{task['id']}/"
    for response in (hank.get(url), hank.patch(url, json={"data": {}}), hank.delete(url)):
        assert_error(response, 404, "No Task matches the given query.")
    assert api.get(url).json()["data"] == {"text": "mine"}
    assert_error(api.get("/api/tasks/abc/"), 404, "No Task matches the given query.")


def test_deleting_a_task_deletes_its_annotations_and_predictions_and_its_ground_truth(api, project):
    (task_id,) = import_tasks(
        api,
        project,
        [{"data": {"text": "x"}, "annotations": [{"result": GT_RESULT, "ground_truth": True}],
          "predictions": [{"result": GT_RESULT}]}],
    )["task_ids"]  # fmt: skip
    (prediction,) = api.get("/api/predictions/", params={"task": task_id}).json()
    assert subsets(api, project)["HasGT"] == 1
    assert api.delete(f"/api/tasks/{task_id}/").status_code == 204
    assert subsets(api, project) == {"All": 0, "HasGT": 0, "Sample": 0}
    assert_error(
        api.get(f"/api/predictions/{prediction['id']}/"),
        404,
        "No Prediction matches the given query.",
    )


def wait_for_end(api: httpx.Client, version: int, run_id: int) -> dict:
    with httpx.Client(base_url=str(api.base_url), timeout=60, verify=TLS) as control:
        response = control.get(f"/_emulator/runs/{run_id}/wait", params={"timeout": 30})
    assert response.status_code == 200 and not response.json()["timed_out"], response.text
    runs = api.get(f"/api/prompts/1/versions/{version}/inference-runs").json()
    return next(run for run in runs if run["id"] == run_id)


def test_a_run_over_imported_ground_truth_predicts_every_task_and_they_read_back(api, project):
    import_tasks(
        api,
        project,
        [{"data": {"text": f"t{i}"}, "annotations": [{"result": GT_RESULT,
                                                       "ground_truth": i % 2 == 0}]}
         for i in range(6)],
    )  # fmt: skip
    run = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": project, "project_subset": "HasGT"},
    ).json()
    ended = wait_for_end(api, 1, run["id"])
    assert (ended["status"], ended["total_tasks"], ended["total_predictions"]) == (
        "Completed",
        3,
        3,
    )
    tasks = api.get("/api/tasks/", params={"project": project, "fields": "all"}).json()
    predicted = [t for t in tasks["tasks"] if t["predictions"]]
    assert len(predicted) == 3 and all(t["ground_truth"] for t in predicted)
    made = predicted[0]["predictions"][0]
    assert (made["model_run"], made["model_version"], made["project"]) == (
        run["id"], "baseline", project,
    )  # fmt: skip
    count = api.get(
        "/api/prompts/1/versions/1/prediction-count",
        params={"project": project, "project_subset": "HasGT"},
    ).json()
    assert count == {"existing_predictions": 3, "tasks_to_run": 0, "total_tasks": 3}


def test_a_task_deleted_during_a_run_is_dropped_from_it_and_the_run_ends(api, project):
    ids = import_tasks(api, project, [{"text": f"t{i}"} for i in range(4)])["task_ids"]
    run = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": project, "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Stuck"},
    ).json()
    with httpx.Client(base_url=str(api.base_url), timeout=60, verify=TLS) as control:
        started = control.get(
            f"/_emulator/runs/{run['id']}/wait", params={"status": "InProgress", "timeout": 30}
        ).json()
        assert started["status"] == "InProgress"
        assert api.delete(f"/api/tasks/{ids[-1]}/").status_code == 204
        moved = control.post(f"/_emulator/runs/{run['id']}/transition", json={"to": "Completed"})
        assert moved.status_code == 200, moved.text
    runs = api.get("/api/prompts/1/versions/1/inference-runs", params={"project": project}).json()
    ended = next(r for r in runs if r["id"] == run["id"])
    assert (ended["status"], ended["total_tasks"], ended["total_predictions"]) == (
        "Completed",
        3,
        3,
    )


@pytest.mark.parametrize(
    ("spelling", "committed"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), ("0", False), ("no", False), ("off", False)],
)  # fmt: skip
def test_import_reads_commit_to_project_in_each_spelling_of_a_boolean(
    api, project, spelling, committed
):
    response = api.post(
        f"/api/projects/{project}/import",
        params={"commit_to_project": spelling},
        json=[{"text": "x"}],
    )
    assert response.status_code == 201, response.text
    status = api.get(f"/api/projects/{project}/imports/{response.json()['import']}/").json()
    assert status["commit_to_project"] is committed
    assert subsets(api, project)["All"] == (1 if committed else 0)


def test_patch_changes_only_the_fields_it_names_and_each_of_them(api, project):
    task = api.post("/api/tasks/", json={"project": project, "data": {"text": "a"}}).json()
    assert task["allow_skip"] is True  # the model's default
    url = f"/api/tasks/{task['id']}/"
    changes = [{"allow_skip": False}, {"inner_id": 7}, {"meta": {"k": 2}}, {"data": {"text": "b"}}]
    expected = dict(task)
    for change in changes:
        patched = api.patch(url, json=change)
        assert patched.status_code == 200, patched.text
        expected.update(change)
        for answer in (patched.json(), api.get(url).json()):
            for name in ("allow_skip", "inner_id", "meta", "data", "project"):
                assert answer[name] == expected[name], (change, name)
