"""Prompts, versions and few-shot examples: bodies, validation, isolation, pagination, ordering."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import HANK_TOKEN, Emulator

from app.seed import sample_ticket
from app.workspace.prompts import _answer, _fill

from .envelope import assert_error, assert_invalid

ADA = {
    "id": 1,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.test",
    "username": "ada",
    "avatar": None,
}
GLOBEX_PROJECT = 3
GLOBEX_TASK = 300 + 120 + 1  # the first task of project 3 in the demo seed
GLOBEX_ANNOTATION = 131  # the demo seed's first ground truth of project 3, on task 423
# Ground truth the demo seed generates for project 1: task -> its annotation, its data's text
# and the sentiment its result chooses.
SEEDED = {
    task: (annotation, *sample_ticket(task))
    for task, annotation in ((4, 1), (7, 2), (10, 3), (14, 4))
}


def seeded_example(task: int) -> dict[str, Any]:
    """What a few-shot example of a seeded ground-truth task shows of the task and annotation."""
    annotation, text, sentiment = SEEDED[task]
    result = {"from_name": "sentiment", "to_name": "text", "type": "choices", "origin": "manual",
              "value": {"choices": [sentiment]}}  # fmt: skip
    return {
        "task": task,
        "annotation": annotation,
        "task_data": {"text": text, "ticket": task},
        "annotation_result": [result],
    }


def ok(response: httpx.Response, status_code: int = 200) -> Any:
    assert response.status_code == status_code, response.text
    return response.json() if response.content else None


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


@pytest.fixture
def prompt(api: httpx.Client) -> Iterator[dict[str, Any]]:
    """A prompt of Ada's organization, deleted afterwards."""
    body = {"title": f"Prompt {uuid.uuid4().hex[:8]}", "associated_projects": [1]}
    created = ok(api.post("/api/prompts/", json=body), 201)
    yield created
    api.delete(f"/api/prompts/{created['id']}/")


@pytest.fixture
def version(api: httpx.Client, prompt: dict[str, Any]) -> dict[str, Any]:
    body = {"title": "v1", "prompt": "Classify {text}", "provider_model_id": "gpt-4o"}
    return ok(api.post(f"/api/prompts/{prompt['id']}/versions", json=body), 201)


def test_create_prompt_answers_the_whole_model_interface(api):
    body = {
        "title": "Sentiment",
        "description": "Tickets",
        "skill_name": "NamedEntityRecognition",
        "input_fields": ["text", "subject"],
        "output_classes": {"any": "json"},
        "associated_projects": [2, 1],
        "created_by": {"username": "mallory"},
        "organization": 1,
    }
    created = ok(api.post("/api/prompts/", json=body), 201)
    try:
        assert created == {
            "id": created["id"],
            "created_by": ADA,
            "title": "Sentiment",
            "description": "Tickets",
            "created_at": created["created_at"],
            "updated_at": created["created_at"],
            "organization": 1,
            "input_fields": ["text", "subject"],
            "output_classes": {"any": "json"},
            "skill_name": "NamedEntityRecognition",
            "associated_projects": [1, 2],  # by project id
        }
        got = ok(api.get(f"/api/prompts/{created['id']}/"))
        assert got == created | {
            "associated_projects": [
                {"id": 1, "title": "Support tickets"},
                {"id": 2, "title": "Escalated tickets"},
            ],
            "versions_count": 0,
            "runs_count": 0,
            "best_score": None,
        }
    finally:
        ok(api.delete(f"/api/prompts/{created['id']}/"), 204)


def test_create_prompt_defaults(api):
    created = ok(api.post("/api/prompts/", json={"title": "Bare"}), 201)
    ok(api.delete(f"/api/prompts/{created['id']}/"), 204)
    assert (created["skill_name"], created["input_fields"], created["output_classes"]) == (
        "TextClassification",
        [],
        [],
    )
    assert (created["description"], created["associated_projects"]) == (None, [])


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"title": ["This field is required."]}),
        ({"title": ""}, {"title": ["This field may not be blank."]}),
        ({"title": "x" * 501}, {"title": ["Ensure this field has no more than 500 characters."]}),
        (
            {"title": "t", "skill_name": "Summarize", "associated_projects": [GLOBEX_PROJECT]},
            {
                "skill_name": ['"Summarize" is not a valid choice.'],
                "associated_projects": [f'Invalid pk "{GLOBEX_PROJECT}" - object does not exist.'],
            },
        ),
        (
            {"title": "t", "associated_projects": "1"},
            {"associated_projects": ['Expected a list of items but got type "str".']},
        ),
        (
            {"title": "t", "organization": 2, "input_fields": None},
            {
                "organization": ['Invalid pk "2" - object does not exist.'],
                "input_fields": ["This field may not be null."],
            },
        ),
    ],
)
def test_bad_prompt_body_is_400_with_every_field_and_creates_nothing(api, body, errors):
    before = ok(api.get("/api/prompts/"))["count"]
    assert_invalid(api.post("/api/prompts/", json=body), errors)
    assert ok(api.get("/api/prompts/"))["count"] == before


