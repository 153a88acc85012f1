"""Tasks field by field: an import's items with every field of their annotations and
predictions and the defaults of those not given, the import's whole status (done, failed, not
committed, pre-annotated), a task body's limits and coercions, and the task list's pages,
ordering keys, filters and refusals in Label Studio's words."""

import itertools
import json

import httpx
import pytest
from conftest import TLS, Emulator, contract_document

from .envelope import assert_error, assert_invalid

_ids = itertools.count(9400)
RESULT = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
           "value": {"choices": ["Positive"]}}]  # fmt: skip
INT64_MAX = 2**63 - 1
QUERY_SHAPE = "query must be a JSON object: {filters, selectedItems, ordering}"
SELECTED_SHAPE = (
    'selectedItems must be {"all": false, "included": [...]} or {"all": true, "excluded": [...]}'
)


@pytest.fixture
def project(api: httpx.Client) -> int:
    """A fresh, empty project of organization 1."""
    response = api.post("/api/projects/", json={"title": f"Tasks {next(_ids)}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def untouched(server: Emulator) -> int:
    """An empty project for the tests that are refused and so create nothing."""
    with server.client() as api:
        response = api.post("/api/projects/", json={"title": "Refusals"})
        assert response.status_code == 201, response.text
        return response.json()["id"]


def imported(api: httpx.Client, project: int, items: object, **params: str) -> dict:
    response = api.post(f"/api/projects/{project}/import", json=items, params=params)
    assert response.status_code == 201, response.text
    status = api.get(f"/api/projects/{project}/imports/{response.json()['import']}/")
    assert status.status_code == 200, status.text
    return status.json()


def tasks_of(api: httpx.Client, project: int, **params: str) -> dict:
    response = api.get("/api/tasks/", params={"project": project, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_import_stores_every_field_of_its_items_and_the_defaults_of_the_others(api, project):
    status = imported(
        api,
        project,
        [
            {"data": {"text": "full"}, "meta": {"source": "mail"}, "allow_skip": False,
             "annotations": [
                 {"result": RESULT, "ground_truth": True, "was_cancelled": "false",
                  "completed_by": 1, "lead_time": "2.5", "import_id": INT64_MAX},
                 {"result": [], "was_cancelled": True, "completed_by": None},
             ],
             "predictions": [
                 {"result": RESULT, "score": "0.25", "model_version": 7, "cluster": "3",
                  "neighbors": [1, 2], "mislabeling": 0.5},
                 {"result": []},
             ]},
            {"data": {"text": "bare"}, "meta": None},
            # A ground-truth annotation that was cancelled makes no ground truth.
            {"data": {"text": "cancelled"}, "annotations": [{"ground_truth": True,
                                                               "was_cancelled": True}]},
        ],
    )  # fmt: skip
    now = status["created_at"]
    listed = tasks_of(api, project, fields="all")
    full, bare, cancelled = listed["tasks"]

    assert status == {
        "id": status["id"], "project": project, "preannotated_from_fields": None,
        "commit_to_project": True, "return_task_ids": False, "status": "completed", "url": None,
        "error": None, "created_at": now, "updated_at": now, "finished_at": now,
        "task_count": 3, "annotation_count": 3, "prediction_count": 2, "duration": 0,
        "file_upload_ids": [], "could_be_tasks_list": False, "found_formats": [],
        "data_columns": [], "tasks": None, "task_ids": [full["id"], bare["id"], cancelled["id"]],
    }  # fmt: skip
    assert (listed["total"], listed["total_annotations"], listed["total_predictions"]) == (3, 1, 2)
    shared = {"created_username": "", "created_ago": "", "created_at": now, "updated_at": now,
              "draft_created_at": None, "last_action": None, "bulk_created": False,
              "task": full["id"], "project": project, "updated_by": 1, "parent_prediction": None,
              "parent_annotation": None, "last_created_by": None, "completed_by": 1}  # fmt: skip
    given, defaulted = full["annotations"]
    assert given == {**shared, "id": given["id"], "result": RESULT, "was_cancelled": False,
                     "ground_truth": True, "lead_time": 2.5, "import_id": INT64_MAX}  # fmt: skip
    assert defaulted == {**shared, "id": given["id"] + 1, "result": [], "was_cancelled": True,
                         "ground_truth": False, "lead_time": None, "import_id": None}  # fmt: skip
    scored, plain = full["predictions"]
    common = {"created_ago": "", "created_at": now, "updated_at": now, "model": None,
              "model_run": None, "task": full["id"], "project": project}  # fmt: skip
    assert scored == {**common, "id": scored["id"], "result": RESULT, "model_version": "7",
                      "score": 0.25, "cluster": 3, "neighbors": [1, 2], "mislabeling": 0.5}  # fmt: skip
    assert plain == {**common, "id": scored["id"] + 1, "result": [], "model_version": "",
                     "score": None, "cluster": None, "neighbors": None, "mislabeling": 0.0}  # fmt: skip
    assert (full["meta"], full["allow_skip"], full["ground_truth"]) == ({"source": "mail"}, False,
                                                                        True)  # fmt: skip
    assert (full["created_at"], full["updated_at"]) == (now, now)
    assert (full["total_annotations"], full["cancelled_annotations"]) == (1, 1)
    assert (bare["meta"], bare["allow_skip"], bare["annotations"], bare["predictions"]) == (
        {}, True, [], [],
    )  # fmt: skip
    assert cancelled["ground_truth"] is False
    assert cancelled["annotations"][0]["result"] == []
    assert [t["inner_id"] for t in listed["tasks"]] == [1, 2, 3]


def test_an_imported_annotation_takes_null_for_each_field_the_contract_makes_nullable(api, project):
    """AnnotationRequest's nullable fields (lead_time, import_id): null given is null stored."""
    properties = contract_document()["components"]["schemas"]["AnnotationRequest"]["properties"]
    nullable = ["lead_time", "import_id"]
    assert all(properties[n].get("nullable") for n in nullable)
    status = imported(api, project, [{"data": {"text": "timed"}, "annotations": [
        {"result": RESULT, "ground_truth": True, **dict.fromkeys(nullable)}]}])  # fmt: skip

    assert (status["status"], status["error"], status["annotation_count"]) == ("completed", None, 1)
    (annotation,) = tasks_of(api, project, fields="all")["tasks"][0]["annotations"]
    assert {n: annotation[n] for n in nullable} == dict.fromkeys(nullable)


def test_inner_ids_continue_from_the_projects_highest(api, project):
    imported(api, project, [{"text": "a"}, {"text": "b"}])
    made = api.post("/api/tasks/", json={"project": project, "data": {}, "inner_id": 41}).json()
    unset = api.post("/api/tasks/", json={"project": project, "data": {}, "inner_id": None})
    imported(api, project, {"text": "single item, not a list"})

    assert made["inner_id"] == 41
    assert (made["allow_skip"], made["meta"]) == (True, {})
    kept = api.post("/api/tasks/", json={"project": project, "data": {}, "allow_skip": "false",
                                         "meta": None, "inner_id": 7})  # fmt: skip
    assert (kept.json()["allow_skip"], kept.json()["meta"]) == (False, {})
    api.delete(f"/api/tasks/{kept.json()['id']}/").raise_for_status()
    assert unset.json()["inner_id"] == 42
    assert [t["inner_id"] for t in tasks_of(api, project)["tasks"]] == [1, 2, 41, 42, 43]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ([1], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ({"data": {}, "allow_skip": "maybe", "meta": {"a": 1}},
         {"allow_skip": ["Must be a valid boolean."]}),
        ({"data": {}, "annotations": {"result": []}},
         {"annotations": ['Expected a list of items but got type "dict".']}),
        ({"data": {}, "annotations": [{}, {"ground_truth": "maybe", "was_cancelled": "maybe",
                                           "lead_time": "long", "result": {}}]},
         {"annotations": [{}, {"result": ['Expected a list of items but got type "dict".'],
                               "ground_truth": ["Must be a valid boolean."],
                               "was_cancelled": ["Must be a valid boolean."],
                               "lead_time": ["A valid number is required."]}]}),
        ({"data": {}, "annotations": [{"completed_by": 2}, {"completed_by": 99999}, 5]},
         {"annotations": [{"completed_by": ['Invalid pk "2" - object does not exist.']},
                          {"completed_by": ['Invalid pk "99999" - object does not exist.']},
                          {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                                "int."]}]}),
        ({"data": {}, "annotations": [{"import_id": INT64_MAX + 1},
                                      {"import_id": -INT64_MAX - 2}]},
         {"annotations": [
             {"import_id": [f"Ensure this value is less than or equal to {INT64_MAX}."]},
             {"import_id": [f"Ensure this value is greater than or equal to {-INT64_MAX - 1}."]},
         ]}),
        ({"data": {}, "predictions": [{}, {"result": [], "model_version": True, "score": "x",
                                          "cluster": "x", "mislabeling": None}]},
         {"predictions": [{"result": ["This field is required."]},
                          {"score": ["A valid number is required."],
                           "model_version": ["Not a valid string."],
                           "cluster": ["A valid integer is required."],
                           "mislabeling": ["This field may not be null."]}]}),
        ({"data": {}, "predictions": [{"result": [], "model_version": ["v"]}]},
         {"predictions": [{"model_version": ["Not a valid string."]}]}),
    ],
)  # fmt: skip
def test_a_bad_item_fails_the_import_with_its_problems_in_the_status(api, untouched, item, problem):
    status = imported(api, untouched, [{"text": "good"}, item])

    assert status == {
        **status, "status": "failed", "error": f"Validation error: Task 1: {problem}",
        "task_count": 0, "annotation_count": 0, "prediction_count": 0, "task_ids": [],
        "finished_at": status["created_at"],
    }  # fmt: skip
    assert tasks_of(api, untouched)["total"] == 0


def test_a_failed_import_names_its_first_twenty_bad_items(api, untouched):
    status = imported(api, untouched, [[n] for n in range(21)])

    bad = "{'non_field_errors': ['Invalid data. Expected a dictionary, but got list.']}"
    assert status["error"] == "Validation error: " + "; ".join(
        f"Task {n}: {bad}" for n in range(20)
    )


def test_an_import_refuses_too_many_tasks_and_a_form_body(api, untouched):
    project = untouched
    assert_error(
        api.post(f"/api/projects/{project}/import", content="[" + ",".join(["{}"] * 250_001) + "]",
                 headers={"Content-Type": "application/json"}),
        400,
        "Too many tasks in one request: at most 250000.",
    )  # fmt: skip
    assert_error(
        api.post(f"/api/projects/{project}/import", data={"text": "x"}),
        400,
        "Only JSON tasks can be posted to the emulator: send a JSON list.",
    )
    assert tasks_of(api, project)["total"] == 0


def test_an_import_takes_predictions_from_the_data_fields_it_names(api, project):
    status = imported(
        api,
        project,
        [{"text": "a", "label": RESULT, "other": []}, {"text": "b"}],
        preannotated_from_fields=["label", "other"],
    )
    first, second = tasks_of(api, project, fields="all")["tasks"]

    assert (status["preannotated_from_fields"], status["prediction_count"]) == (
        ["label", "other"], 2,
    )  # fmt: skip
    assert first["data"] == {"text": "a"} and second["data"] == {"text": "b"}
    assert [p["result"] for p in first["predictions"]] == [RESULT, []]
    assert second["predictions"] == []


def test_an_import_not_committed_counts_what_it_would_create(api, project):
    status = imported(
        api,
        project,
        [{"data": {"text": "a"}, "annotations": [{"result": []}, {"result": []}],
          "predictions": [{"result": []}]}, {"text": "b"}],
        commit_to_project="0", return_task_ids="TRUE",
    )  # fmt: skip

    assert (status["status"], status["commit_to_project"], status["return_task_ids"]) == (
        "completed", False, True,
    )  # fmt: skip
    assert (status["task_count"], status["annotation_count"], status["prediction_count"]) == (
        2, 2, 1,
    )  # fmt: skip
    assert status["task_ids"] == []
    assert tasks_of(api, project)["total"] == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("inner_id", INT64_MAX + 1, f"Ensure this value is less than or equal to {INT64_MAX}."),
        ("inner_id", -INT64_MAX - 2,
         f"Ensure this value is greater than or equal to {-INT64_MAX - 1}."),
        ("inner_id", "first", "A valid integer is required."),
        ("data", [], 'Expected a dictionary of items but got type "list".'),
        ("project", "x", 'Incorrect type. Expected pk value, received str.'),
    ],
)  # fmt: skip
def test_a_task_field_past_its_limit_is_refused(api, untouched, field, value, message):
    body = {"project": untouched, "data": {}, field: value}
    assert_invalid(api.post("/api/tasks/", json=body), {field: [message]})


