"""HEAD and OPTIONS as Django and DRF answer them: the methods a path allows (in DRF's Allow
order), the view's metadata (SimpleMetadata) built from the published contract, and the
middleware that serves both on every /api/ path."""

from typing import Any

import httpx
import pytest
from conftest import ADA_TOKEN, TLS

from app.main import create_app
from app.methods import _field_info, capfirst, metadata, path_methods, view_name
from app.openapi import contract

from .envelope import assert_error

RENDERS = ["application/json", "text/html"]
PARSES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
RUNS = "/api/prompts/1/versions/1/inference-runs"


@pytest.fixture(scope="module")
def routes() -> Any:
    """The application's routes, built without starting it (nothing touches a database)."""
    return create_app()


@pytest.mark.parametrize(
    ("path", "template", "methods"),
    [
        (RUNS, "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs",
         ["GET", "POST", "HEAD", "OPTIONS"]),
        ("/api/prompts/1/", "/api/prompts/{id}/",
         ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        (f"{RUNS}/2/cancel",
         "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs/{inference_run_id}/cancel",
         ["POST", "OPTIONS"]),
        ("/api/token/refresh/", "/api/token/refresh/", ["POST", "OPTIONS"]),
        ("/api/no-such-view/", "", []),
    ],
)  # fmt: skip
def test_a_path_allows_its_routes_methods_in_drf_order(routes, path, template, methods):
    # HEAD comes with GET, OPTIONS with any view; a path no view serves allows nothing.
    assert path_methods(routes, path) == (template, methods)


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("/api/prompts/{prompt_id}/versions/{version_id}/inference-runs", "Inference Runs List"),
        ("/api/prompts/{id}/", "Prompts Detail"),
        ("/api/prompts/{prompt_id}/versions/{version_id}", "Versions Detail"),
        ("/api/model-run/batch-predictions", "Batch Predictions List"),
        ("/api/current-user/whoami", "Whoami List"),
        ("/api/some_view/", "Some View List"),
        ("/api/", "Api List"),
        ("/api/{id}", "Api Detail"),
    ],
)
def test_view_names_read_as_label_studio_names_its_views(template, name):
    assert view_name(template) == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ""), ("project subset", "Project subset"), ("x", "X"), ("Id", "Id")],
)
def test_labels_capitalise_only_their_first_letter(text, expected):
    assert capfirst(text) == expected


BASE = {"required": False, "read_only": False, "label": "Field"}


@pytest.mark.parametrize(
    ("schema", "described"),
    [
        ({"type": "integer"}, {"type": "integer"}),
        ({"type": "number"}, {"type": "float"}),
        ({"type": "boolean"}, {"type": "boolean"}),
        ({"type": "array"}, {"type": "list"}),
        ({"type": "string"}, {"type": "string"}),
        ({"type": "object"}, {"type": "json"}),
        ({}, {"type": "field"}),
        ({"type": ["null", "integer"]}, {"type": "integer"}),
        ({"type": ["null"]}, {"type": "field"}),
        ({"type": "string", "format": "date-time"}, {"type": "datetime"}),
        ({"type": "string", "readOnly": True}, {"type": "string", "read_only": True}),
        ({"type": "string", "maxLength": 50, "minLength": 1},
         {"type": "string", "max_length": 50, "min_length": 1}),
        ({"type": "integer", "minimum": 0, "maximum": 10},
         {"type": "integer", "min_value": 0, "max_value": 10}),
        ({"enum": ["a", "b", None]},
         {"type": "choice",
          "choices": [{"value": "a", "display_name": "a"}, {"value": "b", "display_name": "b"}]}),
        ({"enum": [1, 2]},
         {"type": "choice",
          "choices": [{"value": 1, "display_name": "1"}, {"value": 2, "display_name": "2"}]}),
        ({"$ref": "#/components/schemas/ScopeEnum"},
         {"type": "choice", "choices": [{"value": v, "display_name": v}
                                        for v in ("Organization", "User", "Model")]}),
        ({"allOf": [{"$ref": "#/components/schemas/ScopeEnum"}], "description": "Scope"},
         {"type": "choice", "choices": [{"value": v, "display_name": v}
                                        for v in ("Organization", "User", "Model")]}),
    ],
)  # fmt: skip
def test_a_field_is_described_as_simple_metadata_describes_it(schema, described):
    expected = {**BASE, **described}
    info = _field_info("field", schema, required=False)
    assert info == expected
    # DRF's order: type, required, read_only, label, then the limits and the choices.
    order = ["type", "required", "read_only", "label", "max_length", "min_length",
             "min_value", "max_value", "choices"]  # fmt: skip
    assert list(info) == [key for key in order if key in expected]


def test_a_required_field_and_its_label():
    info = _field_info("project_subset", {"type": "string"}, required=True)
    assert info == {
        "type": "string",
        "required": True,
        "read_only": False,
        "label": "Project subset",
    }


