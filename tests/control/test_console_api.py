"""The control endpoints the console is built on: workspace, runs, tasks, run-out, events."""

import json

import httpx
import pytest
from conftest import TLS

from app.seed import sample_ticket
from app.workspace.overview import mask

from .support import assert_invalid, export, ok

ADA_TOKEN = "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_workspace_lists_every_organization_without_a_secret(control):
    workspace = ok(control.get("/_emulator/workspace"))
    assert ADA_TOKEN not in json.dumps(workspace)
    assert "sk-demo" not in json.dumps(workspace)
    # The demo seed (app/demo_seed.yaml), with a token's last four characters as its hint.
    assert {k: v for k, v in workspace.items() if k != "connections"} == {
        "organizations": [
            {"id": 1, "title": "Acme", "legacy_api_tokens_enabled": True, "users": [
                {"id": 1, "email": "ada@acme.test", "username": "ada", "first_name": "Ada",
                 "last_name": "Lovelace", "token_hint": "…e8f9"}]},
            {"id": 2, "title": "Globex", "legacy_api_tokens_enabled": True, "users": [
                {"id": 2, "email": "hank@globex.test", "username": "hank", "first_name": "Hank",
                 "last_name": "Scorpio", "token_hint": "…1b0a"}]},
        ],
        "projects": [
            {"id": 1, "title": "Support tickets", "organization": 1, "tasks": 300, "ground_truth": 90},
            {"id": 2, "title": "Escalated tickets", "organization": 1, "tasks": 120, "ground_truth": 40},
            {"id": 3, "title": "Invoices", "organization": 2, "tasks": 50, "ground_truth": 20},
        ],
        "prompts": [
            {"id": 1, "title": "Ticket sentiment", "organization": 1, "associated_projects": [1, 2],
             "versions": [
                 {"id": 1, "title": "baseline", "prompt": "Classify the sentiment of this ticket: {text}",
                  "provider": "OpenAI", "provider_model_id": "gpt-4o-mini", "accuracy": 0.72,
                  "failure_rate": 0.0},
                 {"id": 2, "title": "few-shot",
                  "prompt": "You label support tickets. Examples: ... Ticket: {text}",
                  "provider": "OpenAI", "provider_model_id": "gpt-4o", "accuracy": 0.91,
                  "failure_rate": 0.02}]},
            {"id": 2, "title": "Invoice fields", "organization": 2, "associated_projects": [3],
             "versions": [
                 {"id": 3, "title": "v1", "prompt": "Extract the total from {text}",
                  "provider": "OpenAI", "provider_model_id": "gpt-4o-mini", "accuracy": 0.85,
                  "failure_rate": 0.0}]},
        ],
    }  # fmt: skip
    # Every column of a connection but its secrets (api_key, auth_token, credentials).
    no_settings = dict.fromkeys(
        ["deployment_name", "endpoint", "google_project_id", "google_location",
         "cached_available_models", "budget_alert_threshold", "budget_limit",
         "budget_reset_period", "budget_total_spent", "budget_last_reset_date"]
    )  # fmt: skip
    assert workspace["connections"] == [
        {"id": org, "organization_id": org, "created_by_id": org, "provider": "OpenAI",
         "scope": "Organization", "is_internal": False, "created_at": "2025-01-01T00:00:00Z",
         "updated_at": "2025-01-01T00:00:00Z", **no_settings}
        for org in (1, 2)
    ]  # fmt: skip


def test_workspace_shows_empty_organizations_projects_and_prompts_and_hints_long_tokens_only(
    control,
):
    ok(control.post("/_emulator/seed", json={
        "organizations": [{"id": 3, "title": "Initech"}],
        "users": [{"id": 3, "username": "bob", "organization": 1, "token": "twelve-chars"},
                  {"id": 4, "username": "tom", "organization": 1, "token": "thirteen-char"}],
        "projects": [{"id": 4, "title": "Empty", "organization": 3}],
        "prompts": [{"id": 3, "title": "Bare", "organization": 3}],
    }))  # fmt: skip
    workspace = ok(control.get("/_emulator/workspace"))
    assert [u["token_hint"] for u in workspace["organizations"][0]["users"]] == [
        "…e8f9", "…", "…char"
    ]  # fmt: skip
    assert workspace["organizations"][2] == {
        "id": 3, "title": "Initech", "legacy_api_tokens_enabled": False, "users": []
    }  # fmt: skip
    assert workspace["projects"][3] == {
        "id": 4, "title": "Empty", "organization": 3, "tasks": 0, "ground_truth": 0
    }  # fmt: skip
    assert workspace["prompts"][2] == {
        "id": 3, "title": "Bare", "organization": 3, "associated_projects": [], "versions": []
    }  # fmt: skip


