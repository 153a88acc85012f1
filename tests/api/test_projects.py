"""Projects as Label Studio serves them: list (filters, ordering, pagination), create, read,
change, delete with what depends on them, label configs checked with Label Studio's wording."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import HANK_TOKEN, TLS, Emulator, contract_document

from .envelope import assert_error, assert_invalid

CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="sentiment" toName="text"><Choice value="Positive"/>'
    '<Choice value="Negative" alias="Neg"/></Choices></View>'
)


pytestmark = pytest.mark.usefixtures("fresh_state")


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


def test_seeded_project_shows_counts_from_its_tasks_and_its_parsed_config(api):
    body = api.get("/api/projects/1/").json()

    assert body["id"] == 1
    assert body["title"] == "Support tickets"
    assert body["task_number"] == 300
    assert body["ground_truth_number"] == 90
    assert body["num_tasks_with_annotations"] == 90
    assert body["total_predictions_number"] == 0
    assert body["queue_left"] == 210
    assert body["organization"] == 1
    assert body["created_by"]["id"] == 1
    assert body["prompts"] == [{"id": 1, "title": "Ticket sentiment"}]
    assert body["parsed_label_config"]["sentiment"]["type"] == "Choices"
    assert body["parsed_label_config"]["sentiment"]["to_name"] == ["text"]
    assert body["parsed_label_config"]["sentiment"]["labels"] == [
        "Positive", "Negative", "Neutral",
    ]  # fmt: skip
    assert body["data_types"] == {"text": "Text"}
    assert body["config_has_control_tags"] is True


def test_create_answers_the_create_shape_with_defaults_and_201(api):
    response = api.post("/api/projects/", json={"title": "Emails", "label_config": CONFIG})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["title"] == "Emails"
    assert body["label_config"] == CONFIG
    assert body["maximum_annotations"] == 1
    assert body["show_skip_button"] is True
    assert body["sampling"] == "Sequential sampling"
    assert body["task_number"] == 0
    assert body["created_by"]["id"] == 1
    assert body["parsed_label_config"]["sentiment"]["labels"] == ["Positive", "Neg"]
    assert "members" not in body and "review_settings" not in body
    assert api.get(f"/api/projects/{body['id']}/subsets").json()[0] == {"subset": "All", "count": 0}


def test_create_reports_every_bad_field_at_once(api):
    response = api.post(
        "/api/projects/",
        json={"title": "ab", "label_config": "<View>", "maximum_annotations": "x",
              "sampling": "Random", "color": "#" * 17, "pinned_at": "yesterday"},
    )  # fmt: skip

    assert_invalid(
        response,
        {
            "title": ["Ensure this field has at least 3 characters."],
            "color": ["Ensure this field has no more than 16 characters."],
            "maximum_annotations": ["A valid integer is required."],
            "sampling": ['"Random" is not a valid choice.'],
            "pinned_at": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ],
            "label_config": ["no element found: line 1, column 6"],
        },
    )
    assert api.get("/api/projects/").json()["count"] == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("<View><Text></View>", "mismatched tag: line 1, column 14"),
        (
            '<View><Text name="a" value="$a"/><Choices name="a" toName="a"/></View>',
            "Label config contains non-unique names",
        ),
        (
            '<View><Text name="a" value="$a"/><Choices name="c" toName="b"/></View>',
            "toName=\"b\" not found in names: ['a', 'c']",
        ),
        (
            '<!DOCTYPE v [<!ENTITY x "xx">]><View>&x;</View>',
            "DTDForbidden(name='v', system_id=None, public_id=None)",
        ),
        (None, "can only parse strings"),
    ],
)
def test_a_broken_label_config_is_a_400_in_label_studios_words(api, config, message):
    response = api.patch("/api/projects/1/", json={"label_config": config})

    assert_invalid(response, {"label_config": [message]})
    assert api.get("/api/projects/1/").json()["label_config"].startswith("<View><Text")


def test_patch_changes_the_fields_sent_and_keeps_the_others(api):
    response = api.patch(
        "/api/projects/2/",
        json={"description": "New", "maximum_annotations": "3", "agreement_threshold": 0.5,
              "review_settings": {"anonymize_annotations": True}},
    )  # fmt: skip

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["description"] == "New"
    assert body["title"] == "Escalated tickets"
    assert body["maximum_annotations"] == 3
    assert body["agreement_threshold"] == "0.50"
    assert body["review_settings"]["anonymize_annotations"] is True
    assert body["review_settings"]["id"] == 2
    assert api.get("/api/projects/2/").json() == body


def test_delete_removes_tasks_runs_predictions_and_prompt_associations(server, api, frozen_clock):
    run = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": 2, "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Completed"},
    ).json()
    with server.client(token=None) as control:
        for status in ("InProgress", "Completed"):
            moved = control.post(f"/_emulator/runs/{run['id']}/transition", json={"to": status})
            moved.raise_for_status()
        assert api.get("/api/projects/2/").json()["total_predictions_number"] > 0

        assert api.delete("/api/projects/2/").status_code == 204

        tables = control.get("/_emulator/export").json()["tables"]
    assert_error(api.get("/api/projects/2/"), 404, "No Project matches the given query.")
    assert not [t for t in tables["task"] if t["project_id"] == 2]
    assert not [r for r in tables["model_run"] if r["project_id"] == 2]
    assert not [p for p in tables["prompt_project"] if p["project_id"] == 2]
    assert {p["run_id"] for p in tables["prediction"]}.isdisjoint({run["id"]})
    assert api.get("/api/projects/1/").json()["task_number"] == 300


def test_another_organizations_project_does_not_exist(api, hank):
    for response in (
        hank.get("/api/projects/1/"),
        hank.patch("/api/projects/1/", json={"title": "Mine now"}),
        hank.delete("/api/projects/1/"),
    ):
        assert_error(response, 404, "No Project matches the given query.")
    assert [p["id"] for p in hank.get("/api/projects/").json()["results"]] == [3]
    assert api.get("/api/projects/1/").json()["title"] == "Support tickets"


def test_unknown_project_is_a_404_and_needs_authentication_first(server, api):
    assert_error(api.get("/api/projects/999/"), 404, "No Project matches the given query.")
    assert_error(api.get("/api/projects/99999999999/"), 404, "No Project matches the given query.")
    response = httpx.get(server.url + "/api/projects/", verify=TLS)
    assert_error(response, 401, "Authentication credentials were not provided.")


def test_list_is_paginated_as_drf_does_it(api, server):
    for n in range(3):
        api.post("/api/projects/", json={"title": f"Extra {n}"}).raise_for_status()

    first = api.get("/api/projects/", params={"page_size": 2, "ordering": "id"}).json()
    second = api.get(first["next"]).json()
    last = api.get("/api/projects/", params={"page_size": 2, "ordering": "id", "page": 3}).json()

    assert first["count"] == 5
    assert [p["id"] for p in first["results"]] == [1, 2]
    assert first["previous"] is None
    assert first["next"] == f"{server.url}/api/projects/?page_size=2&ordering=id&page=2"
    assert [p["id"] for p in second["results"]] == [4, 5]
    assert [p["id"] for p in last["results"]] == [6]
    assert last["next"] is None
    assert_error(api.get("/api/projects/", params={"page": 9}), 404, "Invalid page.")


def test_list_orders_both_ways_and_by_default_pinned_then_newest(api):
    api.patch("/api/projects/1/", json={"pinned_at": "2025-06-01T00:00:00Z"}).raise_for_status()
    new = api.post("/api/projects/", json={"title": "Newest"}).json()["id"]

    def ids(**params: str) -> list[int]:
        return [p["id"] for p in api.get("/api/projects/", params=params).json()["results"]]

    assert ids() == [1, new, 2]
    # Escalated tickets, Newest, Support tickets.
    assert ids(ordering="title") == [2, new, 1]
    assert ids(ordering="-title") == [1, new, 2]
    assert ids(ordering="-id") == [new, 2, 1]
    assert ids(filter="pinned_only") == [1]
    assert ids(filter="exclude_pinned") == [new, 2]


def test_list_filters(api):
    assert [p["id"] for p in api.get("/api/projects/?title=ESCALATED").json()["results"]] == [2]
    assert [p["id"] for p in api.get("/api/projects/?search=support").json()["results"]] == [1]
    assert [p["id"] for p in api.get("/api/projects/?ids=2,3").json()["results"]] == [2]
    assert api.get("/api/projects/?archived=true").json()["count"] == 0
    assert api.get("/api/projects/?workspaces=1").json()["count"] == 2
    assert api.get("/api/projects/?workspaces=2").json()["count"] == 0
    assert_invalid(api.get("/api/projects/?ids=a"), {"ids": ["Enter a whole number."]})


def test_list_include_keeps_only_the_count_fields_named(api):
    item = api.get("/api/projects/?include=task_number&ordering=id").json()["results"][0]

    assert item["task_number"] == 300
    assert "ground_truth_number" not in item
    assert item["title"] == "Support tickets"


def test_form_bodies_are_accepted(api):
    response = api.post("/api/projects/", data={"title": "Form made", "show_instruction": "true"})

    assert response.status_code == 201, response.text
    assert response.json()["show_instruction"] is True


def test_a_form_create_reads_json_fields_from_their_text_and_empty_nullable_fields_as_null(api):
    """DRF's form parsing: a JSON field's value is JSON text, an empty nullable field is null."""
    form = {"title": "Form JSON", "input_schema": '{"fields": ["text", 1]}',
            "control_weights": '{"sentiment": {"overall": 0.5}}', "annotation_limit_count": "",
            "maximum_annotations": "2"}  # fmt: skip
    response = api.post("/api/projects/", data=form)

    assert response.status_code == 201, response.text
    answer = api.get(f"/api/projects/{response.json()['id']}/").json()
    assert {n: answer[n] for n in form} == {
        "title": "Form JSON", "input_schema": {"fields": ["text", 1]},
        "control_weights": {"sentiment": {"overall": 0.5}}, "annotation_limit_count": None,
        "maximum_annotations": 2,
    }  # fmt: skip


CONTRACT = contract_document()


def _limits(schema: str) -> list[tuple[str, str, int]]:
    """(field, limit, bound) for every length and range limit a body schema of the contract sets."""
    properties = CONTRACT["components"]["schemas"][schema]["properties"]
    return [
        (name, limit, spec[limit])
        for name, spec in sorted(properties.items())
        for limit in ("minLength", "maxLength", "minimum", "maximum")
        if limit in spec and not spec.get("readOnly")
    ]


def _at_and_beyond(limit: str, bound: int) -> tuple[object, object, str]:
    """A value at the bound (valid), one just past it, and DRF's message for the latter."""
    if limit == "minLength":
        return "a" * bound, "a" * (bound - 1), f"Ensure this field has at least {bound} characters."
    if limit == "maxLength":
        return (
            "a" * bound,
            "a" * (bound + 1),
            f"Ensure this field has no more than {bound} characters.",
        )
    if limit == "minimum":
        return bound, bound - 1, f"Ensure this value is greater than or equal to {bound}."
    return bound, bound + 1, f"Ensure this value is less than or equal to {bound}."


