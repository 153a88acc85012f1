"""The data endpoints: seed upsert, reset to the boot state, export and import."""

import copy
from datetime import datetime

import pytest

from .support import (
    RUNS,
    SLOW,
    advance,
    assert_error,
    at,
    create_run,
    freeze_at_t0,
    get_run,
    ok,
    set_policy,
)

NEW_ORG_SEED = {
    "organizations": [{"id": 3, "title": "Initech", "legacy_api_tokens_enabled": True}],
    "users": [
        {"id": 3, "username": "peter", "organization": 3, "token": "initech-peter-token"}
    ],
    "projects": [
        {"id": 4, "title": "TPS reports", "organization": 3, "tasks": 10, "ground_truth": 4},
        {"id": 2, "title": "Product reviews (renamed)", "organization": 1, "tasks": 120,
         "ground_truth": 60},
    ],
    # Project 4's tasks are 471-480; 473 is the first with ground truth, and its generated
    # annotation is the first after the demo's 150.
    "prompts": [
        {"id": 3, "title": "Cover sheets", "organization": 3, "associated_projects": [4],
         "description": "TPS", "input_fields": ["text"], "output_classes": ["ok", "late"],
         "versions": [{"id": 4, "title": "v1", "accuracy": 1.0, "max_few_shot_examples": 1,
                       "few_shot_examples": [{"task": 473, "annotation": 151}]}]},
    ],
}  # fmt: skip


def export(control) -> dict:
    return ok(control.get("/_emulator/export"))


def make_activity(control, ada) -> None:
    """Change every part of the state: clock, policy, seed data, runs, predictions, tokens."""
    freeze_at_t0(control)
    set_policy(control, **SLOW, random_seed=3)
    ok(control.post("/_emulator/seed", json=NEW_ORG_SEED))
    create_run(ada)
    create_run(ada, outcome="Stuck")
    advance(control, 8)
    create_run(ada, project_subset="All")
    ok(ada.post("/api/token/"), 201)
    ok(ada.get(RUNS))


def test_export_is_the_whole_state(control, boot_export):
    assert export(control) == boot_export
    assert list(boot_export) == ["format", "secret_key", "clock", "policy", "tables"]
    assert boot_export["format"] == "lse-emulator/1"
    assert boot_export["clock"] == {"frozen_at": None, "offset_seconds": 0.0}
    tables = boot_export["tables"]
    assert [o["title"] for o in tables["organization"]] == ["Acme", "Globex"]
    assert [(p["id"], p["organization_id"]) for p in tables["project"]] == [(1, 1), (2, 1), (3, 2)]
    assert [v["id"] for v in tables["prompt_version"]] == [1, 2, 3]
    assert len(tables["task"]) == 300 + 120 + 50
    assert sum(t["has_ground_truth"] for t in tables["task"] if t["project_id"] == 1) == 90
    for empty in ("model_run", "prediction", "failed_prediction", "run_event", "access_token",
                  "run_task"):  # fmt: skip
        assert tables[empty] == [], empty


def test_reset_after_activity_gives_exactly_the_boot_state(control, ada, boot_export):
    make_activity(control, ada)
    assert export(control) != boot_export
    assert ok(control.post("/_emulator/reset")) == {"detail": "Emulator reset to its boot state."}
    assert export(control) == boot_export
    assert ok(control.get("/_emulator/clock"))["frozen"] is False
    assert ok(ada.get(RUNS)) == []


def test_reset_while_runs_are_under_way_gives_the_boot_state(control, ada, boot_export):
    for _ in range(5):
        # One task per step, a step every 10 ms: the worker is mid-step when the reset comes.
        set_policy(control, queue_delay_seconds=0, tasks_per_second=100, batch_size=1)
        run_ids = [create_run(ada, project_subset="All")["id"] for _ in range(3)]
        ok(control.get(f"/_emulator/runs/{run_ids[-1]}/wait?status=InProgress"))
        ok(control.post("/_emulator/reset"))
        assert export(control) == boot_export


