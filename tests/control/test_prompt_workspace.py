"""Prompts and versions made through the API run like seeded ones; deleting them removes what
depends on them; seed documents declare them and reset and export/import round-trip them."""

import pytest
from conftest import HANK_TOKEN

from app.seed import sample_ticket

from .support import SLOW, advance, at, create_run, export, freeze_at_t0, ok, set_policy

SEED = {
    "prompts": [
        {
            "id": 5,
            "title": "Reviews",
            "organization": 1,
            "associated_projects": [2],
            "description": "Product reviews",
            "skill_name": "NamedEntityRecognition",
            "input_fields": ["text"],
            "output_classes": ["Brand"],
            "versions": [
                {
                    "id": 9,
                    "title": "v1",
                    "prompt": "Find brands in {text}",
                    "max_few_shot_examples": 1,
                    "few_shot_examples": [{"task": 303, "annotation": 91, "order": 2}],
                }
            ],
        }
    ]
}


def make_prompt(ada) -> tuple[int, int]:
    prompt = ok(
        ada.post("/api/prompts/", json={"title": "Made here", "associated_projects": [1]}), 201
    )
    body = {"title": "v1", "prompt": "Classify {text}", "provider_model_id": "gpt-4o"}
    version = ok(ada.post(f"/api/prompts/{prompt['id']}/versions", json=body), 201)
    return prompt["id"], version["id"]