def test_a_task_moved_to_another_project_takes_its_annotations_and_predictions(api, project):
    other = api.post("/api/projects/", json={"title": "Moved to"}).json()["id"]
    (task,) = imported(
        api, project, [{"data": {"text": "a"}, "annotations": [{"result": RESULT}],
                        "predictions": [{"result": RESULT}]}],
    )["task_ids"]  # fmt: skip
    before = api.get(f"/api/tasks/{task}/").json()
    with httpx.Client(base_url=str(api.base_url), verify=TLS) as control:
        control.post("/_emulator/clock", json={"advance_seconds": 60}).raise_for_status()

    moved = api.patch(f"/api/tasks/{task}/", json={"project": str(other)})

    assert moved.status_code == 200, moved.text
    after = moved.json()
    assert after["project"] == other
    assert [a["project"] for a in after["annotations"]] == [other]
    assert [p["project"] for p in after["predictions"]] == [other]
    assert after["created_at"] == before["created_at"] < after["updated_at"]
    assert tasks_of(api, project)["total"] == 0
    assert [t["id"] for t in tasks_of(api, other)["tasks"]] == [task]
    assert api.get("/api/predictions/", params={"project": other}).json()[0]["task"] == task
    assert_invalid(api.patch(f"/api/tasks/{task}/", json={"project": 3}),
                   {"project": ['Invalid pk "3" - object does not exist.']})  # fmt: skip
    assert_invalid(api.patch(f"/api/tasks/{task}/", json={"project": None, "inner_id": None}),
                   {"project": ["This field may not be null."],
                    "inner_id": ["This field may not be null."]})  # fmt: skip