def field(kind: str, label: str, required: bool = False, **more: Any) -> dict[str, Any]:
    return {"type": kind, "required": required, "read_only": False, "label": label, **more}


# ModelInterfaceRequest, the body of PUT /api/prompts/{id}/, as the contract declares it.
PROMPT_PUT_FIELDS = {
    "associated_projects": field("list", "Associated projects"),
    "created_by": field("json", "Created by"),
    "description": field("string", "Description"),
    "input_fields": field("field", "Input fields"),
    "organization": field("integer", "Organization"),
    "output_classes": field("field", "Output classes"),
    "skill_name": field(
        "choice",
        "Skill name",
        choices=[
            {"value": "TextClassification", "display_name": "TextClassification"},
            {"value": "NamedEntityRecognition", "display_name": "NamedEntityRecognition"},
        ],
    ),
    "title": field("string", "Title", required=True, max_length=500, min_length=1),
}
PROMPT_METHODS = ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def test_metadata_of_a_public_view_names_it_and_describes_its_post():
    assert metadata("/api/token/refresh/", ["POST", "OPTIONS"]) == {
        "name": "Refresh List",
        "description": "Get a new access token, using a refresh token.",
        "renders": RENDERS,
        "parses": PARSES,
        "actions": {"POST": {"refresh": field("string", "Refresh", required=True, min_length=1)}},
    }


def test_metadata_describes_put_of_a_detail_view_with_every_field_of_its_body():
    body = metadata("/api/prompts/{id}/", PROMPT_METHODS)
    assert list(body) == ["name", "description", "renders", "parses", "actions"]
    assert body["name"] == "Prompts Detail"
    assert body["actions"] == {"PUT": PROMPT_PUT_FIELDS}


def test_metadata_of_a_post_without_a_body_has_an_empty_action():
    template = (
        "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs/{inference_run_id}/cancel"
    )
    assert metadata(template, ["POST", "OPTIONS"]) == {
        "name": "Cancel List",
        "description": contract()["paths"][template]["post"]["description"],
        "renders": RENDERS,
        "parses": PARSES,
        "actions": {"POST": {}},
    }


def test_metadata_has_no_action_for_a_method_the_path_does_not_allow():
    body = metadata("/api/prompts/{id}/", ["GET", "DELETE", "HEAD", "OPTIONS"])
    assert "actions" not in body


def test_metadata_of_a_view_the_contract_does_not_publish_has_no_description():
    assert metadata("/api/no-such-view/", ["GET", "HEAD", "OPTIONS"]) == {
        "name": "No Such View List",
        "description": "",
        "renders": RENDERS,
        "parses": PARSES,
    }


def test_options_of_a_public_view_needs_no_token(server):
    response = httpx.options(f"{server.url}/api/token/refresh/", verify=TLS)
    assert response.status_code == 200
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.json()["actions"]["POST"] == {
        "refresh": field("string", "Refresh", required=True, min_length=1)
    }


def test_options_with_a_wrong_token_is_refused_as_any_request(server):
    response = httpx.options(
        f"{server.url}{RUNS}", headers={"Authorization": "Token wrong"}, verify=TLS
    )
    assert_error(response, 401, "Invalid token.")
    assert response.headers["www-authenticate"] == "Token"
    assert "allow" not in response.headers


def test_options_of_a_detail_view_describes_its_put(server):
    response = httpx.options(
        f"{server.url}/api/prompts/1/", headers={"Authorization": f"Token {ADA_TOKEN}"}, verify=TLS
    )
    assert response.status_code == 200
    assert response.headers["allow"] == ", ".join(PROMPT_METHODS)
    assert response.json()["actions"] == {"PUT": PROMPT_PUT_FIELDS}


def test_options_of_a_path_no_view_serves_is_not_found(server):
    response = httpx.options(
        f"{server.url}/api/no-such-view/",
        headers={"Authorization": f"Token {ADA_TOKEN}"},
        verify=TLS,
    )
    assert_error(response, 404, "Not found.")


def test_head_answers_the_headers_get_would_with_an_empty_body(server):
    headers = {"Authorization": f"Token {ADA_TOKEN}"}
    get = httpx.get(f"{server.url}/api/prompts/1/", headers=headers, verify=TLS)
    head = httpx.head(f"{server.url}/api/prompts/1/", headers=headers, verify=TLS)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"


def test_options_is_journaled_with_the_user_it_authenticated(server):
    version = "/api/prompts/1/versions/1"
    response = httpx.options(
        f"{server.url}{version}", headers={"Authorization": f"Token {ADA_TOKEN}"}, verify=TLS
    )
    assert response.status_code == 200
    journal = httpx.get(
        f"{server.url}/_emulator/requests",
        params={"method": "options", "path": version},
        verify=TLS,
    ).json()
    newest = journal[0]
    del newest["time"]
    assert newest == {"method": "OPTIONS", "path": version, "status": 200, "user_id": 1,
                      "run_id": None, "fault": None}  # fmt: skip