def test_a_prompt_made_through_the_api_runs_to_completed(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    pid, vid = make_prompt(ada)
    runs = f"/api/prompts/{pid}/versions/{vid}/inference-runs"
    assert ok(ada.get(f"/api/prompts/{pid}/versions/{vid}/prediction-count?project=1")) == {
        "existing_predictions": 0, "tasks_to_run": 90, "total_tasks": 90}  # fmt: skip
    run = create_run(ada, path=runs)
    assert (run["parent_model"], run["model_version"], run["status"]) == (pid, vid, "Pending")
    advance(control, 5 + 9)
    (done,) = ok(ada.get(runs))
    assert (done["status"], done["total_tasks"], done["completed_at"]) == ("Completed", 90, at(14))
    assert ok(ada.get(f"/api/prompts/{pid}/versions/{vid}/prediction-count?project=1")) == {
        "existing_predictions": 90, "tasks_to_run": 0, "total_tasks": 90}  # fmt: skip
    assert ok(ada.get("/api/projects/1/subsets"))[1] == {"subset": "HasGT", "count": 90}
    got = ok(ada.get(f"/api/prompts/{pid}/"))
    assert (got["runs_count"], got["versions_count"]) == (1, 1)
    score = done["total_correct_predictions"] / done["total_predictions"]
    assert got["best_score"] == score
    assert ok(ada.get(f"/api/prompts/{pid}/versions/{vid}"))["score"] == score


def test_deleting_a_version_or_prompt_removes_its_runs_and_predictions(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    pid, vid = make_prompt(ada)
    runs = f"/api/prompts/{pid}/versions/{vid}/inference-runs"
    create_run(ada, path=runs)
    create_run(ada, path=runs, outcome="Stuck")
    advance(control, 20)
    ok(ada.post(f"/api/prompts/{pid}/versions/{vid}/few-shot-examples", json={"task": 4, "annotation": 1}), 201)  # fmt: skip
    tables = export(control)["tables"]
    assert {r["version_id"] for r in tables["model_run"]} == {vid}
    assert tables["prediction"] and tables["run_task"] and tables["run_event"]
    assert ada.delete(f"/api/prompts/{pid}/versions/{vid}").status_code == 204
    tables = export(control)["tables"]
    for name in ("model_run", "prediction", "failed_prediction", "run_task", "run_event",
                 "few_shot_example"):  # fmt: skip
        assert tables[name] == [], name
    assert [p["id"] for p in tables["prompt"]] == [1, 2, pid]

    pid, vid = make_prompt(ada)
    create_run(ada, path=f"/api/prompts/{pid}/versions/{vid}/inference-runs")
    advance(control, 20)
    assert ada.delete(f"/api/prompts/{pid}/").status_code == 204
    tables = export(control)["tables"]
    assert tables["model_run"] == [] and tables["prediction"] == []
    assert [p["id"] for p in tables["prompt"]] == [1, 2, pid - 1]
    assert [v["id"] for v in tables["prompt_version"]] == [1, 2, 3]


def test_api_writes_are_undone_by_reset(control, ada, boot_export):
    make_prompt(ada)
    ok(ada.patch("/api/prompts/1/", json={"title": "Renamed"}))
    assert ok(control.post("/_emulator/reset"))
    assert export(control) == boot_export
    assert ok(ada.get("/api/prompts/1/"))["title"] == "Ticket sentiment"


def test_seed_declares_prompt_fields_and_examples_and_round_trips(control, ada, boot_export):
    ok(control.post("/_emulator/seed", json=SEED))
    got = ok(ada.get("/api/prompts/5/"))
    assert {k: got[k] for k in ("description", "skill_name", "input_fields", "output_classes",
                                "created_at")} == {
        "description": "Product reviews", "skill_name": "NamedEntityRecognition",
        "input_fields": ["text"], "output_classes": ["Brand"], "created_at": "2025-01-01T00:00:00Z",
    }  # fmt: skip
    (example,) = ok(ada.get("/api/prompts/5/versions/9/few-shot-examples"))
    # Task 303 is project 2's first with ground truth; the seed gives it annotation 91.
    assert (example["task"], example["annotation"], example["order"]) == (303, 91, 2)
    # Task 303 is the third generated task of project 2.
    assert example["annotation_result"][0]["value"] == {"choices": [sample_ticket(3)[1]]}
    assert ok(ada.get("/api/prompts/5/versions/9"))["max_few_shot_examples"] == 1
    document = export(control)
    ok(control.post("/_emulator/reset"))
    assert export(control) == boot_export
    ok(control.post("/_emulator/import", json=document))
    assert export(control) == document
    # New ids follow the imported ones.
    assert ok(ada.post("/api/prompts/", json={"title": "Next"}), 201)["id"] == 6


def test_seed_example_task_must_be_the_organizations(control, boot_export):
    document = {"prompts": [{**SEED["prompts"][0], "versions": [
        {"id": 9, "title": "v1", "few_shot_examples": [{"task": 421, "annotation": 1}]}]}]}  # fmt: skip
    response = control.post("/_emulator/seed", json=document)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "seed: prompts[0].versions: few-shot example task 421 does not exist in organization 1"
    )
    assert export(control) == boot_export


@pytest.mark.parametrize(
    ("example", "detail"),
    [
        ({"task": 301, "annotation": 4}, "annotation 4 is not one of task 301's"),  # task 14's
        ({"task": 303, "annotation": 999999}, "annotation 999999 is not one of task 303's"),
    ],
)
def test_seed_example_annotation_must_be_one_of_the_tasks(control, boot_export, example, detail):
    document = {"prompts": [{**SEED["prompts"][0], "versions": [
        {"id": 9, "title": "v1", "few_shot_examples": [example]}]}]}  # fmt: skip
    response = control.post("/_emulator/seed", json=document)
    assert response.status_code == 400
    assert response.json()["detail"] == f"seed: prompts[0].versions: few-shot example {detail}"
    assert export(control) == boot_export


def test_seed_removing_ground_truth_removes_the_few_shot_examples_it_answered(control, ada):
    pid, vid = make_prompt(ada)
    base = f"/api/prompts/{pid}/versions/{vid}/few-shot-examples"
    ok(ada.post(base, json={"task": 4, "annotation": 1}), 201)
    kept = ok(ada.post(base, json={"task": 10, "annotation": 3}), 201)
    # 30 of 300 tasks with ground truth: every tenth, so task 10 keeps its annotation and task 4
    # loses its own.
    fewer = {"id": 1, "title": "Support tickets", "organization": 1, "tasks": 300,
             "ground_truth": 30}  # fmt: skip
    ok(control.post("/_emulator/seed", json={"projects": [fewer]}))
    assert ok(ada.get("/api/tasks/4/"))["annotations"] == []
    assert ok(ada.get(base)) == [kept]


def test_seed_replacing_a_listed_tasks_annotations_removes_their_few_shot_uses(control, ada):
    listed = {"projects": [{"id": 6, "title": "Listed", "organization": 1, "tasks": [
        {"data": {"text": "good"}, "annotations": [
            {"result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}]}]}]}  # fmt: skip
    ok(control.post("/_emulator/seed", json=listed))
    (task,) = ok(ada.get("/api/tasks/", params={"project": 6, "fields": "all"}))["tasks"]
    (annotation,) = task["annotations"]
    pid, vid = make_prompt(ada)
    base = f"/api/prompts/{pid}/versions/{vid}/few-shot-examples"
    ok(ada.post(base, json={"task": task["id"], "annotation": annotation["id"]}), 201)
    # Seeding again replaces the task's annotations (SQLite may give the new one the old id).
    ok(control.post("/_emulator/seed", json=listed))
    assert len(ok(ada.get(f"/api/tasks/{task['id']}/"))["annotations"]) == 1
    assert ok(ada.get(base)) == []


def finished_run(pk: int, version: int, day: int, predictions: int, correct: int | None,
                 subset: str = "HasGT", status: str = "Completed", prompt: int = 1,
                 project: int = 1, organization: int = 1, user: int = 1) -> dict:  # fmt: skip
    """A model_run row of a state document: a run that ended on 2026-01-<day>."""
    ended = f"2026-01-{day:02d}T00:00:00Z"
    return {
        "id": pk, "organization_id": organization, "project_id": project, "prompt_id": prompt,
        "version_id": version, "created_by_id": user, "status": status,
        "project_subset": subset, "sample_subset_size": None, "filters_json": None,
        "job_id": None, "only_missing_predictions": False, "task_ids": None,
        "source_model_run_id": None, "total_tasks": predictions,
        "total_predictions": predictions, "total_correct_predictions": correct,
        "created_at": "2026-01-01T00:00:00Z", "triggered_at": "2026-01-01T00:00:00Z",
        "completed_at": ended, "predictions_updated_at": ended, "total_failed": 0,
        "next_due_at": None, "outcome": None, "inference_mode": "simulated",
    }  # fmt: skip


def test_a_versions_score_is_its_latest_completed_hasgt_runs_and_the_prompts_best_of_them(
    control, ada, emulator
):
    document = export(control)
    tables = document["tables"]
    third = next(v for v in tables["prompt_version"] if v["id"] == 2) | {"id": 4, "title": "v3"}
    tables["prompt_version"].append(third)
    tables["model_run"] = [
        finished_run(1, 1, 1, 10, 9),
        finished_run(2, 1, 3, 10, 5),  # later: version 1 scores 0.5, not 0.9
        finished_run(3, 1, 4, 10, 10, subset="All"),  # All and Sample runs give no score
        finished_run(4, 2, 2, 4, 3),
        finished_run(5, 2, 5, 10, 10, status="Failed"),
        finished_run(6, 2, 5, 10, 10, status="Canceled"),
        finished_run(7, 4, 1, 5, 5),
        finished_run(8, 4, 2, 4, None),  # version 4 scores 0.0
        finished_run(9, 3, 1, 0, 0, prompt=2, project=3, organization=2, user=2),
    ]
    ok(control.post("/_emulator/import", json=document))

    assert [v["score"] for v in ok(ada.get("/api/prompts/1/versions"))] == [0.5, 0.75, 0.0]
    assert ok(ada.get("/api/prompts/1/versions/2"))["score"] == 0.75
    prompt = ok(ada.get("/api/prompts/1/"))
    assert (prompt["versions_count"], prompt["runs_count"], prompt["best_score"]) == (3, 8, 0.75)
    with emulator.client(HANK_TOKEN) as hank:
        invoices = ok(hank.get("/api/prompts/2/"))
        assert (invoices["runs_count"], invoices["best_score"]) == (1, None)
        assert ok(hank.get("/api/prompts/2/versions/3"))["score"] is None  # no prediction made


def test_deleting_a_prompt_leaves_every_other_prompts_runs_predictions_and_examples(control, ada):
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    bystanders = [create_run(ada)["id"], create_run(ada, outcome="Stuck")["id"]]
    ok(ada.post("/api/prompts/1/versions/2/few-shot-examples", json={"task": 4, "annotation": 1}), 201)  # fmt: skip
    pid, vid = make_prompt(ada)
    base = f"/api/prompts/{pid}/versions/{vid}"
    made = [
        create_run(ada, path=f"{base}/inference-runs", outcome=o)["id"] for o in (None, "Stuck")
    ]
    ok(ada.post(f"{base}/few-shot-examples", json={"task": 7, "annotation": 2}), 201)
    advance(control, 20)
    before = export(control)["tables"]
    by_run = {"model_run": "id", "prediction": "run_id", "failed_prediction": "run_id",
              "run_task": "run_id", "run_event": "run_id"}  # fmt: skip
    # Both prompts' completed runs have predictions, their stuck ones tasks still to do.
    assert {name: {r[key] for r in before[name]} for name, key in by_run.items()} == {
        "model_run": {*bystanders, *made}, "prediction": {bystanders[0], made[0]},
        "failed_prediction": set(), "run_task": {bystanders[1], made[1]},
        "run_event": {*bystanders, *made},
    }  # fmt: skip

    assert ada.delete(f"/api/prompts/{pid}/").status_code == 204

    after = export(control)["tables"]
    for name, key in by_run.items():
        assert after[name] == [r for r in before[name] if r[key] in bystanders], name
    assert after["few_shot_example"] == [r for r in before["few_shot_example"]
                                         if r["version_id"] == 2]  # fmt: skip
    assert after["prompt_project"] == [r for r in before["prompt_project"]
                                       if r["prompt_id"] != pid]  # fmt: skip


def test_deleting_a_prompt_takes_a_run_an_imported_state_records_under_it_with_another_version(
    control, ada
):
    """Label Studio cascades a run from its prompt (parent_model) as from its version: a
    state document may pair a completed run with a version of another prompt, and deleting the
    prompt it names takes the run with its predictions and events, and no other run."""
    freeze_at_t0(control)
    set_policy(control, **SLOW)
    bystander = create_run(ada, outcome="Stuck")["id"]  # prompt 1's, with tasks still to do
    pid, vid = make_prompt(ada)
    run = create_run(ada, path=f"/api/prompts/{pid}/versions/{vid}/inference-runs")["id"]
    named, _ = make_prompt(ada)
    advance(control, 20)
    document = export(control)
    (row,) = [r for r in document["tables"]["model_run"] if r["id"] == run]
    row["prompt_id"] = named
    assert ok(control.post("/_emulator/import", json=document)) == {"detail": "State imported."}
    before = export(control)["tables"]
    assert {r["run_id"] for r in before["prediction"]} == {run}

    assert ada.delete(f"/api/prompts/{named}/").status_code == 204

    after = export(control)["tables"]
    for name, key in (("model_run", "id"), ("prediction", "run_id"), ("run_task", "run_id"),
                      ("run_event", "run_id")):  # fmt: skip
        assert after[name] == [r for r in before[name] if r[key] == bystander], name
    assert [p["id"] for p in after["prompt"]] == [1, 2, pid]
    assert vid in {v["id"] for v in after["prompt_version"]}


def test_copies_of_a_prompt_and_of_a_version_keep_the_seeded_accuracy_and_failure_rate(
    control, ada
):
    """The demo seed gives prompt 1's versions accuracy 0.72 and 0.91, failure rate 0 and
    0.02: a copy predicts as its original does."""
    knobs = [(0.72, 0.0), (0.91, 0.02)]
    copy = ok(ada.post("/api/prompts/1/duplicate/", json={}))
    version = ok(ada.post("/api/prompts/1/versions/2/duplicate", json={}))
    prompts = {p["id"]: p for p in ok(control.get("/_emulator/workspace"))["prompts"]}
    assert [(v["accuracy"], v["failure_rate"]) for v in prompts[copy["id"]]["versions"]] == knobs
    (shown,) = [v for v in prompts[1]["versions"] if v["id"] == version["id"]]
    assert (shown["accuracy"], shown["failure_rate"]) == knobs[1]