@pytest.mark.parametrize("task", ["0", "-1", "99999999999999999999", "1.0", "x"])
def test_a_task_address_that_is_not_an_id_names_no_task(api, task):
    for response in (api.get(f"/api/tasks/{task}/"), api.patch(f"/api/tasks/{task}/", json={}),
                     api.delete(f"/api/tasks/{task}/")):  # fmt: skip
        assert_error(response, 404, "No Task matches the given query.")


@pytest.fixture(scope="module")
def listed(server: Emulator) -> tuple[int, list[int]]:
    """A project of 101 tasks: the second has a ground-truth annotation, the third a cancelled
    one and a prediction, the first's inner id is 500."""
    with server.client() as api:
        project = api.post("/api/projects/", json={"title": "Listed"}).json()["id"]
        items = [{"n": n} for n in range(101)]
        items[1] = {"data": {"n": 1}, "annotations": [{"result": RESULT, "ground_truth": True}]}
        items[2] = {"data": {"n": 2}, "annotations": [{"result": [], "was_cancelled": True}],
                    "predictions": [{"result": []}]}  # fmt: skip
        ids = imported(api, project, items)["task_ids"]
        api.patch(f"/api/tasks/{ids[0]}/", json={"inner_id": 500}).raise_for_status()
    return project, ids


