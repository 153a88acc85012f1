"""Rules of the run endpoints that only show over several runs: list ordering and filters,
coercion of string booleans, offsets of date-times, ownership of the body's organization, the
failure threshold's boundary and the cancel refusal. Expected values come from the demo seed
(project 1: 300 tasks, 90 with ground truth; project 2: 120 tasks) and the runs created here."""

import httpx
import pytest

from .support import (
    RUNS,
    advance,
    assert_error,
    assert_invalid,
    create_run,
    freeze_at_t0,
    get_run,
    ok,
    set_policy,
)

FEW_SHOT = "/api/prompts/1/versions/2/inference-runs"  # 2% of its predictions fail


@pytest.fixture
def three_runs(control: httpx.Client, ada: httpx.Client) -> dict[str, int]:
    """Three finished runs of version 1, one second apart, of different projects and sizes."""
    freeze_at_t0(control)
    runs = {"hasgt": create_run(ada)["id"]}  # project 1, 90 tasks
    advance(control, 1)
    runs["all2"] = create_run(ada, project=2, project_subset="All")["id"]  # 120 tasks
    advance(control, 1)
    runs["sample"] = create_run(ada, project_subset="Sample", sample_subset_size=5)["id"]
    advance(control, 60)
    return runs


def listed(client: httpx.Client, **query: object) -> list[int]:
    return [run["id"] for run in ok(client.get(RUNS, params=query))]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("id", ["hasgt", "all2", "sample"]),
        ("-id", ["sample", "all2", "hasgt"]),
        ("created_at", ["hasgt", "all2", "sample"]),
        ("-created_at", ["sample", "all2", "hasgt"]),
        ("total_tasks", ["sample", "hasgt", "all2"]),
        ("-total_tasks", ["all2", "hasgt", "sample"]),
        ("project,-id", ["sample", "hasgt", "all2"]),
        ("-project,id", ["all2", "hasgt", "sample"]),
        ("-triggered_at", ["sample", "all2", "hasgt"]),
        ("unknown,-completed_at", ["sample", "all2", "hasgt"]),
        (" -id ", ["sample", "all2", "hasgt"]),
        ("id,-id", ["hasgt", "all2", "sample"]),  # a field named again is dropped
        ("-id,id", ["sample", "all2", "hasgt"]),
        ("-total_tasks,-total_tasks,id", ["all2", "hasgt", "sample"]),
        ("", ["hasgt", "all2", "sample"]),
        ("-", ["hasgt", "all2", "sample"]),
        ("-unknown", ["hasgt", "all2", "sample"]),
        ("completed_at", ["hasgt", "all2", "sample"]),
        ("triggered_at", ["hasgt", "all2", "sample"]),
        ("-predictions_updated_at", ["sample", "all2", "hasgt"]),
        ("predictions_updated_at", ["hasgt", "all2", "sample"]),
        ("status,-id", ["sample", "all2", "hasgt"]),
        ("-project,-id", ["all2", "sample", "hasgt"]),
    ],
)
def test_list_ordering_sorts_each_way(ada, three_runs, ordering, expected):
    assert listed(ada, ordering=ordering) == [three_runs[name] for name in expected]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"project": 2}, ["all2"]),
        ({"project": 1}, ["hasgt", "sample"]),
        ({"project_subset": "Sample"}, ["sample"]),
        ({"project_subset": "HasGT"}, ["hasgt"]),
        ({"project_subset": "All", "project": 1}, []),
        ({"parent_model": 1}, ["hasgt", "all2", "sample"]),
        ({"parent_model": 2}, []),
    ],
)
def test_list_filters_select_the_runs_they_name(ada, three_runs, query, expected):
    assert listed(ada, **query) == [three_runs[name] for name in expected]


@pytest.mark.parametrize("sent", ["true", "True", "yes", "on", "1", 1, True])
def test_string_booleans_select_only_missing_predictions(control, ada, sent):
    freeze_at_t0(control)
    create_run(ada)
    advance(control, 60)  # version 1 never fails: every ground-truth task has a prediction

    again = create_run(ada, only_missing_predictions=sent)["id"]
    without = create_run(ada, only_missing_predictions="false")["id"]
    advance(control, 60)

    assert (get_run(ada, again)["total_tasks"], get_run(ada, without)["total_tasks"]) == (0, 90)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2030-01-01T12:00:00+02:00", "2030-01-01T10:00:00Z"),
        ("2030-01-01T12:00:00-05:30", "2030-01-01T17:30:00Z"),
        ("2030-01-01 12:00", "2030-01-01T12:00:00Z"),
    ],
)
def test_datetimes_with_offsets_are_stored_in_utc(ada, sent, stored):
    run = create_run(ada, predictions_updated_at=sent)

    assert run["predictions_updated_at"] == stored
    assert get_run(ada, run["id"])["predictions_updated_at"] == stored


def test_organization_of_the_body_must_be_the_users_own(ada):
    response = ada.post(RUNS, json={"project": 1, "organization": 2})

    assert_invalid(response, {"organization": ['Invalid pk "2" - object does not exist.']})
    assert create_run(ada, organization=1)["organization"] == 1