def test_patch_changes_only_what_is_given_and_put_needs_the_title(api, prompt):
    path = f"/api/prompts/{prompt['id']}/"
    patched = ok(api.patch(path, json={"description": "new", "associated_projects": [2]}))
    assert patched == prompt | {
        "description": "new",
        "associated_projects": [2],
        "updated_at": patched["updated_at"],
    }
    assert_invalid(api.put(path, json={"description": "x"}), {"title": ["This field is required."]})
    put = ok(api.put(path, json={"title": "Renamed"}))
    assert (put["title"], put["description"], put["associated_projects"]) == ("Renamed", "new", [2])


def test_list_is_paginated_searched_and_ordered_both_ways(api):
    token = uuid.uuid4().hex[:10]
    ids = [
        ok(api.post("/api/prompts/", json={"title": f"{token} {name}"}), 201)["id"]
        for name in ("b", "a", "c")
    ]
    try:
        first = ok(api.get("/api/prompts/", params={"search": token, "page_size": 2}))
        assert first["count"] == 3
        assert [p["id"] for p in first["results"]] == ids[:2]
        assert first["previous"] is None
        assert first["next"] == f"{api.base_url}/api/prompts/?search={token}&page_size=2&page=2"
        second = ok(api.get(first["next"]))
        assert [p["id"] for p in second["results"]] == ids[2:]
        assert second["next"] is None
        assert second["previous"] == f"{api.base_url}/api/prompts/?search={token}&page_size=2"
        assert_error(
            api.get("/api/prompts/", params={"search": token, "page": 3}), 404, "Invalid page."
        )
        by_title = ok(api.get("/api/prompts/", params={"search": token, "ordering": "title"}))
        assert [p["title"][-1] for p in by_title["results"]] == ["a", "b", "c"]
        desc = ok(api.get("/api/prompts/", params={"search": token, "ordering": "-title"}))
        assert [p["title"][-1] for p in desc["results"]] == ["c", "b", "a"]
        assert ok(api.get("/api/prompts/", params={"search": token.upper()}))["count"] == 3
        assert ok(api.get("/api/prompts/", params={"search": f"{token} zz"}))["count"] == 0
    finally:
        for pk in ids:
            api.delete(f"/api/prompts/{pk}/")


def test_another_organizations_prompt_does_not_exist(api, hank, prompt, version):
    pid, vid = prompt["id"], version["id"]
    assert pid not in [p["id"] for p in ok(hank.get("/api/prompts/"))["results"]]
    missing = "No ModelInterface matches the given query."
    for method, path in [
        ("GET", f"/api/prompts/{pid}/"),
        ("PATCH", f"/api/prompts/{pid}/"),
        ("PUT", f"/api/prompts/{pid}/"),
        ("DELETE", f"/api/prompts/{pid}/"),
        ("POST", f"/api/prompts/{pid}/duplicate/"),
        ("GET", f"/api/prompts/{pid}/get-default-version-name"),
        ("GET", f"/api/prompts/{pid}/versions"),
        ("POST", f"/api/prompts/{pid}/versions"),
        ("GET", f"/api/prompts/{pid}/versions/{vid}"),
        ("PATCH", f"/api/prompts/{pid}/versions/{vid}"),
        ("PUT", f"/api/prompts/{pid}/versions/{vid}"),
        ("DELETE", f"/api/prompts/{pid}/versions/{vid}"),
        ("POST", f"/api/prompts/{pid}/versions/{vid}/duplicate"),
        ("GET", f"/api/prompts/{pid}/versions/{vid}/few-shot-examples"),
        ("POST", f"/api/prompts/{pid}/versions/{vid}/few-shot-examples"),
        ("POST", f"/api/prompts/{pid}/versions/{vid}/few-shot-examples/reorder"),
        ("GET", f"/api/prompts/{pid}/versions/{vid}/prompt-preview"),
    ]:
        response = hank.request(method, path, json={"title": "stolen"})
        assert_error(response, 404, missing)
    assert ok(api.get(f"/api/prompts/{pid}/"))["title"] == prompt["title"]
    assert ok(api.get(f"/api/prompts/{pid}/versions/{vid}"))["title"] == "v1"


