"""Results of runs read back: indicators, bulk indicators, regressions, re-evaluation,
subset tasks, cost estimates and prompt refinement. Expected values are computed here from the
rows a client reads (predictions, tasks), never taken from the server's own counters."""

from typing import Any

import httpx
import pytest
from conftest import HANK_TOKEN, Emulator

from .envelope import assert_error, assert_invalid

RUNS = "/api/prompts/1/versions/{v}/inference-runs"
NOT_RUN = "No ModelRun matches the given query."


@pytest.fixture(scope="module")
def server(server: Emulator) -> Emulator:
    """The shared emulator, reset for this module (tests/api/conftest.py), its clock frozen and
    its runs queued for no time; `runs` adds two finished HasGT runs and a finished All run."""
    with server.client(None) as control:
        control.post("/_emulator/clock", json={"freeze": True}).raise_for_status()
        control.put("/_emulator/policy", json={"queue_delay_seconds": 0}).raise_for_status()
    return server


def run_out(server: Emulator) -> None:
    with server.client(None) as control:
        control.post("/_emulator/clock/run-out").raise_for_status()


@pytest.fixture(scope="module")
def runs(server: Emulator) -> dict[str, int]:
    """Version 1 and version 2 over project 1's HasGT subset, version 1 over All; all ended."""
    made = {}
    with server.client() as api:
        for name, version, subset in (("a", 1, "HasGT"), ("b", 2, "HasGT"), ("all", 1, "All")):
            response = api.post(RUNS.format(v=version), json={"project": 1,
                                                              "project_subset": subset})  # fmt: skip
            assert response.status_code == 201, response.text
            made[name] = response.json()["id"]
    run_out(server)
    return made


def predictions_of(api: httpx.Client, run_id: int) -> list[dict[str, Any]]:
    rows = api.get("/api/predictions/", params={"project": 1}).json()
    return [p for p in rows if p["model_run"] == run_id]


def ground_truth_tasks(api: httpx.Client) -> set[int]:
    page = api.get("/api/tasks/", params={"project": 1, "page_size": 1000, "fields": "all"})
    return {
        t["id"] for t in page.json()["tasks"] if any(a["ground_truth"] for a in t["annotations"])
    }


def choices(result: list[dict[str, Any]]) -> set[str]:
    return {c for region in result for c in region.get("value", {}).get("choices", [])}


def correctness(server: Emulator, run_id: int) -> dict[int, bool]:
    """Task -> whether the run's prediction matches the ground truth, over its ground-truth
    tasks: from the prediction's result against the ground-truth annotation where the result
    names labels, else from the control plane's view of the run's tasks."""
    with server.client(None) as control:
        rows = control.get(f"/_emulator/runs/{run_id}/tasks", params={"limit": 1000}).json()[
            "tasks"
        ]
    judged = {
        r["id"]: r["correct"] for r in rows if r["state"] == "predicted" and r["ground_truth"]
    }
    with server.client() as api:
        for prediction in predictions_of(api, run_id):
            if prediction["task"] in judged and prediction["result"]:
                task = api.get(f"/api/tasks/{prediction['task']}/").json()
                [truth] = [a for a in task["annotations"] if a["ground_truth"]]
                judged[prediction["task"]] = choices(prediction["result"]) == choices(
                    truth["result"]
                )
    return judged


