"""The error envelope and the status codes Label Studio answers (BEHAVIOUR.md section 1)."""

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from conftest import HANK_TOKEN, TLS

from .envelope import ENVELOPE_KEYS, assert_error, assert_invalid

RUNS = "/api/prompts/1/versions/1/inference-runs"
NOT_PROVIDED = "Authentication credentials were not provided."


@pytest.fixture
def hank(server) -> Iterator[httpx.Client]:
    """A client of the shared emulator authenticated as Hank (organization 2)."""
    with server.client(HANK_TOKEN) as client:
        yield client


def create_run(api: httpx.Client) -> dict:
    response = api.post(RUNS, json={"project": 1})
    assert response.status_code == 201, response.text
    return response.json()


# --- the envelope -------------------------------------------------------------------------


def test_error_envelope_keys_are_in_label_studio_order(server):
    response = httpx.get(server.url + RUNS, verify=TLS)

    assert list(json.loads(response.text)) == ENVELOPE_KEYS
    assert_error(response, 401, NOT_PROVIDED)


def test_validation_error_envelope_ends_with_validation_errors(api):
    response = api.post(RUNS, json={})

    assert list(json.loads(response.text)) == ENVELOPE_KEYS + ["validation_errors"]
    assert_invalid(response, {"project": ["This field is required."]})


def test_every_error_has_a_fresh_uuid4_id(api):
    ids = [api.post(RUNS, json={}).json()["id"] for _ in range(3)]

    assert len(set(ids)) == 3
    for value in ids:
        assert str(uuid.UUID(value)) == value
        assert uuid.UUID(value).version == 4


def test_validation_failure_is_400_never_422(api):
    response = api.post(RUNS, json={"project": "abc", "total_tasks": "x"})

    assert response.status_code == 400
    assert_invalid(
        response,
        {
            "project": ["Incorrect type. Expected pk value, received str."],
            "total_tasks": ["A valid integer is required."],
        },
    )


def test_success_responses_are_json_too(api):
    response = api.get(RUNS)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


# --- bodies that are not a JSON object ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [([{"project": 1}], "list"), ("project", "str"), (1, "int"), (1.5, "float"), (True, "bool")],
)
def test_json_body_that_is_not_an_object_is_rejected_with_its_type(api, body, kind):
    response = api.post(RUNS, json=body)

    assert_invalid(
        response, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    )


def test_json_null_body_is_no_data_provided(api):
    response = api.post(RUNS, content=b"null", headers={"Content-Type": "application/json"})

    assert_invalid(response, {"non_field_errors": ["No data provided"]})


@pytest.mark.parametrize(
    "body",
    ['{"project": }', '{"project": 1,}', "{'project': 1}", "project=1", '{"project": 1} x'],
)
def test_body_that_is_not_json_is_a_parse_error(api, body):
    with pytest.raises(json.JSONDecodeError) as parse_error:
        json.loads(body)

    response = api.post(RUNS, content=body, headers={"Content-Type": "application/json"})

    assert_error(response, 400, f"JSON parse error - {parse_error.value}")


# --- media types ----------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["text/plain", "application/xml"])
def test_unsupported_media_type_is_415(api, media_type):
    response = api.post(RUNS, content=b'{"project": 1}', headers={"Content-Type": media_type})

    assert_error(response, 415, f'Unsupported media type "{media_type}" in request.')


def test_form_urlencoded_body_is_accepted(api):
    response = api.post(RUNS, data={"project": "2", "project_subset": "All", "job_id": "form"})

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    run = response.json()
    assert (run["project"], run["project_subset"], run["job_id"]) == (2, "All", "form")


def test_multipart_body_is_accepted(api):
    fields = {"project": (None, "2"), "project_subset": (None, "Sample"), "job_id": (None, "mp")}
    response = api.post(RUNS, files=fields)

    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["project"], run["project_subset"], run["job_id"]) == (2, "Sample", "mp")


def test_form_body_is_validated_with_the_same_messages(api):
    response = api.post(RUNS, data={"project": "abc", "project_subset": "Foo"})

    assert_invalid(
        response,
        {
            "project": ["Incorrect type. Expected pk value, received str."],
            "project_subset": ['"Foo" is not a valid choice.'],
        },
    )


# --- wrong method ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", RUNS, {"GET", "POST"}),
        ("PUT", RUNS, {"GET", "POST"}),
        ("GET", RUNS + "/1/cancel", {"POST"}),
        ("DELETE", "/api/projects/1/subsets", {"GET"}),
    ],
)
def test_wrong_method_on_a_known_route_is_405_with_allow(api, method, path, allowed):
    response = api.request(method, path)

    assert_error(response, 405, f'Method "{method}" not allowed.')
    listed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
    assert allowed <= listed
    assert method not in listed


def test_wrong_method_without_credentials_is_401_first(server):
    response = httpx.delete(server.url + RUNS, verify=TLS)

    assert_error(response, 401, NOT_PROVIDED)
    assert response.headers["www-authenticate"] == "Token"


# --- missing objects ------------------------------------------------------------------------


def test_unknown_project_subsets_is_404(api):
    assert_error(api.get("/api/projects/999/subsets"), 404, "No Project matches the given query.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/prompts/999/versions/1/inference-runs"),
        ("POST", "/api/prompts/999/versions/1/inference-runs"),
        ("POST", "/api/prompts/999/versions/1/inference-runs/1/cancel"),
    ],
)
def test_unknown_prompt_is_404(api, method, path):
    response = api.request(method, path, json={"project": 1})

    assert_error(response, 404, "No ModelInterface matches the given query.")