def test_task_list_pages(api, listed):
    project, ids = listed

    def page(**params: str) -> list[int]:
        return [t["id"] for t in tasks_of(api, project, **params)["tasks"]]

    assert page() == ids[:100]
    assert page(page="2") == ids[100:]
    assert page(page="3") == []
    assert page(page_size="2", page="51") == ids[100:]
    assert page(page_size="1000") == ids
    for size in ("0", "-1", "many", ""):
        assert page(page_size=size) == ids[:100], size
    for number in ("0", "-1", "second", ""):
        response = api.get("/api/tasks/", params={"project": project, "page": number})
        assert_error(response, 404, "Invalid page.")


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (["tasks:id"], [0, 1, 2, 3]),
        (["-tasks:id"], [100, 99, 98, 97]),
        (["tasks:inner_id"], [1, 2, 3, 4]),
        (["-tasks:inner_id"], [0, 100, 99, 98]),
        (["-tasks:ground_truth"], [1, 0, 2, 3]),
        (["tasks:ground_truth"], [0, 2, 3, 4]),
        (["-tasks:created_at"], [0, 1, 2, 3]),  # one instant: by id
        (["-tasks:updated_at"], [0, 1, 2, 3]),  # the first was changed last
        (["-tasks:ground_truth", "-tasks:id"], [1, 0, 2, 3]),  # the first key only
        (["-tasks:unknown"], [0, 1, 2, 3]),
        ([5, "-tasks:id"], [0, 1, 2, 3]),
        ("-tasks:id", [0, 1, 2, 3]),
    ],
)
def test_task_list_ordering_keys_both_ways(api, listed, ordering, expected):
    project, ids = listed
    query = json.dumps({"ordering": ordering})
    got = [t["id"] for t in tasks_of(api, project, query=query, page_size="4")["tasks"]]
    assert got == [ids[n] for n in expected]