@pytest.mark.parametrize("tasks", [10, 12_000])
def test_reset_after_a_seeded_project_gives_the_boot_state_and_its_ids(
    control, ada, boot_export, tasks
):
    # 12,000 tasks are more rows than a reset deletes one by one: PostgreSQL truncates them.
    project = {"id": 4, "title": "Large", "organization": 1, "tasks": tasks, "ground_truth": 0}
    ok(control.post("/_emulator/seed", json={"projects": [project]}))
    first_after_boot = max((r["id"] for r in boot_export["tables"]["model_run"]), default=0) + 1
    assert create_run(ada)["id"] == first_after_boot
    ok(control.post("/_emulator/reset"))
    assert export(control) == boot_export
    # The id sequences start again where the boot state leaves them.
    assert create_run(ada)["id"] == first_after_boot


def test_reset_forgets_tokens_and_users_added_by_seed(control, ada, emulator):
    ok(control.post("/_emulator/seed", json=NEW_ORG_SEED))
    with emulator.client("initech-peter-token") as peter:
        ok(peter.get("/api/prompts/3/versions/4/inference-runs"))
        ok(control.post("/_emulator/reset"))
        assert_error(peter.get("/api/prompts/3/versions/4/inference-runs"), 401, "Invalid token.")


def test_import_of_an_export_round_trips(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    finished = create_run(ada)["id"]
    advance(control, 20)
    pending = create_run(ada)["id"]
    first = export(control)
    assert [r["status"] for r in first["tables"]["model_run"]] == ["Completed", "Pending"]

    make_activity(control, ada)
    assert export(control) != first
    assert ok(control.post("/_emulator/import", json=first)) == {"detail": "State imported."}
    assert export(control) == first

    # The imported state is live: the pending run moves on and new ids follow the imported ones.
    assert get_run(ada, finished)["status"] == "Completed"
    (moved,) = advance(control, 5)["runs"]
    assert (moved["id"], moved["status"], moved["triggered_at"]) == (pending, "InProgress", at(25))
    assert create_run(ada)["id"] == pending + 1


def test_import_restores_a_running_clock_and_the_policy(control, ada):
    ok(control.post("/_emulator/clock", json={"set": at(0)}))
    set_policy(control, batch_size=7)
    document = export(control)
    ok(control.post("/_emulator/reset"))
    ok(control.post("/_emulator/import", json=document))
    assert export(control) == document
    assert ok(control.get("/_emulator/policy"))["batch_size"] == 7
    now = ok(control.get("/_emulator/clock"))
    assert now["frozen"] is False
    assert datetime.fromisoformat(now["now"]) >= datetime.fromisoformat(at(0))


def test_import_twice_gives_the_same_state(control, ada):
    make_activity(control, ada)
    document = export(control)
    ok(control.post("/_emulator/import", json=document))
    ok(control.post("/_emulator/import", json=document))
    assert export(control) == document


def _without_format(document):
    del document["format"]


def _unknown_table(document):
    document["tables"]["annotation_draft"] = []


def _unknown_column(document):
    document["tables"]["project"][0]["color"] = "red"


def _rows_not_a_list(document):
    document["tables"]["project"] = {"id": 1}


def _bad_policy(document):
    document["policy"]["tasks_per_second"] = 0


def _bad_clock(document):
    document["clock"] = {"frozen_at": "yesterday", "offset_seconds": 0}


def _clock_out_of_range(document):
    document["clock"] = {"frozen_at": None, "offset_seconds": 1e300}


def _bad_timestamp(document):
    document["tables"]["model_run"][0]["created_at"] = "yesterday"


def _totals_out_of_order(document):
    document["tables"]["model_run"][0].update(total_tasks=1, total_predictions=5)


def _missing_parent(document):
    document["tables"]["model_run"][0]["project_id"] = 999


def _missing_required_column(document):
    del document["tables"]["project"][0]["organization_id"]


def _id_too_large(document):
    document["tables"]["project"][0]["id"] = 10**23


def _unknown_status(document):
    document["tables"]["model_run"][0]["status"] = "Bogus"


def _text_as_boolean(document):
    document["tables"]["task"][0]["has_ground_truth"] = "yes"


def _text_as_count(document):
    document["tables"]["model_run"][0]["total_failed"] = "3"


def _duplicate_id(document):
    document["tables"]["project"].append(dict(document["tables"]["project"][0]))


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (_without_format, 'document: "format" must be "lse-emulator/1"'),
        (_unknown_table, "tables: unknown table 'annotation_draft'"),
        (_unknown_column, "tables.project[0]: unknown column 'color'"),
        (_rows_not_a_list, "tables.project: must be a list of rows"),
        (_bad_timestamp, "tables.model_run[0].created_at: 'yesterday' is not an ISO 8601 instant"),
        (_unknown_status, "tables.model_run[0].status: 'Bogus' is not one of its values"),
        (_text_as_boolean, "tables.task[0].has_ground_truth: 'yes' is not a BOOLEAN"),
        (_text_as_count, "tables.model_run[0].total_failed: '3' is not a INTEGER"),
        (
            _totals_out_of_order,
            "tables.model_run[0]: totals must keep "
            "0 <= total_correct_predictions <= total_predictions <= total_tasks",
        ),
    ],
)
def test_bad_import_is_400_naming_the_problem_and_changes_nothing(control, ada, spoil, detail):
    freeze_at_t0(control)
    create_run(ada)
    before = export(control)
    document = copy.deepcopy(before)
    spoil(document)
    assert_error(control.post("/_emulator/import", json=document), 400, detail)
    assert export(control) == before


