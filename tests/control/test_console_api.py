"""The control endpoints the console is built on: workspace, runs, tasks, run-out, events."""

import json

import httpx

from .support import ok

ADA_TOKEN = "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_workspace_lists_every_organization_without_a_secret(control):
    workspace = ok(control.get("/_emulator/workspace"))
    assert [o["title"] for o in workspace["organizations"]] == ["Acme", "Globex"]
    assert workspace["organizations"][0]["users"][0]["token_hint"] == "…e8f9"
    assert ADA_TOKEN not in json.dumps(workspace)
    assert workspace["projects"][0] == {
        "id": 1, "title": "Support tickets", "organization": 1, "tasks": 300, "ground_truth": 90
    }  # fmt: skip
    assert [v["accuracy"] for v in workspace["prompts"][0]["versions"]] == [0.72, 0.91]
    assert [(c["id"], c["organization_id"]) for c in workspace["connections"]] == [(1, 1), (2, 2)]
    assert "sk-demo" not in json.dumps(workspace)
    assert not {"api_key", "auth_token"} & set(workspace["connections"][0])


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
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        with client.stream("GET", "/_emulator/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: hello"
            run = ok(control.post("/_emulator/runs", json={"version": 1, "project": 1}), 201)
            for line in lines:
                if line.startswith("data:") and f'"id":{run["id"]},' in line:
                    break
