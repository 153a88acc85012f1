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
    "organizations": [{"id": 3, "title": "Initech"}],
    "users": [
        {"id": 3, "username": "peter", "organization": 3, "token": "initech-peter-token"}
    ],
    "projects": [
        {"id": 4, "title": "TPS reports", "organization": 3, "tasks": 10, "ground_truth": 4},
        {"id": 2, "title": "Product reviews (renamed)", "organization": 1, "tasks": 120,
         "ground_truth": 60},
    ],
    "prompts": [
        {"id": 3, "title": "Cover sheets", "organization": 3, "associated_projects": [4],
         "versions": [{"id": 4, "title": "v1", "accuracy": 1.0}]},
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
    document["tables"]["annotation"] = []


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
    del document["tables"]["project"][0]["title"]


def _id_too_large(document):
    document["tables"]["project"][0]["id"] = 10**23


def _duplicate_id(document):
    document["tables"]["project"].append(dict(document["tables"]["project"][0]))


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (_without_format, 'document: "format" must be "lse-emulator/1"'),
        (_unknown_table, "tables: unknown table 'annotation'"),
        (_unknown_column, "tables.project[0]: unknown column 'color'"),
        (_rows_not_a_list, "tables.project: must be a list of rows"),
        (_bad_timestamp, "tables.model_run[0].created_at: 'yesterday' is not an ISO 8601 instant"),
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
    assert {"id": 2, "title": "Product reviews (renamed)", "organization_id": 1} in tables[
        "project"
    ]
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
    document = export(control)
    document["secret_key"] = "a-key-from-another-emulator"
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
        # A reset keeps the signing key (it is not seed data): give the module's server back its own.
        ok(control.post("/_emulator/import", json=original))