@pytest.mark.parametrize(
    ("spoil", "where"),
    [
        (_bad_policy, "document: clock, policy or secret_key invalid"),
        (_bad_clock, "document: clock, policy or secret_key invalid"),
        (_clock_out_of_range, "document: clock, policy or secret_key invalid"),
        # The database words these problems; the message names the table.
        (_missing_parent, "tables.model_run: "),
        (_missing_required_column, "tables.project: "),
        (_duplicate_id, "tables.project: "),
        (_id_too_large, "tables.project: "),
    ],
)
def test_import_the_database_refuses_is_400_and_changes_nothing(control, ada, spoil, where):
    freeze_at_t0(control)
    create_run(ada)
    before = export(control)
    document = copy.deepcopy(before)
    spoil(document)
    response = control.post("/_emulator/import", json=document)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(where), response.text
    assert export(control) == before


@pytest.mark.parametrize("body", [b"[]", b'"state"', b"null", b"3"])
def test_import_of_a_non_object_is_400(control, boot_export, body):
    response = control.post(
        "/_emulator/import", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, 'document: "format" must be "lse-emulator/1"')
    assert export(control) == boot_export


def test_seed_upserts_by_id_and_answers_what_it_created_and_updated(control, emulator):
    assert ok(control.post("/_emulator/seed", json=NEW_ORG_SEED)) == {
        "created": {
            "organizations": [3],
            "users": [3],
            "projects": [4],
            "prompts": [3],
            "versions": [4],
        },
        "updated": {"projects": [2]},
    }
    tables = export(control)["tables"]
    (renamed,) = [p for p in tables["project"] if p["id"] == 2]
    assert (renamed["title"], renamed["organization_id"]) == ("Product reviews (renamed)", 1)
    assert sum(t["has_ground_truth"] for t in tables["task"] if t["project_id"] == 2) == 60
    with emulator.client("initech-peter-token") as peter:
        assert ok(peter.get("/api/projects/4/subsets")) == [
            {"subset": "All", "count": 10},
            {"subset": "HasGT", "count": 4},
            {"subset": "Sample", "count": 10},
        ]
        run = ok(peter.post("/api/prompts/3/versions/4/inference-runs", json={"project": 4}), 201)
        waited = ok(control.get(f"/_emulator/runs/{run['id']}/wait?status=Completed"))
        assert (waited["status"], waited["total_tasks"]) == ("Completed", 4)
        assert waited["total_correct_predictions"] == 4

    # The same document again changes nothing new.
    assert ok(control.post("/_emulator/seed", json=NEW_ORG_SEED)) == {
        "created": {},
        "updated": {
            "organizations": [3],
            "users": [3],
            "projects": [4, 2],
            "prompts": [3],
            "versions": [4],
        },
    }


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (
            {"projects": [{"id": 1, "title": "x", "organization": 1, "tasks": 5, "ground_truth": 9}]},
            "seed: projects[0]: Value error, ground_truth (9) exceeds tasks (5)",
        ),
        (
            {"organizations": [{"id": 3, "title": "Initech"}],
             "users": [{"id": 3, "username": "peter", "organization": 4, "token": "t-1"}]},
            "seed: users[0].organization: organization 4 does not exist",
        ),
        (
            {"users": [{"id": 9, "username": "eve", "organization": 1,
                        "token": "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"}]},
            "seed: users[0].token: the token is already user 1's",
        ),
        (
            {"prompts": [{"id": 2, "title": "Stolen", "organization": 2,
                          "versions": [{"id": 1, "title": "baseline"}]}]},
            "seed: prompts[0].versions: version 1 belongs to prompt 1",
        ),
        (
            {"prompts": [{"id": 1, "title": "Ticket sentiment", "organization": 1,
                          "associated_projects": [3]}]},
            "seed: prompts[0].associated_projects: project 3 does not exist in organization 1",
        ),
        (
            {"organizations": [{"id": 1, "title": "Acme", "colour": "red"}]},
            "seed: organizations[0].colour: Extra inputs are not permitted",
        ),
        (
            {"organizations": [{"id": 5, "title": "A"}, {"id": 5, "title": "B"}]},
            "seed: organizations[1].id: id 5 appears twice",
        ),
        (
            {"projects": [{"id": 1, "title": "Support tickets", "organization": 10**23}]},
            "seed: projects[0].organization: Input should be less than or equal to 2147483647",
        ),
        (
            {"prompts": [{"id": 1, "title": "Ticket sentiment", "organization": 1,
                          "associated_projects": [10**23]}]},
            "seed: prompts[0].associated_projects[0]: Input should be less than or equal to "
            "2147483647",
        ),
        (
            {"organizations": [{"id": 9, "title": "a\u0000b"}]},
            "seed: organizations[0].title: Value error, null characters are not allowed",
        ),
        ([{"id": 1}], "seed: document: Input should be a valid dictionary or instance of SeedDocument"),
        (
            {"projects": [{"id": 1, "title": "Support tickets", "organization": 1,
                           "label_config": "<View>"}]},
            "seed: projects[0].label_config: Value error, label_config: no element found: "
            "line 1, column 6",
        ),
        (
            {"projects": [{"id": 1, "title": "Support tickets", "organization": 1,
                           "created_by": 2}]},
            "seed: projects[0].created_by: user 2 does not exist in organization 1",
        ),
        (
            {"connections": [{"id": 5, "organization": 1, "provider": "Mistral"}]},
            "seed: connections[0].provider: Input should be 'OpenAI', 'AzureOpenAI', "
            "'AzureAIFoundry', 'VertexAI', 'Gemini', 'Anthropic' or 'Custom'",
        ),
    ],
)  # fmt: skip
def test_bad_seed_is_400_naming_entry_and_problem_and_changes_nothing(
    control, boot_export, document, detail
):
    assert_error(control.post("/_emulator/seed", json=document), 400, detail)
    assert export(control) == boot_export