def failure_run(control: httpx.Client, ada: httpx.Client, threshold: float) -> dict:
    set_policy(control, failure_threshold=threshold)
    run = create_run(ada, path=FEW_SHOT, project_subset="All")
    advance(control, 60)
    return get_run(ada, run["id"], path=FEW_SHOT)


def test_a_run_fails_only_when_its_failure_share_is_above_the_threshold(control, ada):
    freeze_at_t0(control)
    probe = failure_run(control, ada, 1.0)
    failed = probe["total_tasks"] - probe["total_predictions"]
    assert (probe["status"], probe["total_tasks"]) == ("Completed", 300)
    assert 0 < failed < 300

    at_threshold = failure_run(control, ada, failed / 300)
    above_threshold = failure_run(control, ada, (failed - 0.5) / 300)

    assert at_threshold["status"] == "Completed"
    assert above_threshold["status"] == "Failed"


def test_cancel_of_a_finished_run_is_refused_with_its_status(control, ada):
    freeze_at_t0(control)
    run_id = create_run(ada)["id"]
    advance(control, 60)

    response = ada.post(f"{RUNS}/{run_id}/cancel")

    assert_error(
        response,
        400,
        f"Inference run {run_id} is already Completed; "
        "only Pending or InProgress runs can be canceled.",
    )


MAX_ID = 2**31 - 1
LAST_IDS_SEED = {
    "projects": [{"id": MAX_ID, "title": "Last", "organization": 1, "tasks": 4, "ground_truth": 2}],
    "prompts": [{"id": MAX_ID, "title": "Last", "organization": 1, "associated_projects": [MAX_ID],
                 "versions": [{"id": MAX_ID, "title": "last", "accuracy": 1.0}]}],
}  # fmt: skip


def test_objects_with_the_largest_id_a_column_holds_are_found(control, ada, frozen_clock):
    ok(control.post("/_emulator/seed", json=LAST_IDS_SEED))
    runs = f"/api/prompts/{MAX_ID}/versions/{MAX_ID}/inference-runs"

    assert ok(ada.get(f"/api/projects/{MAX_ID}/subsets")) == [
        {"subset": "All", "count": 4},
        {"subset": "HasGT", "count": 2},
        {"subset": "Sample", "count": 4},
    ]
    assert ok(ada.get(runs)) == []
    run = create_run(ada, path=runs, project=MAX_ID, organization=1)
    assert (run["project"], run["parent_model"], run["model_version"]) == (MAX_ID, MAX_ID, MAX_ID)
    assert [r["id"] for r in ok(ada.get(runs, params={"project": MAX_ID}))] == [run["id"]]
    assert [r["id"] for r in ok(ada.get(runs, params={"parent_model": MAX_ID}))] == [run["id"]]
    assert ok(ada.get(f"/api/prompts/{MAX_ID}/versions/{MAX_ID}/prediction-count",
                      params={"project": MAX_ID})) == {
        "existing_predictions": 0, "tasks_to_run": 2, "total_tasks": 2
    }  # fmt: skip
    assert ok(ada.post(f"{runs}/{run['id']}/cancel")) == {"detail": "Inference run canceled."}


@pytest.mark.parametrize("path_id", ["0", "-1"])
def test_ids_below_one_name_nothing(ada, path_id):
    assert_error(
        ada.get(f"/api/projects/{path_id}/subsets"), 404, "No Project matches the given query."
    )
    assert_error(
        ada.get(f"/api/prompts/{path_id}/versions/1/inference-runs"),
        404,
        "No ModelInterface matches the given query.",
    )
    assert_error(
        ada.get(f"/api/prompts/1/versions/{path_id}/inference-runs"),
        404,
        "No ThirdPartyModelVersion matches the given query.",
    )
    assert ok(ada.get(RUNS, params={"project": path_id})) == []
    assert ok(ada.get(RUNS, params={"parent_model": path_id})) == []


def test_a_prompt_naming_classes_unlike_the_configs_still_runs_to_completion(control, ada):
    """The model answers with the label config's labels; classes the config lacks are never
    answered, and an answer the config cannot hold fails that task, never the worker."""
    freeze_at_t0(control)
    prompt = ok(ada.post("/api/prompts/", json={
        "title": "Lower-case classes", "skill_name": "TextClassification",
        "input_fields": ["text"], "output_classes": ["positive", "negative", "unsure"],
        "associated_projects": [1]}), 201)  # fmt: skip
    version = ok(ada.post(f"/api/prompts/{prompt['id']}/versions", json={
        "title": "v1", "prompt": "Classify {text}", "provider_model_id": "gpt-4o"}), 201)  # fmt: skip
    path = f"/api/prompts/{prompt['id']}/versions/{version['id']}/inference-runs"
    run = create_run(ada, path=path)
    advance(control, 60)

    done = get_run(ada, run["id"], path=path)
    assert (done["status"], done["total_tasks"], done["total_predictions"]) == ("Completed", 90, 90)
    predictions = ok(ada.get("/api/predictions/", params={"project": 1}))
    chosen = {c for p in predictions if p["model_run"] == run["id"]
              for r in p["result"] for c in r["value"]["choices"]}  # fmt: skip
    # Every answer is a label of the config (the ground truth's, or one of the prompt's).
    assert chosen and chosen <= {"Positive", "Negative", "Neutral"}