def test_missing_token_is_401_before_the_body(server):
    with server.client(token=None) as anonymous:
        response = anonymous.post(
            "/api/prompts/", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert_error(response, 401, "Authentication credentials were not provided.")


def test_version_body_rules_and_title_unique_within_the_prompt(api, prompt, version):
    path = f"/api/prompts/{prompt['id']}/versions"
    assert version == {
        "id": version["id"],
        "created_by": ADA,
        "title": "v1",
        "parent_model": prompt["id"],
        "prompt": "Classify {text}",
        "provider": "OpenAI",
        "provider_model_id": "gpt-4o",
        "model_display_name": "gpt-4o",
        "max_few_shot_examples": None,
        "model_provider_connection": None,
        "organization": 1,
        "score": None,
        "created_at": version["created_at"],
        "updated_at": version["created_at"],
    }
    assert_invalid(
        api.post(path, json={}),
        {
            "title": ["This field is required."],
            "prompt": ["This field is required."],
            "provider_model_id": ["This field is required."],
        },
    )
    assert_invalid(
        api.post(path, json={"title": "v2", "prompt": "p", "provider_model_id": "m",
                             "provider": "Mistral", "max_few_shot_examples": -1,
                             "model_provider_connection": 7, "parent_model": 2}),
        {
            "provider": ['"Mistral" is not a valid choice.'],
            "max_few_shot_examples": ["Ensure this value is greater than or equal to 0."],
            "model_provider_connection": ['Invalid pk "7" - object does not exist.'],
            "parent_model": ['Invalid pk "2" - object does not exist.'],
        },
    )  # fmt: skip
    body = {"title": "v1", "prompt": "p", "provider_model_id": "m"}
    assert_invalid(
        api.post(path, json=body),
        {"non_field_errors": ["A version with this name already exists."]},
    )
    assert [v["id"] for v in ok(api.get(path))] == [version["id"]]


def test_versions_list_orders_both_ways_and_patch_put_delete(api, prompt, version):
    path = f"/api/prompts/{prompt['id']}/versions"
    second = ok(
        api.post(path, json={"title": "a-second", "prompt": "p", "provider_model_id": "m"}), 201
    )
    assert [v["id"] for v in ok(api.get(path))] == [version["id"], second["id"]]
    assert [v["title"] for v in ok(api.get(path, params={"ordering": "title"}))] == [
        "a-second",
        "v1",
    ]
    assert [v["title"] for v in ok(api.get(path, params={"ordering": "-title"}))] == [
        "v1",
        "a-second",
    ]
    one = f"{path}/{second['id']}"
    assert_invalid(
        api.patch(one, json={"title": "v1"}),
        {"non_field_errors": ["A version with this name already exists."]},
    )
    patched = ok(api.patch(one, json={"provider": "Anthropic", "max_few_shot_examples": 2}))
    assert (patched["provider"], patched["max_few_shot_examples"], patched["title"]) == (
        "Anthropic",
        2,
        "a-second",
    )
    assert_invalid(
        api.put(one, json={"title": "x"}),
        {"prompt": ["This field is required."], "provider_model_id": ["This field is required."]},
    )
    ok(api.delete(one), 204)
    assert_error(api.get(one), 404, "No ThirdPartyModelVersion matches the given query.")
    assert ok(api.get(f"/api/prompts/{prompt['id']}/"))["versions_count"] == 1


def test_default_version_name_is_the_next_unused(api, prompt, version):
    path = f"/api/prompts/{prompt['id']}/get-default-version-name"
    assert ok(api.get(path)) == {"default_model_version_name": "v2"}


def test_duplicates_copy_versions_and_examples(api, prompt, version):
    pid, vid = prompt["id"], version["id"]
    ok(
        api.post(
            f"/api/prompts/{pid}/versions/{vid}/few-shot-examples",
            json={"task": 7, "annotation": 2},
        ),
        201,
    )
    copy = ok(api.post(f"/api/prompts/{pid}/versions/{vid}/duplicate", json={}))
    assert (copy["title"], copy["prompt"], copy["parent_model"]) == (
        "v1 (copy)",
        "Classify {text}",
        pid,
    )
    again = ok(
        api.post(f"/api/prompts/{pid}/versions/{vid}/duplicate", json={"provider_model_id": "o3"})
    )
    assert (again["title"], again["provider_model_id"]) == ("v1 (copy 2)", "o3")
    examples = ok(api.get(f"/api/prompts/{pid}/versions/{copy['id']}/few-shot-examples"))
    assert [(e["task"], e["annotation"]) for e in examples] == [(7, 2)]
    duplicate = ok(api.post(f"/api/prompts/{pid}/duplicate/", json={"title": "Twin"}))
    try:
        assert (duplicate["title"], duplicate["associated_projects"]) == ("Twin", [1])
        titles = [v["title"] for v in ok(api.get(f"/api/prompts/{duplicate['id']}/versions"))]
        assert titles == ["v1", "v1 (copy)", "v1 (copy 2)"]
    finally:
        ok(api.delete(f"/api/prompts/{duplicate['id']}/"), 204)


def test_few_shot_examples_create_list_reorder_patch_delete(api, hank, prompt, version):
    base = f"/api/prompts/{prompt['id']}/versions/{version['id']}/few-shot-examples"
    assert_invalid(
        api.post(base, json={}),
        {"task": ["This field is required."], "annotation": ["This field is required."]},
    )
    assert_invalid(
        api.post(base, json={"task": GLOBEX_TASK, "annotation": 1, "order": -1}),
        {
            "task": [f'Invalid pk "{GLOBEX_TASK}" - object does not exist.'],
            "order": ["Ensure this value is greater than or equal to 0."],
        },
    )
    assert_invalid(
        api.post(base, json={"task": 4, "annotation": 999999}),
        {"annotation": ['Invalid pk "999999" - object does not exist.']},
    )
    assert_invalid(
        api.post(base, json={"task": 4, "annotation": GLOBEX_ANNOTATION}),
        {"annotation": [f'Invalid pk "{GLOBEX_ANNOTATION}" - object does not exist.']},
    )
    assert_invalid(
        api.post(base, json={"task": 4, "annotation": 2}),  # annotation 2 is task 7's
        {"non_field_errors": ["The annotation is not one of the task's."]},
    )
    first = ok(api.post(base, json={"task": 4, "annotation": 1}), 201)
    assert first == {
        "id": first["id"],
        **seeded_example(4),
        "order": 0,
        "created_at": first["created_at"],
    }
    # The example shows the task's data and the annotation's result as the tasks API does.
    task = ok(api.get("/api/tasks/4/"))
    assert (first["task_data"], [first["annotation_result"]]) == (
        task["data"],
        [a["result"] for a in task["annotations"] if a["id"] == 1],
    )
    second = ok(api.post(base, json={"task": 7, "annotation": 2}), 201)
    assert second["order"] == 1
    assert [e["id"] for e in ok(api.get(base))] == [first["id"], second["id"]]
    assert ok(api.get(base))[1] == second | seeded_example(7)
    assert [e["id"] for e in ok(api.get(base, params={"ordering": "-id"}))] == [
        second["id"],
        first["id"],
    ]
    reordered = ok(api.post(f"{base}/reorder", json={"ids": [second["id"], first["id"]]}))
    assert [(e["id"], e["order"]) for e in reordered] == [(second["id"], 0), (first["id"], 1)]
    assert_invalid(
        api.post(f"{base}/reorder", json={"ids": [999999]}),
        {"ids": ['Invalid pk "999999" - object does not exist.']},
    )
    assert_invalid(api.post(f"{base}/reorder", json={}), {"ids": ["This field is required."]})
    patched = ok(api.patch(f"{base}/{first['id']}", json={"order": 7}))
    assert patched["order"] == 7
    assert_invalid(
        api.patch(f"{base}/{first['id']}", json={"task": 10}),  # annotation 1 stays task 4's
        {"non_field_errors": ["The annotation is not one of the task's."]},
    )
    moved = ok(api.patch(f"{base}/{first['id']}", json={"task": 10, "annotation": 3}))
    assert moved == patched | seeded_example(10)
    assert_error(
        hank.patch(f"{base}/{first['id']}", json={"order": 1}),
        404,
        "No ModelInterface matches the given query.",
    )
    ok(api.delete(f"{base}/{first['id']}"), 204)
    assert_error(
        api.delete(f"{base}/{first['id']}"), 404, "No FewShotExample matches the given query."
    )
    assert [e["id"] for e in ok(api.get(base))] == [second["id"]]


def test_prompt_preview_injects_examples_and_fills_a_task(api, prompt, version):
    pid, vid = prompt["id"], version["id"]
    path = f"/api/prompts/{pid}/versions/{vid}/prompt-preview"
    assert ok(api.get(path)) == {"rendered_prompt": "Classify {text}"}
    ok(
        api.post(
            f"/api/prompts/{pid}/versions/{vid}/few-shot-examples",
            json={"task": 14, "annotation": 4},
        ),
        201,
    )
    text, sentiment = sample_ticket(14)
    example = f"Example 1:\ntext: {text}\nticket: 14\nAnswer: {sentiment}"
    assert ok(api.get(path)) == {"rendered_prompt": f"Classify {{text}}\n\n{example}"}
    first = sample_ticket(1)[0]
    assert ok(api.get(path, params={"task": 1})) == {
        "rendered_prompt": f"Classify {first}\n\n{example}"
    }
    ok(api.patch(f"/api/prompts/{pid}/versions/{vid}", json={"max_few_shot_examples": 0}))
    assert ok(api.get(path, params={"task": 1})) == {"rendered_prompt": f"Classify {first}"}
    assert_error(
        api.get(path, params={"task": GLOBEX_TASK}), 404, "No Task matches the given query."
    )
    assert_invalid(api.get(path, params={"task": "x"}), {"task": ["A valid integer is required."]})


def test_compatible_projects_are_the_organizations_filtered_and_paginated(api, hank):
    page = ok(api.get("/api/prompts/compatible-projects"))
    assert (page["count"], page["next"], page["previous"]) == (2, None, None)
    support = page["results"][0]
    assert {k: support[k] for k in ("id", "title", "task_number", "ground_truth_number")} == {
        "id": 1,
        "title": "Support tickets",
        "task_number": 300,
        "ground_truth_number": 90,
    }
    # Globex's only project extracts a total (TextArea): no classification prompt runs on it.
    assert ok(hank.get("/api/prompts/compatible-projects"))["results"] == []
    ordered = ok(api.get("/api/prompts/compatible-projects", params={"ordering": "-id"}))
    assert [p["id"] for p in ordered["results"]] == [2, 1]
    assert [
        p["id"]
        for p in ok(api.get("/api/prompts/compatible-projects", params={"ids": "2,3"}))["results"]
    ] == [2]
    assert [
        p["id"]
        for p in ok(api.get("/api/prompts/compatible-projects", params={"title": "ESCALATED"}))[
            "results"
        ]
    ] == [2]
    second = ok(api.get("/api/prompts/compatible-projects", params={"page_size": 1, "page": 2}))
    assert [p["id"] for p in second["results"]] == [2]
    assert_invalid(
        api.get("/api/prompts/compatible-projects", params={"project_type": "Chat", "ids": "a"}),
        {
            "project_type": ["Select a valid choice. Chat is not one of the available choices."],
            "ids": ["Enter a number."],
        },
    )


def test_prediction_count_counts_the_subset_asked_for_a_version_without_runs(api, prompt, version):
    path = f"/api/prompts/{prompt['id']}/versions/{version['id']}/prediction-count"

    def counted(**params: Any) -> dict[str, int]:
        return ok(api.get(path, params={"project": 1, **params}))

    def untouched(total: int) -> dict[str, int]:
        return {"existing_predictions": 0, "tasks_to_run": total, "total_tasks": total}

    assert counted() == untouched(90)  # HasGT by default: the seed's 90 ground-truth tasks
    assert counted(project_subset="All") == untouched(300)
    assert counted(project_subset="HasGT", sample_subset_size=5) == untouched(90)
    assert counted(project_subset="Sample") == untouched(20)  # the policy's default size
    assert counted(project_subset="Sample", sample_subset_size=5) == untouched(5)
    assert counted(project_subset="Sample", sample_subset_size=0) == untouched(0)
    assert counted(project=2, project_subset="All") == untouched(120)
    assert_invalid(
        api.get(path, params={"project_subset": "Foo", "sample_subset_size": -1}),
        {
            "project": ["This field is required."],
            "project_subset": ['"Foo" is not a valid choice.'],
            "sample_subset_size": ["Ensure this value is greater than or equal to 0."],
        },
    )
    assert_invalid(
        api.get(path, params={"project": GLOBEX_PROJECT}),
        {"project": [f'Invalid pk "{GLOBEX_PROJECT}" - object does not exist.']},
    )


def test_titles_and_model_ids_are_accepted_up_to_their_limits(api, prompt, version):
    long_title = ok(api.patch(f"/api/prompts/{prompt['id']}/", json={"title": "p" * 500}))
    assert long_title["title"] == "p" * 500
    path = f"/api/prompts/{prompt['id']}/versions"
    at_limit = {"title": "t" * 500, "prompt": "p", "provider_model_id": "m" * 255}
    created = ok(api.post(path, json=at_limit), 201)
    assert (created["title"], created["provider_model_id"]) == ("t" * 500, "m" * 255)
    assert_invalid(
        api.post(path, json={"title": "u" * 501, "prompt": "p", "provider_model_id": "m" * 256}),
        {
            "title": ["Ensure this field has no more than 500 characters."],
            "provider_model_id": ["Ensure this field has no more than 255 characters."],
        },
    )


def test_search_matches_title_or_description_and_every_term(api):
    token = uuid.uuid4().hex[:10]
    bodies = [
        {"title": f"{token} alpha", "description": "about invoices"},
        {"title": "plain", "description": f"{token} beta"},
        {"title": "other"},
    ]
    ids = [ok(api.post("/api/prompts/", json=body), 201)["id"] for body in bodies]
    try:

        def found(search: str) -> list[int]:
            return [
                p["id"] for p in ok(api.get("/api/prompts/", params={"search": search}))["results"]
            ]

        assert found(token) == ids[:2]
        assert found(f"{token},INVOICES") == ids[:1]
        assert found(f"{token} beta") == ids[1:2]
        assert found(f"{token} alpha,beta") == []
    finally:
        for pk in ids:
            api.delete(f"/api/prompts/{pk}/")


def test_prompts_order_by_each_sortable_field(api):
    token = uuid.uuid4().hex[:10]
    first = ok(api.post("/api/prompts/", json={"title": f"{token} b",
                                               "skill_name": "NamedEntityRecognition"}), 201)  # fmt: skip
    second = ok(api.post("/api/prompts/", json={"title": f"{token} a"}), 201)
    ok(api.patch(f"/api/prompts/{first['id']}/", json={"description": "touched"}))
    try:

        def ordered(ordering: str) -> list[int]:
            params = {"search": token, "ordering": ordering}
            return [p["id"] for p in ok(api.get("/api/prompts/", params=params))["results"]]

        forward, backward = [first["id"], second["id"]], [second["id"], first["id"]]
        assert {o: ordered(o) for o in ("id", "-id", "created_at", "-created_at", "updated_at",
                                        "-updated_at", "skill_name", "-skill_name", "title")} == {
            "id": forward, "-id": backward, "created_at": forward, "-created_at": backward,
            "updated_at": backward, "-updated_at": forward, "skill_name": forward,
            "-skill_name": backward, "title": backward,
        }  # fmt: skip
    finally:
        for pk in (first["id"], second["id"]):
            api.delete(f"/api/prompts/{pk}/")


def test_versions_order_by_each_sortable_field(api, prompt, version):
    path = f"/api/prompts/{prompt['id']}/versions"
    second = ok(api.post(path, json={"title": "a", "prompt": "p", "provider": "Anthropic",
                                     "provider_model_id": "claude"}), 201)  # fmt: skip
    ok(api.patch(f"{path}/{version['id']}", json={"prompt": "changed"}))

    def ordered(ordering: str) -> list[int]:
        return [v["id"] for v in ok(api.get(path, params={"ordering": ordering}))]

    forward, backward = [version["id"], second["id"]], [second["id"], version["id"]]
    assert {o: ordered(o) for o in ("id", "-id", "created_at", "-created_at", "updated_at",
                                    "-updated_at", "provider", "-provider", "provider_model_id",
                                    "-provider_model_id")} == {
        "id": forward, "-id": backward, "created_at": forward, "-created_at": backward,
        "updated_at": backward, "-updated_at": forward, "provider": backward,
        "-provider": forward, "provider_model_id": backward, "-provider_model_id": forward,
    }  # fmt: skip


def test_the_default_version_name_skips_names_already_taken(api, prompt):
    path = f"/api/prompts/{prompt['id']}/versions"
    default = f"/api/prompts/{prompt['id']}/get-default-version-name"
    assert ok(api.get(default)) == {"default_model_version_name": "v1"}
    for title in ("v2", "v3"):
        ok(api.post(path, json={"title": title, "prompt": "p", "provider_model_id": "m"}), 201)
    assert ok(api.get(default)) == {"default_model_version_name": "v4"}


def test_a_prompt_duplicated_without_a_title_is_named_a_copy_with_the_same_fields(api):
    body = {"title": "d" * 495, "description": "Tickets", "skill_name": "NamedEntityRecognition",
            "input_fields": ["text"], "output_classes": ["Brand"], "associated_projects": [2, 1]}  # fmt: skip
    original = ok(api.post("/api/prompts/", json=body), 201)
    copy = ok(api.post(f"/api/prompts/{original['id']}/duplicate/", json={}))
    try:
        assert copy == original | {
            "id": copy["id"],
            "title": "d" * 495 + " (cop",  # cut at the title's 500 characters
            "created_at": copy["created_at"],
            "updated_at": copy["created_at"],
        }
        assert copy["id"] != original["id"]
        changed = ok(api.post(f"/api/prompts/{original['id']}/duplicate/",
                              json={"skill_name": "TextClassification", "associated_projects": []}))  # fmt: skip
        assert (changed["title"], changed["skill_name"], changed["associated_projects"]) == (
            "d" * 495 + " (cop", "TextClassification", [])  # fmt: skip
        ok(api.delete(f"/api/prompts/{changed['id']}/"), 204)
    finally:
        for pk in (original["id"], copy["id"]):
            api.delete(f"/api/prompts/{pk}/")


def test_a_duplicated_version_keeps_the_fields_not_given_and_takes_those_given(api, prompt):
    path = f"/api/prompts/{prompt['id']}/versions"
    source = ok(api.post(path, json={"title": "src", "prompt": "Classify {text}",
                                     "provider": "Anthropic", "provider_model_id": "claude",
                                     "max_few_shot_examples": 2,
                                     "model_provider_connection": 1}), 201)  # fmt: skip
    copy = ok(api.post(f"{path}/{source['id']}/duplicate", json={}))
    assert copy == source | {
        "id": copy["id"],
        "title": "src (copy)",
        "created_at": copy["created_at"],
        "updated_at": copy["created_at"],
    }
    named = ok(api.post(f"{path}/{source['id']}/duplicate",
                        json={"title": "mine", "model_provider_connection": None, "prompt": "q"}))  # fmt: skip
    assert (named["title"], named["model_provider_connection"], named["prompt"]) == (
        "mine",
        None,
        "q",
    )
    assert_invalid(
        api.post(f"{path}/{source['id']}/duplicate", json={"title": "src"}),
        {"non_field_errors": ["A version with this name already exists."]},
    )


def test_few_shot_examples_take_the_next_order_and_sort_by_each_field(api, prompt, version):
    base = f"/api/prompts/{prompt['id']}/versions/{version['id']}/few-shot-examples"
    placed = ok(api.post(base, json={"task": 10, "annotation": 3, "order": 5}), 201)
    after = ok(api.post(base, json={"task": 4, "annotation": 1}), 201)
    first = ok(api.post(base, json={"task": 7, "annotation": 2, "order": 0}), 201)
    assert (placed["order"], after["order"], first["order"]) == (5, 6, 0)

    def ordered(ordering: str) -> list[int]:
        return [e["task"] for e in ok(api.get(base, params={"ordering": ordering}))]

    assert {o: ordered(o) for o in ("", "order", "-order", "task", "-task", "id", "created_at",
                                    "-created_at")} == {
        "": [7, 10, 4], "order": [7, 10, 4], "-order": [4, 10, 7], "task": [4, 7, 10],
        "-task": [10, 7, 4], "id": [10, 4, 7], "created_at": [10, 4, 7], "-created_at": [7, 4, 10],
    }  # fmt: skip
    moved = ok(api.patch(f"{base}/{placed['id']}", json={"order": 1}))
    assert (moved["order"], moved["task"], moved["annotation"]) == (1, 10, 3)
    # Listed ids take 0, 1, ... (a repeat counts once); the others follow in their order.
    reordered = ok(api.post(f"{base}/reorder", json=[after["id"], after["id"]]))
    assert [(e["task"], e["order"]) for e in reordered] == [(4, 0), (7, 1), (10, 2)]


def test_compatible_projects_follow_the_skill_and_no_project_is_archived_or_in_a_workspace(api):
    path = "/api/prompts/compatible-projects"

    def found(**params: str) -> list[int]:
        return [p["id"] for p in ok(api.get(path, params=params))["results"]]

    assert found(project_type="TextClassification") == [1, 2]
    assert found(project_type="NamedEntityRecognition") == []  # Acme's projects choose, not label
    assert found(archived="true") == found(workspaces="3") == []
    assert found(archived="false") == [1, 2]
    assert found(ids="1, 2,-1,99999999999") == [1, 2]
    assert found(ordering="-title") == [1, 2]
    assert found(title="%") == []


@pytest.mark.parametrize(
    ("result", "answer"),
    [
        ([{"value": {"choices": ["Positive", "Neutral"]}}], "Positive, Neutral"),
        ([{"value": {"labels": ["Brand"], "text": "Acme"}}, {"value": {"labels": ["Place"]}}],
         "Acme: Brand, Place"),
        ([{"value": {"choices": ["A"]}}, "junk", {"value": "junk"}, {"novalue": 1}], "A"),
        ([], ""),
        (None, ""),
        ([{"value": {"number": 3}}], '[{"value": {"number": 3}}]'),
        ({"value": {"choices": ["é"]}}, '{"value": {"choices": ["é"]}}'),
    ],
    ids=["choices", "labels", "skips-non-regions", "empty", "none", "other-as-json", "not-a-list"],
)  # fmt: skip
def test_an_examples_answer_is_its_choices_or_labelled_spans_else_its_result_as_json(
    result, answer
):
    assert _answer(result) == answer


@pytest.mark.parametrize(
    ("text", "data", "filled"),
    [
        ("Classify {text}", {"text": "hi"}, "Classify hi"),
        ("{n} and {m}", {"n": 3, "m": {"a": "é"}}, '3 and {"a": "é"}'),
        ("{missing} {text}", {"text": "t"}, "{missing} t"),
        ("{not a field} {{text}}", {"text": "t"}, "{not a field} {t}"),
    ],
)
def test_placeholders_are_filled_from_the_task_data_and_others_kept(text, data, filled):
    assert _fill(text, data) == filled


def test_a_preview_shows_the_prompts_input_fields_of_at_most_max_examples(api, prompt, version):
    pid, vid = prompt["id"], version["id"]
    base = f"/api/prompts/{pid}/versions/{vid}"
    for task in (10, 14):
        annotation = SEEDED[task][0]
        ok(
            api.post(f"{base}/few-shot-examples", json={"task": task, "annotation": annotation}),
            201,
        )
    ok(api.patch(f"/api/prompts/{pid}/", json={"input_fields": ["ticket", 5, "absent"]}))
    ok(api.patch(base, json={"max_few_shot_examples": 1}))
    sentiment = SEEDED[10][2]
    assert ok(api.get(f"{base}/prompt-preview")) == {
        "rendered_prompt": f"Classify {{text}}\n\nExample 1:\nticket: 10\nAnswer: {sentiment}"
    }
    ok(api.patch(base, json={"max_few_shot_examples": 2}))
    second = f"Example 2:\nticket: 14\nAnswer: {SEEDED[14][2]}"
    assert ok(api.get(f"{base}/prompt-preview"))["rendered_prompt"].endswith(f"\n\n{second}")


def test_form_bodies_carry_json_fields_as_json_text_and_empty_nullable_fields_as_null(api, prompt):
    path = f"/api/prompts/{prompt['id']}/"
    patched = ok(api.patch(path, data={"input_fields": '["text", "ticket"]', "description": ""}))
    assert (patched["input_fields"], patched["description"]) == (["text", "ticket"], "")
    put = ok(api.put(path, data={"title": "Formed", "output_classes": '{"a": 1}'}))
    assert (put["title"], put["output_classes"], put["input_fields"]) == (
        "Formed", {"a": 1}, ["text", "ticket"])  # fmt: skip
    versions = f"/api/prompts/{prompt['id']}/versions"
    form = {"title": "f", "prompt": "p", "provider_model_id": "m", "max_few_shot_examples": "",
            "model_provider_connection": "1", "parent_model": str(prompt["id"])}  # fmt: skip
    created = ok(api.post(versions, data=form), 201)
    assert (created["max_few_shot_examples"], created["model_provider_connection"]) == (None, 1)
    examples = f"{versions}/{created['id']}/few-shot-examples"
    example = ok(api.post(examples, data={"task": "4", "annotation": "1", "order": "3"}), 201)
    assert (example["task"], example["annotation"], example["order"]) == (4, 1, 3)
    changed = ok(api.patch(f"{versions}/{created['id']}", data={"max_few_shot_examples": "2"}))
    assert changed["max_few_shot_examples"] == 2
    cleared = ok(api.patch(f"{versions}/{created['id']}", json={"max_few_shot_examples": None}))
    assert cleared["max_few_shot_examples"] is None
    blank = ok(api.patch(path, json={"description": ""}))
    assert blank["description"] == ""


SEEDED_PROMPT = {
    "id": 1, "created_by": ADA, "title": "Ticket sentiment", "description": None,
    "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
    "organization": 1, "input_fields": [], "output_classes": [],
    "skill_name": "TextClassification",
    "associated_projects": [{"id": 1, "title": "Support tickets"},
                            {"id": 2, "title": "Escalated tickets"}],
    "versions_count": 2, "runs_count": 0, "best_score": None,
}  # fmt: skip


def seeded_version(pk: int, title: str, prompt: str, model: str) -> dict[str, Any]:
    return {
        "id": pk, "created_by": ADA, "title": title, "parent_model": 1, "prompt": prompt,
        "provider": "OpenAI", "provider_model_id": model, "model_display_name": model,
        "max_few_shot_examples": None, "model_provider_connection": None, "organization": 1,
        "score": None, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
    }  # fmt: skip


def test_the_seeded_prompt_and_its_versions_are_shown_whole(api):
    assert ok(api.get("/api/prompts/", params={"ordering": "id"}))["results"][0] == SEEDED_PROMPT
    assert ok(api.get("/api/prompts/1/")) == SEEDED_PROMPT
    assert ok(api.get("/api/prompts/1/versions")) == [
        seeded_version(1, "baseline", "Classify the sentiment of this ticket: {text}",
                       "gpt-4o-mini"),
        seeded_version(2, "few-shot", "You label support tickets. Examples: ... Ticket: {text}",
                       "gpt-4o"),
    ]  # fmt: skip


def test_an_examples_order_goes_up_to_the_integer_limit_and_the_next_stays_there(
    api, prompt, version
):
    base = f"/api/prompts/{prompt['id']}/versions/{version['id']}/few-shot-examples"
    top = 2**31 - 1
    assert_invalid(
        api.post(base, json={"task": 4, "annotation": 1, "order": top + 1}),
        {"order": [f"Ensure this value is less than or equal to {top}."]},
    )
    assert ok(api.post(base, json={"task": 4, "annotation": 1, "order": top}), 201)["order"] == top
    assert ok(api.post(base, json={"task": 7, "annotation": 2}), 201)["order"] == top


def test_a_prompts_projects_are_listed_by_id_whatever_order_the_tables_hold_them_in(
    api, fresh_state
):
    """Associated in the order 2, 1, with project 1's row rewritten after project 2's (a
    PostgreSQL UPDATE writes a new row version at the table's end): the answers still list
    the projects by id, as the seeded prompt's do."""
    ok(api.patch("/api/projects/1/", json={"description": "rewritten"}))
    created = ok(api.post("/api/prompts/", json={"title": "Both", "associated_projects": [2, 1]}), 201)  # fmt: skip
    assert created["associated_projects"] == [1, 2]
    both = [{"id": 1, "title": "Support tickets"}, {"id": 2, "title": "Escalated tickets"}]
    assert ok(api.get(f"/api/prompts/{created['id']}/"))["associated_projects"] == both
    listed = ok(api.get("/api/prompts/", params={"ordering": "id"}))["results"]
    assert [p["associated_projects"] for p in listed] == [both, both]
    patched = ok(api.patch(f"/api/prompts/{created['id']}/", json={"associated_projects": [2, 1]}))
    assert patched["associated_projects"] == [1, 2]


def test_a_prompt_without_versions_lists_none_and_another_organizations_prompt_is_404(
    api, hank, prompt
):
    """The versions list reads the prompt and its versions in one statement: a prompt without
    versions is there (an empty list), one of another organization is not."""
    path = f"/api/prompts/{prompt['id']}/versions"
    assert ok(api.get(path)) == []
    assert ok(api.get(path, params={"ordering": "-title"})) == []
    assert hank.get(path).status_code == 404