def test_seed_cannot_shrink_a_project_below_tasks_with_predictions(control, ada):
    run_id = create_run(ada, project_subset="All")["id"]
    ok(control.get(f"/_emulator/runs/{run_id}/wait?status=Completed"))
    before = export(control)
    shrink = {"projects": [{"id": 1, "title": "Support tickets", "organization": 1, "tasks": 10}]}
    assert_error(
        control.post("/_emulator/seed", json=shrink),
        400,
        "seed: projects[0].tasks: cannot shrink project 1 to 10 tasks: tasks beyond that have "
        "predictions or are in a run",
    )
    assert export(control) == before


def test_seed_cannot_shrink_a_project_below_tasks_a_run_still_has_to_predict(control, ada):
    control.post("/_emulator/clock", json={"freeze": True})
    run_id = create_run(ada, "Stuck", project_subset="All")["id"]
    ok(control.post(f"/_emulator/runs/{run_id}/transition", json={"to": "InProgress"}))
    before = export(control)
    shrink = {"projects": [{"id": 1, "title": "Support tickets", "organization": 1, "tasks": 10}]}
    response = control.post("/_emulator/seed", json=shrink)
    assert response.status_code == 400
    assert "are in a run" in response.json()["detail"]
    assert export(control) == before


def test_imported_signing_key_signs_and_checks_tokens_at_once(control, ada):
    before = ok(ada.post("/api/token/"), 201)["token"]
    original = export(control)
    document = copy.deepcopy(original)
    document["secret_key"] = "a-signing-key-from-another-emulator"
    document["tables"]["access_token"] = []
    ok(control.post("/_emulator/import", json=document))
    try:
        refused = ada.post("/api/token/refresh/", json={"refresh": before})
        assert (refused.status_code, refused.json()["detail"]) == (401, "Token is invalid")
        token = ok(ada.post("/api/token/"), 201)["token"]
        access = ok(ada.post("/api/token/refresh/", json={"refresh": token}))["access"]
        runs = ada.get(RUNS, headers={"Authorization": f"Bearer {access}"})
        assert runs.status_code == 200
    finally:
        # A reset keeps the signing key (it is no seed data): give back the boot one, which
        # the later tests' boot_export carries.
        ok(control.post("/_emulator/import", json=original))