@pytest.mark.parametrize("schema", ["LseProjectCreateRequest", "PatchedLseProjectUpdateRequest"])
def test_every_length_and_range_limit_of_the_contract_holds_at_its_bound(api, schema):
    if schema == "LseProjectCreateRequest":
        send = lambda body: api.post("/api/projects/", json=body)  # noqa: E731
        accepted = 201
    else:
        project = api.post("/api/projects/", json={"title": "Limits"}).json()["id"]
        send = lambda body: api.patch(f"/api/projects/{project}/", json=body)  # noqa: E731
        accepted = 200
    limits = _limits(schema)
    assert limits  # the contract sets some
    for field, limit, bound in limits:
        valid, invalid, message = _at_and_beyond(limit, bound)
        before = api.get("/api/projects/").json()["count"]
        assert_invalid(send({field: invalid}), {field: [message]})
        assert api.get("/api/projects/").json()["count"] == before
        response = send({field: valid})
        assert response.status_code == accepted, (field, limit, response.text)


def test_delete_takes_every_row_of_the_project_and_leaves_every_other_row(
    server, api, frozen_clock
):
    """Runs with their events, tasks and failed tasks, tasks with their annotations,
    predictions and few-shot uses, imports and prompt associations go; nothing else does."""
    run = api.post(
        "/api/prompts/1/versions/2/inference-runs",
        json={"project": 2, "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Completed"},
    ).json()
    imported = api.post("/api/projects/2/import", json=[{"data": {"text": "x"},
                        "annotations": [{"result": [], "ground_truth": True}]}]).json()  # fmt: skip
    (task,) = api.get(f"/api/projects/2/imports/{imported['import']}/").json()["task_ids"]
    annotation = api.get(f"/api/tasks/{task}/").json()["annotations"][0]["id"]
    example = api.post("/api/prompts/1/versions/1/few-shot-examples",
                       json={"task": task, "annotation": annotation})  # fmt: skip
    assert example.status_code == 201, example.text
    api.post("/api/predictions/", json={"task": task, "result": []}).raise_for_status()
    stuck = api.post(
        "/api/prompts/1/versions/1/inference-runs",
        json={"project": 2, "project_subset": "All"},
        headers={"X-Emulator-Outcome": "Stuck"},
    ).json()
    with server.client(token=None) as control:
        for run_id, status in ((run["id"], "InProgress"), (run["id"], "Completed"),
                               (stuck["id"], "InProgress")):  # fmt: skip
            moved = control.post(f"/_emulator/runs/{run_id}/transition", json={"to": status})
            moved.raise_for_status()
        before = control.get("/_emulator/export").json()["tables"]

        assert api.delete("/api/projects/2/").status_code == 204

        after = control.get("/_emulator/export").json()["tables"]
    tasks = {t["id"] for t in before["task"] if t["project_id"] == 2}
    runs = {r["id"] for r in before["model_run"] if r["project_id"] == 2}

    def of_project(table: str, row: dict) -> bool:
        return (
            (table == "project" and row["id"] == 2)
            or row.get("project_id") == 2
            or row.get("task_id") in tasks
            or row.get("run_id") in runs
        )

    gone = {t: [r for r in rows if of_project(t, r)] for t, rows in before.items()}
    for table in ("task", "annotation", "prediction", "failed_prediction", "model_run",
                  "run_event", "run_task", "few_shot_example", "project_import",
                  "prompt_project"):  # fmt: skip
        assert gone[table], table  # the project had some
    for table, rows in before.items():
        assert after[table] == [r for r in rows if not of_project(table, r)], table