def test_indicators_are_computed_from_the_runs_predictions(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        listed = api.get(f"/api/inference-runs/{runs['a']}/indicators/")
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert [i["key"] for i in body] == ["accuracy", "predictions", "failures", "cost"]
        assert all(set(i) == {"key", "title", "values"} for i in body)
        by_key = {i["key"]: i for i in body}
        run = next(r for r in api.get(RUNS.format(v=1)).json() if r["id"] == runs["a"])
        made = predictions_of(api, runs["a"])
        gt = ground_truth_tasks(api)
        assert len(made) == run["total_predictions"]
        assert all(p["task"] in gt for p in made)
        values = by_key["accuracy"]["values"]
        assert values["judged_predictions"] == len(made)
        assert values["correct_predictions"] == run["total_correct_predictions"]
        assert values["accuracy"] == round(run["total_correct_predictions"] / len(made), 6)
        predictions = by_key["predictions"]["values"]
        assert predictions["predictions"] == len(made)
        assert predictions["total_tasks"] == run["total_tasks"] == len(gt)
        assert predictions["failed_predictions"] + len(made) == len(gt)
        assert predictions["remaining"] == 0
        one = api.get(f"/api/inference-runs/{runs['a']}/indicators/accuracy")
        assert one.json() == {"title": "Accuracy", "values": values}
        cost = api.get(f"/api/inference-runs/{runs['a']}/indicators/cost").json()
        assert cost["title"] == "Cost"
        # What each prediction cost is stored, not shown by the Prediction API: read the rows.
        with server.client(token=None) as control:
            rows = control.get("/_emulator/export").json()["tables"]["prediction"]
        costs = [row["total_cost_usd"] for row in rows if row["run_id"] == runs["a"]]
        assert len(costs) == len(made) and all(cost > 0 for cost in costs)
        expected_cost = round(sum(costs), 8)
        assert cost["values"]["total_cost_usd"] == pytest.approx(expected_cost)


def test_all_runs_have_no_accuracy(server: Emulator, runs: dict[str, int]) -> None:
    with server.client() as api:
        values = api.get(f"/api/inference-runs/{runs['all']}/indicators/accuracy").json()
        assert values["values"]["accuracy"] is None
        assert values["values"]["judged_predictions"] > 0


def test_unknown_indicator_and_other_organizations_run_are_404(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        assert_error(
            api.get(f"/api/inference-runs/{runs['a']}/indicators/nope"),
            404,
            "No KeyIndicator matches the given query.",
        )
        assert_error(api.get("/api/inference-runs/999999/indicators/"), 404, NOT_RUN)
    with server.client(HANK_TOKEN) as hank:
        assert_error(hank.get(f"/api/inference-runs/{runs['a']}/indicators/"), 404, NOT_RUN)
        assert_error(hank.get(f"/api/inference-runs/{runs['a']}/indicators/cost"), 404, NOT_RUN)
        bulk = hank.get("/api/inference-runs/bulk-indicators/", params={"run_ids": runs["a"]})
        assert bulk.json() == {"results": []}
        assert_error(
            hank.get("/api/inference-runs/regressions/",
                     params={"run_a": runs["a"], "run_b": runs["b"]}),
            404, NOT_RUN,
        )  # fmt: skip
    with server.client(None) as anonymous:
        assert anonymous.get(f"/api/inference-runs/{runs['a']}/indicators/").status_code == 401


def test_bulk_indicators_follow_the_order_asked(server: Emulator, runs: dict[str, int]) -> None:
    with server.client() as api:
        ids = f"{runs['b']},{runs['a']},999999"
        body = api.get("/api/inference-runs/bulk-indicators/", params={"run_ids": ids}).json()
        assert [r["run_id"] for r in body["results"]] == [runs["b"], runs["a"]]
        first = body["results"][0]
        assert first["model_version_id"] == 2 and first["status"] == "Completed"
        single = api.get(f"/api/inference-runs/{runs['b']}/indicators/").json()
        assert first["indicators"] == {i["key"]: {"title": i["title"], "values": i["values"]}
                                       for i in single}  # fmt: skip
        assert_invalid(
            api.get("/api/inference-runs/bulk-indicators/"),
            {"run_ids": ["This field is required."]},
        )
        assert_invalid(
            api.get("/api/inference-runs/bulk-indicators/", params={"run_ids": "x"}),
            {"run_ids": ['"x" is not a valid run id.']},
        )
        many = ",".join(str(i) for i in range(1, 22))
        assert_invalid(
            api.get("/api/inference-runs/bulk-indicators/", params={"run_ids": many}),
            {"run_ids": ["Ensure this field has no more than 20 elements."]},
        )


def test_regressions_match_a_client_side_comparison(server: Emulator, runs: dict[str, int]) -> None:
    with server.client() as api:
        response = api.get(
            "/api/inference-runs/regressions/", params={"run_a": runs["a"], "run_b": runs["b"]}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        a = {p["task"]: p for p in predictions_of(api, runs["a"])}
        b = {p["task"]: p for p in predictions_of(api, runs["b"])}
    ca, cb = correctness(server, runs["a"]), correctness(server, runs["b"])
    gt_failed_a = {t for t in ca if t not in a}
    assert not gt_failed_a  # every predicted task of the control view is a prediction
    expected: dict[str, set[int]] = {k: set() for k in body["summary"]}
    for task in set(ca) | set(cb) | set(a) | set(b):
        in_a = ca.get(task, False) if task in ca or task in a else None
        in_b = cb.get(task, False) if task in cb or task in b else None
        if in_a is None and in_b is None:
            continue
        # a task failed in one run is incorrect there
        if in_a is None:
            in_a = False
        if in_b is None:
            in_b = False
        key = {(True, True): "stable_correct", (True, False): "regressions",
               (False, True): "improvements", (False, False): "stable_incorrect"}[(in_a, in_b)]  # fmt: skip
        expected[key].add(task)
    for key, tasks in expected.items():
        assert {i["task_id"] for i in body[key]} == tasks, key
        assert body["summary"][key] == len(tasks)
    assert body["run_a"] == runs["a"] and body["run_b"] == runs["b"]
    assert body["new"] == [] and body["removed"] == []


def test_regressions_need_both_runs(server: Emulator) -> None:
    with server.client() as api:
        assert_invalid(
            api.get("/api/inference-runs/regressions/", params={"run_b": "x"}),
            {"run_a": ["This field is required."], "run_b": ["A valid integer is required."]},
        )


def test_subset_tasks_pages_through_the_runs_predictions(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        gt = ground_truth_tasks(api)
        made = {p["task"]: p for p in predictions_of(api, runs["a"])}
        seen: list[dict[str, Any]] = []
        params: dict[str, Any] = {"model_run": runs["a"], "page_size": 25}
        page = api.get("/api/projects/1/subset-tasks", params=params)
        while True:
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["count"] == len(gt)
            [wrapper] = body["results"]
            assert wrapper["task_count"] == len(gt)
            seen += wrapper["task_result_list"]
            if body["next"] is None:
                break
            page = api.get(body["next"])
        assert [i["id"] for i in seen] == sorted(gt)
        for item in seen:
            assert "ground_truth" in item and item["ground_truth"]["ground_truth"] is True
            if item["id"] in made:
                assert item["prediction"]["id"] == made[item["id"]]["id"]
                assert item["score"] in (0.0, 1.0)
            else:
                assert item["error"]["message"] and item["score"] is None
        matches = api.get("/api/projects/1/subset-tasks", params={
            "model_run": runs["a"], "alignment_outcome": "true_positive", "page_size": 1000,
            "include_total": "false"}).json()  # fmt: skip
        [wrapper] = matches["results"]
        assert "task_count" not in wrapper
        correct = {t for t, ok in correctness(server, runs["a"]).items() if ok}
        assert {i["id"] for i in wrapper["task_result_list"]} == correct
        ordered = api.get("/api/projects/1/subset-tasks", params={
            "model_run": runs["a"], "ordering": "-id", "page_size": 1000}).json()  # fmt: skip
        ids = [i["id"] for i in ordered["results"][0]["task_result_list"]]
        assert ids == sorted(gt, reverse=True)


def test_subset_tasks_rules_and_isolation(server: Emulator, runs: dict[str, int]) -> None:
    with server.client() as api:
        assert_invalid(
            api.get("/api/projects/1/subset-tasks"), {"parent_model": ["This field is required."]}
        )
        assert_invalid(
            api.get("/api/projects/1/subset-tasks",
                    params={"parent_model": 1, "alignment_outcome": "x"}),
            {"alignment_outcome": ["Select a valid choice. x is not one of the available choices."]},
        )  # fmt: skip
        assert_error(
            api.get("/api/projects/1/subset-tasks", params={"parent_model": 1, "page": 99}),
            404,
            "Invalid page.",
        )
        assert_error(
            api.get("/api/projects/2/subset-tasks", params={"model_run": runs["a"]}), 404, NOT_RUN
        )
        by_version = api.get("/api/projects/1/subset-tasks",
                             params={"parent_model": 1, "model_version": 2, "page_size": 1000})  # fmt: skip
        items = by_version.json()["results"][0]["task_result_list"]
        b = {p["task"]: p["id"] for p in predictions_of(api, runs["b"])}
        assert {i["id"]: i["prediction"]["id"] for i in items if "prediction" in i} == b
    with server.client(HANK_TOKEN) as hank:
        assert_error(
            hank.get("/api/projects/1/subset-tasks", params={"parent_model": 2}),
            404,
            "No Project matches the given query.",
        )
        assert_error(
            hank.get("/api/projects/3/subset-tasks", params={"parent_model": 1}),
            404,
            "No ModelInterface matches the given query.",
        )


def test_cost_estimate_is_deterministic_and_priced_from_the_table(server: Emulator) -> None:
    with server.client() as api:
        first = api.get("/api/prompts/1/versions/1/cost-estimate")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body == api.get("/api/prompts/1/versions/1/cost-estimate").json()
        assert body["is_error"] is False and body["error_type"] is None
        total = float(body["prompt_cost_usd"]) + float(body["completion_cost_usd"])
        assert float(body["total_cost_usd"]) == pytest.approx(total)
        everything = api.get("/api/prompts/1/versions/1/cost-estimate",
                             params={"project_subset": "All"}).json()  # fmt: skip
        assert float(everything["total_cost_usd"]) > float(body["total_cost_usd"])
        assert_invalid(
            api.get("/api/prompts/1/versions/1/cost-estimate", params={"project": 3}),
            {"project": ['Invalid pk "3" - object does not exist.']},
        )
    with server.client(HANK_TOKEN) as hank:
        assert_error(
            hank.get("/api/prompts/1/versions/1/cost-estimate"),
            404,
            "No ModelInterface matches the given query.",
        )


def test_re_evaluate_starts_a_run_over_the_chosen_tasks(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        made = predictions_of(api, runs["a"])
        incorrect = sorted(t for t, ok in correctness(server, runs["a"]).items() if ok is False)
        before = {r["id"] for r in api.get(RUNS.format(v=2)).json()}
        response = api.post("/api/inference-runs/re-evaluate/", json={
            "mode": "incorrect", "model_version_id": 2, "source_model_run_id": runs["a"]})  # fmt: skip
        assert response.status_code == 201, response.text
        assert response.json() == {"mode": "incorrect", "model_version_id": 2,
                                   "source_model_run_id": runs["a"], "task_ids": incorrect}  # fmt: skip
        run_out(server)
        [new] = [r for r in api.get(RUNS.format(v=2)).json() if r["id"] not in before]
        assert new["total_tasks"] == len(incorrect) and new["status"] == "Completed"
        assert made  # the source run had predictions to judge
        custom = api.post("/api/inference-runs/re-evaluate/", json={
            "mode": "custom", "model_version_id": 1, "task_ids": [1, 2, 3]})  # fmt: skip
        assert custom.status_code == 201, custom.text
        assert_invalid(
            api.post("/api/inference-runs/re-evaluate/", json={}),
            {"mode": ["This field is required."], "model_version_id": ["This field is required."]},
        )
        assert_invalid(
            api.post("/api/inference-runs/re-evaluate/", json={"mode": "failed",
                                                                "model_version_id": 1}),
            {"source_model_run_id": ["This field is required."]},
        )  # fmt: skip
        assert_invalid(
            api.post("/api/inference-runs/re-evaluate/",
                     json={"mode": "custom", "model_version_id": 1, "task_ids": []}),
            {"task_ids": ["This list may not be empty."]},
        )  # fmt: skip
    with server.client(HANK_TOKEN) as hank:
        assert_invalid(
            hank.post("/api/inference-runs/re-evaluate/",
                      json={"mode": "custom", "model_version_id": 1, "task_ids": [1]}),
            {"model_version_id": ['Invalid pk "1" - object does not exist.']},
        )  # fmt: skip
        assert_invalid(
            hank.post("/api/inference-runs/re-evaluate/",
                      json={"mode": "custom", "model_version_id": 3, "task_ids": [1]}),
            {"task_ids": ['Invalid pk "1" - object does not exist.']},
        )  # fmt: skip
        assert_invalid(
            hank.post("/api/inference-runs/re-evaluate/",
                      json={"mode": "failed", "model_version_id": 3,
                            "source_model_run_id": runs["a"]}),
            {"source_model_run_id": [f'Invalid pk "{runs["a"]}" - object does not exist.']},
        )  # fmt: skip


REFINE = "/api/prompts/1/versions/1/refine"
BODY = {"project_id": 1, "teacher_model_name": "gpt-4o", "teacher_model_provider_connection_id": 1}


def test_refinement_moves_with_the_clock_and_ends_with_a_new_version(server: Emulator) -> None:
    with server.client() as api, server.client(None) as control:
        versions = {v["id"] for v in api.get("/api/prompts/1/versions").json()}
        created = api.post(REFINE, json=BODY)
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["refinement_status"] == "Pending" and job["prompt"] == ""
        assert job["previous_version"]["id"] == 1 and job["title"] is None
        params = {"refinement_job_id": job["refinement_job_id"]}
        control.post("/_emulator/clock", json={"advance_seconds": 1}).raise_for_status()
        pending = api.get(REFINE, params=params)
        assert pending.status_code == 202 and pending.json()["refinement_status"] == "InProgress"
        control.post("/_emulator/clock", json={"advance_seconds": 10}).raise_for_status()
        done = api.get(REFINE, params=params)
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["refinement_status"] == "Completed"
        assert body["title"] == "baseline (refined)"
        assert "Positive" in body["prompt"] and float(body["total_cost"]) > 0
        [new] = [v for v in api.get("/api/prompts/1/versions").json() if v["id"] not in versions]
        assert new["title"] == body["title"] and new["prompt"] == body["prompt"]
        sync = api.post(REFINE, params={"async": "false"}, json=BODY).json()
        assert (
            sync["refinement_status"] == "Completed" and sync["title"] == "baseline (refined) (2)"
        )
        exported = control.get("/_emulator/export").json()
        assert len(exported["tables"]["refine_job"]) == 2
        control.post("/_emulator/import", json=exported).raise_for_status()
        assert control.get("/_emulator/export").json()["tables"] == exported["tables"]


def test_refine_rules_and_isolation(server: Emulator) -> None:
    with server.client() as api:
        assert_invalid(
            api.post(REFINE, json={}),
            {"project_id": ["This field is required."],
             "teacher_model_name": ["This field is required."],
             "teacher_model_provider_connection_id": ["This field is required."]},
        )  # fmt: skip
        assert_invalid(
            api.post(REFINE, json={**BODY, "project_id": 3}),
            {"project_id": ['Invalid pk "3" - object does not exist.']},
        )
        assert_invalid(api.get(REFINE), {"refinement_job_id": ["This field is required."]})
        assert_error(
            api.get(REFINE, params={"refinement_job_id": "nope"}),
            404,
            "No RefinementJob matches the given query.",
        )
        job = api.post(REFINE, json=BODY).json()["refinement_job_id"]
        assert_error(
            api.get("/api/prompts/1/versions/2/refine", params={"refinement_job_id": job}),
            404,
            "No RefinementJob matches the given query.",
        )
    with server.client(HANK_TOKEN) as hank:
        assert_error(
            hank.get(REFINE, params={"refinement_job_id": job}),
            404,
            "No ModelInterface matches the given query.",
        )
        assert_error(
            hank.post(REFINE, json=BODY), 404, "No ModelInterface matches the given query."
        )


def _choices(result: list[dict[str, Any]]) -> set[str]:
    return {c for region in result for c in region["value"].get("choices", [])}


def _subset_items(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api/projects/1/subset-tasks", params={"page_size": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["task_result_list"]


@pytest.mark.parametrize("outcome", ["true_positive", "false_positive", "false_negative"])
def test_subset_tasks_alignment_of_one_class(
    server: Emulator, runs: dict[str, int], outcome: str
) -> None:
    with server.client() as api:
        items = _subset_items(api, model_run=runs["b"])
        for label in ("Positive", "Negative", "Neutral"):
            expected = set()
            for item in items:
                if "prediction" not in item:
                    continue
                predicted = label in _choices(item["prediction"]["result"])
                true = label in _choices(item["ground_truth"]["result"])
                kind = {(True, True): "true_positive", (True, False): "false_positive",
                        (False, True): "false_negative"}.get((predicted, true))  # fmt: skip
                if kind == outcome:
                    expected.add(item["id"])
            for from_name in ({}, {"alignment_from_name": "sentiment"}):
                found = _subset_items(api, model_run=runs["b"], alignment_outcome=outcome,
                                      alignment_class=label, **from_name)  # fmt: skip
                assert {i["id"] for i in found} == expected, (label, from_name)
            other_control = _subset_items(api, model_run=runs["b"], alignment_outcome=outcome,
                                          alignment_class=label, alignment_from_name="elsewhere")  # fmt: skip
            assert other_control == []


def test_subset_tasks_alignment_all_outcomes_of_a_class_leave_out_unjudged_tasks(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        items = _subset_items(api, model_run=runs["a"])
        involved = {
            i["id"]
            for i in items
            if "prediction" in i
            and "Negative"
            in _choices(i["prediction"]["result"]) | _choices(i["ground_truth"]["result"])
        }
        found = _subset_items(api, model_run=runs["a"], alignment_class="Negative")
        assert {i["id"] for i in found} == involved
        everything = _subset_items(api, model_run=runs["a"], alignment_outcome="all")
        assert {i["id"] for i in everything} == {i["id"] for i in items if "prediction" in i}


def test_subset_tasks_output_class_keeps_predictions_choosing_it(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        items = _subset_items(api, model_run=runs["a"])
        positive = {
            i["id"]
            for i in items
            if "prediction" in i and "Positive" in _choices(i["prediction"]["result"])
        }
        assert positive and positive != {i["id"] for i in items}
        found = _subset_items(api, model_run=runs["a"], output_class="Positive")
        assert {i["id"] for i in found} == positive
        named = _subset_items(api, model_run=runs["a"], output_class="Positive",
                              output_from_name="sentiment")  # fmt: skip
        assert {i["id"] for i in named} == positive
        assert _subset_items(api, model_run=runs["a"], output_class="Positive",
                             output_from_name="elsewhere") == []  # fmt: skip


def test_subset_tasks_prediction_version_ids_keep_tasks_each_version_predicted(
    server: Emulator, runs: dict[str, int]
) -> None:
    with server.client() as api:
        a = {p["task"] for p in predictions_of(api, runs["a"]) + predictions_of(api, runs["all"])}
        b = {p["task"] for p in predictions_of(api, runs["b"])}
        both = _subset_items(api, parent_model=1, prediction_version_ids="1,2")
        assert {i["id"] for i in both} == a & b & ground_truth_tasks(api)
        only_b = _subset_items(api, parent_model=1, prediction_version_ids="2, x")
        assert {i["id"] for i in only_b} == b & ground_truth_tasks(api)


def test_subset_tasks_parameters_are_validated_together(server: Emulator) -> None:
    with server.client() as api:
        response = api.get("/api/projects/1/subset-tasks", params={
            "model_run": "x", "model_version": "1.5", "parent_model": "",
            "alignment_outcome": "maybe", "project_subset": "Some"})  # fmt: skip
    assert_invalid(response, {
        "model_run": ["A valid integer is required."],
        "model_version": ["A valid integer is required."],
        "alignment_outcome": ["Select a valid choice. maybe is not one of the available choices."],
        "project_subset": ["Select a valid choice. Some is not one of the available choices."],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"run_a": "", "run_b": "a"}, {"run_a": ["This field is required."]}),
        ({"run_a": "-1", "run_b": "a"}, {"run_a": ["A valid integer is required."]}),
        ({"run_a": "a", "run_b": "1.0"}, {"run_b": ["A valid integer is required."]}),
        # A field error comes before a run id that cannot name a run.
        ({"run_a": "0", "run_b": "x"}, {"run_b": ["A valid integer is required."]}),
    ],
)
def test_regressions_parameters_that_are_refused(
    server: Emulator, runs: dict[str, int], params: dict[str, str], errors: dict[str, list[str]]
) -> None:
    params = {name: str(runs["a"]) if value == "a" else value for name, value in params.items()}
    with server.client() as api:
        assert_invalid(api.get("/api/inference-runs/regressions/", params=params), errors)


@pytest.mark.parametrize("missing", ["0", "999999"])
def test_regressions_with_a_run_not_found_are_404(
    server: Emulator, runs: dict[str, int], missing: str
) -> None:
    with server.client() as api:
        for params in (
            {"run_a": missing, "run_b": runs["a"]},
            {"run_a": runs["a"], "run_b": missing},
        ):
            assert_error(api.get("/api/inference-runs/regressions/", params=params), 404, NOT_RUN)


def test_re_evaluate_answers_the_runs_it_was_given(server: Emulator, runs: dict[str, int]) -> None:
    with server.client() as api:
        regressed = api.get("/api/inference-runs/regressions/",
                            params={"run_a": runs["a"], "run_b": runs["b"]}).json()  # fmt: skip
        body = {"mode": "regressions", "model_version_id": 2, "source_model_run_id": runs["a"],
                "run_b_id": runs["b"]}  # fmt: skip
        response = api.post("/api/inference-runs/re-evaluate/", json=body)
        assert regressed["regressions"]  # version 2 gets some of version 1's right tasks wrong
        assert response.status_code == 201, response.text
        assert response.json() == {
            **body,
            "task_ids": [i["task_id"] for i in regressed["regressions"]],
        }
        custom = api.post("/api/inference-runs/re-evaluate/",
                          json={"mode": "custom", "model_version_id": 1, "task_ids": [3, 1, 3]})  # fmt: skip
        assert custom.json() == {"mode": "custom", "model_version_id": 1, "task_ids": [3, 1]}
        assert_invalid(
            api.post("/api/inference-runs/re-evaluate/",
                     json={"mode": "custom", "model_version_id": 1, "task_ids": [2, 999998, 999999]}),
            {"task_ids": ['Invalid pk "999998" - object does not exist.']},
        )  # fmt: skip


@pytest.mark.parametrize(("include_total", "shown"),
                         [(None, True), ("true", True), ("FALSE", False), ("0", False), ("no", False)])  # fmt: skip
def test_subset_tasks_wrapper_shows_the_total_unless_asked_not_to(
    server: Emulator, runs: dict[str, int], include_total: str | None, shown: bool
) -> None:
    params: dict[str, Any] = {"model_run": runs["a"], "page_size": 2}
    if include_total is not None:
        params["include_total"] = include_total
    with server.client() as api:
        body = api.get("/api/projects/1/subset-tasks", params=params).json()
        gt = ground_truth_tasks(api)
    [wrapper] = body["results"]
    expected_keys = ["task_result_list", "next_cursor", "previous_cursor"]
    assert list(wrapper) == expected_keys + (["task_count"] if shown else [])
    assert (wrapper["next_cursor"], wrapper["previous_cursor"]) == (None, None)
    assert [i["id"] for i in wrapper["task_result_list"]] == sorted(gt)[:2]
    if shown:
        assert wrapper["task_count"] == len(gt)


@pytest.mark.parametrize("project", [0, 3, 999999])
def test_subset_tasks_of_a_project_out_of_reach_is_404(server: Emulator, project: int) -> None:
    with server.client() as api:
        assert_error(
            api.get(f"/api/projects/{project}/subset-tasks", params={"parent_model": 1}),
            404,
            "No Project matches the given query.",
        )


@pytest.mark.parametrize(("async_", "waited"), [("false", True), ("0", True), (" No ", True),
                                                ("OFF", True), ("true", False), ("", False)])  # fmt: skip
def test_refine_waits_for_the_rewrite_only_when_asked(
    server: Emulator, async_: str, waited: bool
) -> None:
    with server.client() as api:
        previous = next(v for v in api.get("/api/prompts/1/versions").json() if v["id"] == 1)
        job = api.post(REFINE, params={"async": async_}, json=BODY)
        assert job.status_code == 201, job.text
        body = job.json()
        assert list(body) == ["title", "reasoning", "prompt", "refinement_job_id",
                              "refinement_status", "total_cost", "previous_version"]  # fmt: skip
        assert body["previous_version"] == previous
        assert body["refinement_status"] == ("Completed" if waited else "Pending")
        read = api.get(REFINE, params={"refinement_job_id": body["refinement_job_id"]})
        assert read.status_code == (200 if waited else 202)
        # With no queue delay the worker may have taken the job up already; the frozen clock
        # keeps it from ending.
        assert read.json() == body | {"refinement_status": read.json()["refinement_status"]}
        assert read.json()["refinement_status"] in (("Completed",) if waited
                                                    else ("Pending", "InProgress"))  # fmt: skip
        if not waited:
            assert (body["title"], body["reasoning"], body["prompt"], body["total_cost"]) == (
                None, None, "", None)  # fmt: skip
            return
        [new] = [v for v in api.get("/api/prompts/1/versions").json()
                 if v["title"] == body["title"]]  # fmt: skip
        assert body["prompt"] == new["prompt"] and body["title"].startswith("baseline (refined)")
        assert body["reasoning"].startswith("Listed the labels the project accepts (Positive, ")
        assert len(body["total_cost"].split(".")[1]) == 8


# Last: it resets the server under the module's runs.
def test_reset_removes_refinement_jobs(server: Emulator) -> None:
    with server.client() as api, server.client(None) as control:
        api.post(REFINE, params={"async": "false"}, json=BODY).raise_for_status()
        control.post("/_emulator/reset").raise_for_status()
        assert control.get("/_emulator/export").json()["tables"]["refine_job"] == []
        titles = [v["title"] for v in api.get("/api/prompts/1/versions").json()]
        assert titles == ["baseline", "few-shot"]