def test_a_run_started_on_the_control_plane_is_listed_by_the_api(control, ada):
    run = ok(control.post("/_emulator/runs", json={"version": 2, "project": 1}), 201)
    assert (run["created_by"]["id"], run["status"], run["project_subset"]) == (
        1,
        "Pending",
        "HasGT",
    )
    listed = ok(ada.get("/api/prompts/1/versions/2/inference-runs"))
    assert [r["id"] for r in listed] == [run["id"]]
    assert [r["id"] for r in ok(control.get("/_emulator/runs", params={"version": 2}))] == [
        run["id"]
    ]
    assert ok(control.get("/_emulator/runs", params={"status": "Completed"})) == []


def test_starting_a_run_reports_every_bad_reference_at_once(control):
    response = control.post("/_emulator/runs", json={"version": 3, "project": 1, "user": 1})
    assert response.status_code == 400
    assert response.json()["validation_errors"] == {
        "project": ["The project belongs to another organization than the prompt."],
        "user": ["The user belongs to another organization than the prompt."],
    }
    response = control.post("/_emulator/runs", json={"version": 99, "project": 1})
    assert response.json()["validation_errors"] == {
        "version": ['Invalid pk "99" - object does not exist.']
    }
    assert ok(control.get("/_emulator/runs")) == []


def test_run_out_ends_every_run_and_tasks_show_the_predictions(control):
    run = ok(control.post("/_emulator/runs", json={"version": 1, "project": 2}), 201)
    ended = ok(control.post("/_emulator/clock/run-out"))
    assert [(r["id"], r["status"]) for r in ended["runs"]] == [(run["id"], "Completed")]
    tasks = ok(control.get(f"/_emulator/runs/{run['id']}/tasks", params={"limit": 5}))
    assert tasks["count"] == 40 and len(tasks["tasks"]) == 5
    assert {t["state"] for t in tasks["tasks"]} == {"predicted"}
    assert all(t["ground_truth"] and t["correct"] in (True, False) for t in tasks["tasks"])
    listed = ok(control.get("/_emulator/runs"))[0]
    assert listed["judged_predictions"] == 40 and listed["total_failed"] == 0