# --- connections and projects in seed documents and exports ---

WORKSPACE_SEED = {
    "projects": [
        {"id": 5, "title": "Spam", "organization": 1, "tasks": 4, "ground_truth": 2,
         "description": "Inbox", "pinned_at": "2025-06-01T00:00:00Z",
         "label_config": '<View><Text name="t" value="$t"/><Choices name="c" toName="t">'
                         '<Choice value="Spam"/></Choices></View>'},
    ],
    "connections": [
        {"id": 7, "organization": 1, "provider": "Gemini", "api_key": "sk-seeded",
         "budget_limit": 100.0, "budget_reset_period": "Monthly"},
    ],
}  # fmt: skip


def test_seed_declares_projects_fields_and_connections(control, ada, boot_export):
    assert ok(control.post("/_emulator/seed", json=WORKSPACE_SEED)) == {
        "created": {"projects": [5], "connections": [7]},
        "updated": {},
    }
    project = ok(ada.get("/api/projects/5/"))
    assert (project["description"], project["pinned_at"]) == ("Inbox", "2025-06-01T00:00:00Z")
    assert (project["task_number"], project["ground_truth_number"]) == (4, 2)
    assert project["created_by"]["id"] == 1
    assert project["created_at"] == "2025-01-01T00:00:00Z"
    connection = ok(ada.get("/api/model-provider-connections/7/"))
    assert (connection["provider"], connection["budget_limit"]) == ("Gemini", 100.0)
    assert "api_key" not in connection

    ok(control.post("/_emulator/reset"))
    assert export(control) == boot_export


def test_export_without_an_admin_token_masks_secrets_and_still_round_trips(control, ada):
    ok(control.post("/_emulator/seed", json=WORKSPACE_SEED))
    first = export(control)
    assert {r["api_key"] for r in first["tables"]["model_provider_connection"]} == {None}

    ok(control.post("/_emulator/import", json=first))
    assert export(control) == first
    assert ok(ada.get("/api/model-provider-connections/7/"))["provider"] == "Gemini"


# --- tasks workspace: tasks listed in a seed, annotations and predictions in the state ---

LISTED_SEED = {
    "projects": [
        {"id": 7, "title": "Listed", "organization": 1, "tasks": [
            {"data": {"text": "good"}, "annotations": [
                {"result": [{"type": "choices", "value": {"choices": ["Positive"]}}],
                 "ground_truth": True}]},
            {"data": {"text": "plain"}, "meta": {"source": "seed"},
             "predictions": [{"result": [], "score": 0.5, "model_version": "m0"}]},
        ]},
    ],
}  # fmt: skip