def test_task_list_totals_and_only_annotated_follow_the_filters(api, listed):
    project, ids = listed
    whole = tasks_of(api, project)
    assert (whole["total"], whole["total_annotations"], whole["total_predictions"]) == (101, 1, 1)
    for spelling in ("true", "True", "1"):
        annotated = tasks_of(api, project, only_annotated=spelling)
        assert [t["id"] for t in annotated["tasks"]] == [ids[1]], spelling
        assert (annotated["total"], annotated["total_annotations"]) == (1, 1)
    for spelling in ("false", "0", "yes", ""):
        assert tasks_of(api, project, only_annotated=spelling)["total"] == 101, spelling
    chosen = json.dumps({"selectedItems": {"all": False, "included": [ids[2], ids[3]]}})
    some = tasks_of(api, project, query=chosen)
    assert (some["total"], some["total_annotations"], some["total_predictions"]) == (2, 0, 1)
    assert [t["id"] for t in some["tasks"]] == ids[2:4]


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        ({"all": False, "included": [1, 3]}, [1, 3]),
        ({"all": True, "excluded": [1, 3]}, [0, 2, 4, 5, 6, 7]),
        ({"all": False}, []),
        ({"all": True}, [0, 1, 2, 3, 4, 5]),
        ({"all": False, "included": [-5, 2**70]}, []),  # ids no task can have
        ({"all": True, "excluded": [-5, 2**70]}, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_selected_items_in_the_query_or_as_their_own_parameter(api, listed, selected, expected):
    project, ids = listed

    def ids_of(items: dict) -> dict:  # positions given as task ids
        key = "included" if items["all"] is False else "excluded"
        if key not in items:
            return items
        return {**items, key: [ids[n] if 0 <= n < len(ids) else n for n in items[key]]}

    chosen = json.dumps({"selectedItems": ids_of(selected)})
    nothing = json.dumps({"selectedItems": {"all": False, "included": []}})
    for params in (
        {"query": chosen},
        {"query": nothing, "selectedItems": json.dumps(ids_of(selected))},
    ):
        got = tasks_of(api, project, page_size="6", **params)["tasks"]
        assert [t["id"] for t in got] == [ids[n] for n in expected], params
    assert tasks_of(api, project, query=nothing, selectedItems="")["total"] == 101


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"query": "not json"}, 400, QUERY_SHAPE),
        ({"query": "[1]"}, 400, QUERY_SHAPE),
        ({"selectedItems": "{"}, 400, QUERY_SHAPE),
        ({"query": '{"selectedItems": [1]}'}, 400, SELECTED_SHAPE),
        ({"query": '{"selectedItems": {"all": 1}}'}, 400, SELECTED_SHAPE),
        ({"selectedItems": '{"included": [1]}'}, 400, SELECTED_SHAPE),
        ({"query": '{"selectedItems": {"all": false, "included": "1"}}'}, 400,
         "selectedItems.included must be a list of task ids"),
        ({"query": '{"selectedItems": {"all": true, "excluded": [true]}}'}, 400,
         "selectedItems.excluded must be a list of task ids"),
        ({"query": '{"selectedItems": {"all": false, "included": [1.5]}}'}, 400,
         "selectedItems.included must be a list of task ids"),
    ],
)  # fmt: skip
def test_a_task_list_query_of_the_wrong_shape_is_refused(api, listed, params, status, detail):
    project, _ = listed
    assert_error(api.get("/api/tasks/", params={"project": project, **params}), status, detail)


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"project": "abc"}, 400, "Incorrect value for project=abc"),
        ({"project": "1.5"}, 400, "Incorrect value for project=1.5"),
        ({"project": "", "view": "5"}, 404, "No View matches the given query."),
        ({"view": "5"}, 404, "No View matches the given query."),
        ({"project": "0", "view": "0"}, 404, "Neither project nor view id specified"),
        ({"project": "", "view": ""}, 404, "Neither project nor view id specified"),
        ({"project": "3"}, 404, "No Project matches the given query."),
    ],
)  # fmt: skip
def test_a_task_list_without_a_project_of_the_organization_is_refused(api, params, status, detail):
    assert_error(api.get("/api/tasks/", params=params), status, detail)