@pytest.mark.parametrize("version", [999, 3], ids=["unknown", "of-another-prompt"])
@pytest.mark.parametrize("action", ["list", "create", "cancel"])
def test_unknown_version_or_version_of_another_prompt_is_404(api, version, action):
    path = f"/api/prompts/1/versions/{version}/inference-runs"
    if action == "list":
        response = api.get(path)
    elif action == "create":
        response = api.post(path, json={"project": 1})
    else:
        response = api.post(path + "/1/cancel")

    assert_error(response, 404, "No ThirdPartyModelVersion matches the given query.")


def test_runs_are_not_listed_once_their_prompt_is_of_another_organization(api, server, fresh_state):
    # The run keeps its prompt, version and organization: the list would find it if it did
    # not check the prompt as it is now.
    create_run(api)
    moved = {"id": 1, "title": "Ticket sentiment", "organization": 2}
    with server.client(None) as control:
        control.post("/_emulator/seed", json={"prompts": [moved]}).raise_for_status()

    assert_error(api.get(RUNS), 404, "No ModelInterface matches the given query.")


def test_cancel_of_unknown_run_is_404(api):
    response = api.post(RUNS + "/999999/cancel")

    assert_error(response, 404, "No ModelRun matches the given query.")


def test_cancel_of_a_run_through_another_version_is_404(api):
    run = create_run(api)

    response = api.post(f"/api/prompts/1/versions/2/inference-runs/{run['id']}/cancel")

    assert_error(response, 404, "No ModelRun matches the given query.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/prompts/abc/versions/1/inference-runs"),
        ("POST", "/api/prompts/1/versions/x/inference-runs"),
        ("POST", RUNS + "/x/cancel"),
        ("POST", RUNS + "/1.5/cancel"),
        ("GET", "/api/projects/abc/subsets"),
    ],
)
def test_non_integer_path_segment_is_404(api, method, path):
    response = api.request(method, path, json={"project": 1})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == ENVELOPE_KEYS


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_runs_path_with_trailing_slash_is_404(api, method):
    before = len(api.get(RUNS).json())

    response = api.request(method, RUNS + "/", json={"project": 1})

    assert response.status_code == 404
    assert list(response.json()) == ENVELOPE_KEYS
    assert len(api.get(RUNS).json()) == before


# --- organizations are isolated -------------------------------------------------------------


def test_other_organization_cannot_list_runs_of_a_prompt(hank):
    assert_error(hank.get(RUNS), 404, "No ModelInterface matches the given query.")


def test_other_organization_cannot_create_runs_on_a_prompt(api, hank):
    before = len(api.get(RUNS).json())

    response = hank.post(RUNS, json={"project": 3})

    assert_error(response, 404, "No ModelInterface matches the given query.")
    assert len(api.get(RUNS).json()) == before


def test_other_organization_cannot_cancel_a_run(api, hank):
    run = create_run(api)

    through_prompt = hank.post(f"{RUNS}/{run['id']}/cancel")
    through_own_prompt = hank.post(f"/api/prompts/2/versions/3/inference-runs/{run['id']}/cancel")

    assert_error(through_prompt, 404, "No ModelInterface matches the given query.")
    assert_error(through_own_prompt, 404, "No ModelRun matches the given query.")
    (after,) = [r for r in api.get(RUNS).json() if r["id"] == run["id"]]
    assert after["status"] != "Canceled"


def test_other_organization_runs_are_not_listed(api, hank):
    create_run(api)

    listed = hank.get(RUNS)

    assert_error(listed, 404, "No ModelInterface matches the given query.")


def test_other_organization_cannot_see_project_subsets(hank):
    response = hank.get("/api/projects/1/subsets")

    assert_error(response, 404, "No Project matches the given query.")


def test_project_of_another_organization_is_an_invalid_pk(api):
    response = api.post(RUNS, json={"project": 3})

    assert_invalid(response, {"project": ['Invalid pk "3" - object does not exist.']})


HUGE = 2**70  # parses as an integer, but no database column holds it
BEYOND_INT32 = 2**40  # fits SQLite's integers, not PostgreSQL's id columns


@pytest.mark.parametrize("big", [HUGE, BEYOND_INT32], ids=["2**70", "2**40"])
@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("GET", "/api/prompts/{big}/versions/1/inference-runs", "ModelInterface"),
        ("POST", "/api/prompts/1/versions/{big}/inference-runs", "ThirdPartyModelVersion"),
        ("POST", "/api/prompts/1/versions/1/inference-runs/{big}/cancel", "ModelRun"),
        ("GET", "/api/projects/{big}/subsets", "Project"),
    ],
    ids=["prompt", "version", "run", "project"],
)
def test_ids_too_large_for_any_row_are_404_not_500(api, method, path, model, big):
    response = api.request(method, path.format(big=big), json={"project": 1})

    assert_error(response, 404, f"No {model} matches the given query.")


@pytest.mark.parametrize("big", [HUGE, BEYOND_INT32], ids=["2**70", "2**40"])
@pytest.mark.parametrize("parameter", ["project", "parent_model"])
def test_list_filter_by_an_id_no_row_can_have_is_empty_not_500(api, parameter, big):
    response = api.get(RUNS, params={parameter: big})

    assert (response.status_code, response.json()) == (200, [])