def test_seed_lists_tasks_with_ground_truth_annotations_and_reset_restores_them(
    control, ada, boot_export
):
    assert ok(control.post("/_emulator/seed", json=LISTED_SEED))["created"] == {"projects": [7]}
    subsets = {s["subset"]: s["count"] for s in ok(ada.get("/api/projects/7/subsets"))}
    assert (subsets["All"], subsets["HasGT"]) == (2, 1)
    listed = ok(ada.get("/api/tasks/", params={"project": 7, "fields": "all"}))
    good, plain = listed["tasks"]
    assert (good["data"], good["ground_truth"], good["created_at"]) == (
        {"text": "good"}, True, "2025-01-01T00:00:00Z",
    )  # fmt: skip
    assert good["annotations"][0]["ground_truth"] is True
    assert (plain["meta"], plain["predictions"][0]["model_version"]) == ({"source": "seed"}, "m0")
    # Upserting the same project again keeps two tasks, the first one still ground truth.
    ok(control.post("/_emulator/seed", json=LISTED_SEED))
    assert ok(ada.get("/api/tasks/", params={"project": 7}))["total"] == 2
    ok(control.post("/_emulator/reset"))
    assert export(control) == boot_export


def test_generated_ground_truth_tasks_carry_a_ground_truth_annotation(control, ada):
    listed = ok(ada.get("/api/tasks/", params={"project": 3, "fields": "all"}, headers={
        "Authorization": "Token globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a"}))  # fmt: skip
    assert listed["total"] == 50 and listed["total_annotations"] == 20
    for task in listed["tasks"]:
        assert task["ground_truth"] == any(a["ground_truth"] for a in task["annotations"])
        assert task["data"]["text"] and task["inner_id"] == task["data"]["ticket"]


def test_seed_with_a_list_of_tasks_and_a_ground_truth_count_is_refused(control):
    document = {"projects": [{"id": 8, "title": "x", "organization": 1,
                              "tasks": [{"data": {}}], "ground_truth": 1}]}  # fmt: skip
    response = control.post("/_emulator/seed", json=document)
    assert response.status_code == 400
    assert (
        "with a list of tasks, mark their annotations ground_truth: true"
        in response.json()["detail"]
    )


def test_import_of_an_export_round_trips_tasks_annotations_and_predictions(control, ada):
    ok(control.post("/_emulator/seed", json=LISTED_SEED))
    task = ok(ada.get("/api/tasks/", params={"project": 7}))["tasks"][1]["id"]
    ok(ada.post("/api/predictions/", json={"task": task, "result": [], "score": 0.1}), 201)
    first = export(control)
    assert len(first["tables"]["annotation"]) == 90 + 40 + 20 + 1
    assert len(first["tables"]["prediction"]) == 2
    ok(control.post("/_emulator/reset"))
    ok(control.post("/_emulator/import", json=first))
    assert export(control) == first
    created = ok(ada.post("/api/tasks/", json={"project": 7, "data": {"text": "new"}}), 201)
    assert created["inner_id"] == 3


def test_a_run_whose_step_cannot_be_made_ends_and_the_others_go_on(control, ada):
    """An imported Pending run whose Custom filters no longer apply cannot start: it ends
    Canceled, with the reason in its history, and the worker goes on with the other runs."""
    freeze_at_t0(control)
    template = create_run(ada)
    document = export(control)
    (row,) = document["tables"]["model_run"]
    broken = row | {"id": row["id"] + 1, "project_subset": "Custom", "filters_json": {"items": 7}}
    document["tables"]["model_run"].append(broken)
    ok(control.post("/_emulator/import", json=document))
    healthy = create_run(ada)["id"]

    advance(control, 60)

    assert get_run(ada, template["id"])["status"] == "Completed"
    assert get_run(ada, healthy)["status"] == "Completed"
    events = ok(control.get(f"/_emulator/runs/{broken['id']}/history"))["events"]
    assert [(e["from"], e["to"], e["cause"]) for e in events] == [("Pending", "Canceled", "error")]
    assert events[0]["reason"] == (
        "the step could not be made: filters_json.items must be a non-empty list of filters."
    )
    health = ok(control.get("/_emulator/health"))
    assert health["worker"] == "ok"