def test_a_reseeded_tasks_ground_truth_follows_its_new_annotations(api, server):
    def seed(annotations: list[list[dict]]) -> None:
        tasks = [{"data": {"n": n}, "annotations": a} for n, a in enumerate(annotations)]
        with server.client(None) as control:
            seeded = control.post("/_emulator/seed", json={"projects": [
                {"id": 9499, "title": "Reseeded", "organization": 1, "tasks": tasks}]})  # fmt: skip
            assert seeded.status_code == 200, seeded.text

    def flags() -> list[bool]:
        return [t["ground_truth"] for t in tasks_of(api, 9499)["tasks"]]

    gt = {"result": [], "ground_truth": True}
    seed([[gt], [], [{"result": []}]])
    assert flags() == [True, False, False]
    seed([[], [gt], [{**gt, "was_cancelled": True}, {"result": []}]])
    assert flags() == [False, True, False]


@pytest.mark.parametrize(
    ("spelling", "returned"),
    [("t", True), ("y", True), ("TRUE", True), ("On", True), ("f", False), ("2", False),
     (None, False)],
)  # fmt: skip
def test_an_import_reads_return_task_ids_in_each_spelling(api, untouched, spelling, returned):
    params = {"commit_to_project": "no"} | ({} if spelling is None else
                                            {"return_task_ids": spelling})  # fmt: skip
    status = imported(api, untouched, [{"n": 1}], **params)
    assert (status["return_task_ids"], status["commit_to_project"]) == (returned, False)
