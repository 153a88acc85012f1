"""Label Studio's HTTP behaviour: X-Api-Key, HEAD and OPTIONS, the Sample subset, and legacy
tokens off by default for new organizations."""

import httpx
from conftest import ADA_TOKEN, TLS

from .support import RUNS, assert_error, create_run, ok

LEGACY_DISABLED = (
    "Authentication token no longer valid: "
    "legacy token authentication has been disabled for this organization"
)


def test_x_api_key_authenticates_and_supersedes_authorization(emulator, control):
    url = f"{emulator.url}{RUNS}"
    assert httpx.get(url, headers={"X-Api-Key": ADA_TOKEN}, verify=TLS).status_code == 200
    both = {"X-Api-Key": ADA_TOKEN, "Authorization": "Token wrong"}
    assert httpx.get(url, headers=both, verify=TLS).status_code == 200
    bad = httpx.get(
        url, headers={"X-Api-Key": "wrong", "Authorization": f"Token {ADA_TOKEN}"}, verify=TLS
    )
    assert_error(bad, 401, "Invalid token.")


def test_x_api_key_carries_an_access_token(emulator, ada):
    refresh = ok(ada.post("/api/token/"), 201)["token"]
    access = ok(
        httpx.post(f"{emulator.url}/api/token/refresh/", json={"refresh": refresh}, verify=TLS)
    )
    response = httpx.get(
        f"{emulator.url}{RUNS}", headers={"X-Api-Key": access["access"]}, verify=TLS
    )
    assert response.status_code == 200


def test_head_is_get_without_a_body(ada):
    get, head = ada.get(RUNS), ada.head(RUNS)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_needs_authentication(emulator, control):
    assert httpx.head(f"{emulator.url}{RUNS}", verify=TLS).status_code == 401


def test_head_of_a_path_without_get_is_405(ada):
    response = ada.head(f"{RUNS}/1/cancel")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


def test_options_describes_the_view_and_allows_every_method(ada):
    response = ada.options(RUNS)
    assert response.status_code == 200
    assert response.headers["allow"] == "GET, POST, HEAD, OPTIONS"
    body = response.json()
    assert list(body) == ["name", "description", "renders", "parses", "actions"]
    assert body["name"] == "Inference Runs List"
    assert body["renders"] == ["application/json", "text/html"]
    assert body["parses"] == [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    fields = body["actions"]["POST"]
    assert fields["project"]["type"] == "integer"
    assert fields["project"]["required"] is True
    assert fields["project_subset"]["type"] == "choice"
    assert {"value": "HasGT", "display_name": "HasGT"} in fields["project_subset"]["choices"]
    assert fields["project_subset"]["label"] == "Project subset"


def test_options_of_a_read_only_view_has_no_actions(ada):
    response = ada.options("/api/projects/1/subsets")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert "actions" not in response.json()


def test_options_needs_authentication(emulator, control):
    response = httpx.options(f"{emulator.url}{RUNS}", verify=TLS)
    assert_error(response, 401, "Authentication credentials were not provided.")


def test_wrong_method_lists_head_and_options(ada):
    response = ada.delete(RUNS)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, HEAD, OPTIONS"


def test_sample_is_the_first_tasks_by_id(control, ada):
    subsets = ok(ada.get("/api/projects/1/subsets"))
    assert {"subset": "Sample", "count": 20} in subsets
    run = create_run(ada, project_subset="Sample")
    done = ok(control.get(f"/_emulator/runs/{run['id']}/wait", params={"timeout": 20}))
    assert done["total_tasks"] == 20
    tasks = ok(control.get("/_emulator/export"))["tables"]
    first = sorted(t["id"] for t in tasks["task"] if t["project_id"] == 1)[:20]
    predicted = sorted(p["task_id"] for p in tasks["prediction"] if p["run_id"] == run["id"])
    assert predicted == first


def test_a_new_organization_has_legacy_tokens_off_unless_it_says(emulator, control):
    seed = {
        "organizations": [{"id": 3, "title": "Initech"}, {"id": 1, "title": "Acme"}],
        "users": [{"id": 3, "username": "peter", "organization": 3, "token": "peter-token"}],
    }
    ok(control.post("/_emulator/seed", json=seed))
    with emulator.client("peter-token") as peter:
        assert_error(peter.get("/api/projects/1/subsets"), 401, LEGACY_DISABLED)
    # Naming an existing organization without the flag keeps its own.
    with emulator.client() as ada:
        assert ada.get(RUNS).status_code == 200
    ok(control.post("/_emulator/seed", json={"organizations": [
        {"id": 3, "title": "Initech", "legacy_api_tokens_enabled": True}]}))  # fmt: skip
    with emulator.client("peter-token") as peter:
        assert peter.get("/api/projects/4/subsets").status_code == 404