def test_an_imported_external_run_drops_its_tasks_the_document_lacks_when_the_last_batch_ends_it(
    control, ada
):
    """run_task names task ids, not rows of task: an imported document may hold an external
    run still waiting for tasks it does not have. As in the simulated mode, they leave the
    run's subset: the batch with the other tasks ends it, and total_tasks no longer counts
    them, so the totals still add up."""
    freeze_at_t0(control)
    run_id = ok(ada.post(RUNS, json={"project": 1},
                         headers={"X-Emulator-Inference": "external"}), 201)["id"]  # fmt: skip
    advance(control, 10)
    document = export(control)
    waiting = sorted(row["task_id"] for row in document["tables"]["run_task"])
    assert len(waiting) == 90  # project 1's HasGT subset in the demo seed
    kept, gone = waiting[:-2], set(waiting[-2:])
    tables = document["tables"]
    tables["task"] = [task for task in tables["task"] if task["id"] not in gone]
    for name, rows in tables.items():  # the tasks' annotations go with them
        if name not in ("task", "run_task"):
            rows[:] = [row for row in rows if row.get("task_id") not in gone]
    ok(control.post("/_emulator/import", json=document))

    results = [{"task_id": task, "output": {"sentiment": "Positive"}} for task in kept]
    ok(ada.post("/api/model-run/batch-predictions",
                json={"modelrun_id": run_id, "results": results}), 201)  # fmt: skip

    ended = get_run(ada, run_id)
    assert (ended["status"], ended["total_tasks"], ended["total_predictions"]) == (
        "Completed",
        88,
        88,
    )


def subset_counts_match_the_tasks(control, ada) -> None:
    """The subset counts of each of Ada's projects are those of its exported tasks."""
    tables = export(control)["tables"]
    projects = [p["id"] for p in tables["project"] if p["organization_id"] == 1]
    assert projects
    for project in projects:
        found = [t for t in tables["task"] if t["project_id"] == project]
        counts = {s["subset"]: s["count"] for s in ok(ada.get(f"/api/projects/{project}/subsets"))}
        assert counts["All"] == len(found), project
        assert counts["HasGT"] == sum(t["has_ground_truth"] for t in found), project


def test_subset_counts_follow_seed_upserts_imports_and_resets(control, ada):
    subset_counts_match_the_tasks(control, ada)
    ok(control.post("/_emulator/seed", json=NEW_ORG_SEED))
    subset_counts_match_the_tasks(control, ada)
    document = export(control)
    ok(control.post("/_emulator/reset"))
    subset_counts_match_the_tasks(control, ada)
    ok(control.post("/_emulator/import", json=document))
    subset_counts_match_the_tasks(control, ada)
    ok(control.post("/_emulator/import", json=document))
    subset_counts_match_the_tasks(control, ada)


NO_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def test_the_predictions_list_refuses_another_organizations_task_even_when_it_finds_some(
    control, ada
):
    """A state document may give a prediction of the organization's project a task of another
    organization: filtering by that task, or by that task's project, is still a 400, though
    the list's statement finds the prediction."""
    made = ok(ada.post("/api/predictions/", json={"task": 1, "result": []}), 201)
    document = export(control)
    foreign = next(t for t in document["tables"]["task"] if t["project_id"] == 3)
    for row in document["tables"]["prediction"]:
        if row["id"] == made["id"]:
            row["task_id"] = foreign["id"]
    ok(control.post("/_emulator/import", json=document))

    assert [p["id"] for p in ok(ada.get("/api/predictions/", params={"project": 1}))] == [
        made["id"]
    ]
    for name, value in (("task", foreign["id"]), ("task__project", 3)):
        refused = ada.get("/api/predictions/", params={name: value, "project": 1})
        assert refused.status_code == 400, refused.text
        assert refused.json()["validation_errors"] == {name: [NO_CHOICE]}
