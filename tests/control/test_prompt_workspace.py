"""Prompts and versions made through the API run like seeded ones; deleting them removes what
depends on them; seed documents declare them and reset and export/import round-trip them."""

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
                    "few_shot_examples": [{"task": 301, "annotation": 4, "order": 2}],
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
    ok(ada.post(f"/api/prompts/{pid}/versions/{vid}/few-shot-examples", json={"task": 1, "annotation": 1}), 201)  # fmt: skip
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
    assert (example["task"], example["annotation"], example["order"]) == (301, 4, 2)
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