def test_events_stream_pushes_a_new_run(emulator, control):
    assert ok(control.post("/_emulator/events/ticket")) == {"ticket": "", "expires_in": 60}
    with httpx.Client(base_url=emulator.url, timeout=10, verify=TLS) as client:
        with client.stream("GET", "/_emulator/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: hello"
            run = ok(control.post("/_emulator/runs", json={"version": 1, "project": 1}), 201)
            for line in lines:
                if line.startswith("data:") and f'"id":{run["id"]},' in line:
                    break


def test_runs_are_listed_newest_first_and_filtered_by_project_prompt_version_and_status(
    control, frozen_clock
):
    first = ok(control.post("/_emulator/runs", json={"version": 1, "project": 1}), 201)["id"]
    second = ok(control.post("/_emulator/runs", json={"version": 2, "project": 2}), 201)["id"]
    third = ok(control.post("/_emulator/runs", json={"version": 3, "project": 3}), 201)["id"]

    def listed(**params) -> list[int]:
        return [r["id"] for r in ok(control.get("/_emulator/runs", params=params))]

    assert listed() == [third, second, first]
    assert listed(project=2) == [second]
    assert listed(prompt=1) == [second, first]
    assert listed(version=3) == [third]
    assert listed(prompt=1, version=1) == [first]
    assert listed(status="Completed,Pending") == [third, second, first]
    assert listed(status="Completed") == []
    assert listed(limit=2) == [third, second]
    assert listed(limit=1) == [third]


def test_a_run_over_all_tasks_judges_only_those_with_ground_truth(control):
    run = ok(control.post("/_emulator/runs", json={
        "version": 1, "project": 2, "project_subset": "All"}), 201)  # fmt: skip
    assert (run["project_subset"], run["outcome"], run["judged_predictions"]) == ("All", None, 0)
    ok(control.post("/_emulator/clock/run-out"))
    (listed,) = ok(control.get("/_emulator/runs"))
    # Project 2: 120 tasks, 40 with ground truth.
    assert (listed["total_predictions"], listed["judged_predictions"]) == (120, 40)
    tasks = ok(control.get(f"/_emulator/runs/{run['id']}/tasks", params={"limit": 120}))
    assert [t["id"] for t in tasks["tasks"]] == list(range(301, 421))
    assert [t["ground_truth"] for t in tasks["tasks"]].count(True) == 40
    for task in tasks["tasks"]:
        assert (task["correct"] is None) == (not task["ground_truth"])
        assert task["data"] == {
            "text": sample_ticket(task["id"] - 300)[0],
            "ticket": task["id"] - 300,
        }


def test_run_tasks_show_failures_with_their_error_and_tasks_still_to_predict(control, frozen_clock):
    # Half of the predictions fail; 5 s in Pending, then 10 tasks a second.
    ok(
        control.put(
            "/_emulator/policy",
            json={"queue_delay_seconds": 5, "tasks_per_second": 10, "batch_size": 10},
        )
    )
    ok(control.post("/_emulator/seed", json={"prompts": [{
        "id": 1, "title": "Ticket sentiment", "organization": 1,
        "versions": [{"id": 9, "title": "flaky", "failure_rate": 0.5}]}]}))  # fmt: skip
    run = ok(control.post("/_emulator/runs", json={
        "version": 9, "project": 2, "project_subset": "Sample", "sample_subset_size": 30,
        "outcome": "Completed"}), 201)  # fmt: skip
    assert (run["sample_subset_size"], run["outcome"]) == (30, "Completed")
    ok(control.post("/_emulator/clock", json={"advance_seconds": 6}))

    tasks = ok(control.get(f"/_emulator/runs/{run['id']}/tasks"))
    assert tasks["run"] == run["id"] and tasks["count"] == 30
    assert [t["id"] for t in tasks["tasks"]] == sorted(t["id"] for t in tasks["tasks"])
    by_state: dict[str, list[dict]] = {}
    for task in tasks["tasks"]:
        by_state.setdefault(task["state"], []).append(task)
    assert len(by_state["pending"]) == 20
    assert len(by_state["predicted"]) + len(by_state["failed"]) == 10
    failures = export(control)["tables"]["failed_prediction"]
    errors = {f["task_id"]: f"{f['error_type']}: {f['message']}" for f in failures}
    for task in by_state["failed"]:
        assert set(task) == {"id", "ground_truth", "data", "state", "correct", "error"}
        assert (task["correct"], task["error"]) == (None, errors[task["id"]])
    for task in by_state["pending"]:
        assert set(task) == {"id", "ground_truth", "data", "state", "correct"}
        assert task["correct"] is None
    for task in by_state["predicted"]:
        assert set(task) == {"id", "ground_truth", "data", "state", "correct", "result"}
    (listed,) = ok(control.get("/_emulator/runs"))
    assert listed["total_failed"] == len(by_state["failed"]) > 0
    assert ok(control.get(f"/_emulator/runs/{run['id']}/tasks", params={"limit": 3}))["count"] == 30


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"version": 1, "project": 99, "user": 99},
         {"project": ['Invalid pk "99" - object does not exist.'],
          "user": ['Invalid pk "99" - object does not exist.']}),
        ({"version": 99, "project": 3, "user": 2},
         {"version": ['Invalid pk "99" - object does not exist.']}),
    ],
)  # fmt: skip
def test_starting_a_run_names_each_missing_object(control, body, errors):
    assert_invalid(control.post("/_emulator/runs", json=body), errors)


def test_a_run_is_started_as_the_user_named_or_the_organizations_first(control):
    ok(control.post("/_emulator/seed", json={
        "users": [{"id": 5, "username": "eve", "organization": 1, "token": "acme-eve-token"}],
        "organizations": [{"id": 3, "title": "Initech"}],
        "projects": [{"id": 4, "title": "Lonely", "organization": 3, "tasks": 2}],
        "prompts": [{"id": 3, "title": "Nobody", "organization": 3,
                     "versions": [{"id": 4, "title": "v"}]}]}))  # fmt: skip
    run = ok(control.post("/_emulator/runs", json={"version": 1, "project": 1, "user": 5}), 201)
    assert run["created_by"]["id"] == 5
    assert (
        ok(control.post("/_emulator/runs", json={"version": 1, "project": 1}), 201)["created_by"][
            "id"
        ]
        == 1
    )
    assert_invalid(
        control.post("/_emulator/runs", json={"version": 4, "project": 4}),
        {"user": ["The prompt's organization has no user to start the run as."]},
    )


def test_a_token_is_hinted_by_its_last_four_characters_once_longer_than_twelve():
    assert [mask("x" * 12), mask("x" * 12 + "abcd"), mask("abcdefghijklm")] == [
        "…", "…abcd", "…jklm"
    ]  # fmt: skip
