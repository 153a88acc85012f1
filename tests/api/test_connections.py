"""Model provider connections: create, list, read, change, delete; secrets never answered."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, TLS, Emulator

from .envelope import assert_error, assert_invalid

BASE = "/api/model-provider-connections/"
SECRET = "sk-test-secret-value-0123456789"
NOT_FOUND = "No ModelProviderConnection matches the given query."
SHOWN = [
    "id", "created_by", "model_params", "provider", "deployment_name", "endpoint", "scope",
    "cached_available_models", "google_project_id", "google_location", "is_internal",
    "budget_limit", "budget_last_reset_date", "budget_reset_period", "budget_total_spent",
    "budget_alert_threshold", "created_at", "updated_at", "organization",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("fresh_state")


@pytest.fixture
def hank(server: Emulator) -> Iterator[httpx.Client]:
    with server.client(HANK_TOKEN) as client:
        yield client


def test_create_stores_secrets_but_never_answers_them(server, api):
    response = api.post(
        BASE,
        json={"provider": "AzureOpenAI", "api_key": SECRET, "deployment_name": "gpt4o",
              "endpoint": "https://example.openai.azure.com", "budget_alert_threshold": "0.8"},
    )  # fmt: skip

    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == SHOWN
    assert body["provider"] == "AzureOpenAI"
    assert body["scope"] == "Organization"
    assert body["deployment_name"] == "gpt4o"
    assert body["budget_alert_threshold"] == 0.8
    assert body["organization"] == 1
    assert body["created_by"]["id"] == 1
    assert SECRET not in response.text
    for answer in (api.get(BASE), api.get(f"{BASE}{body['id']}/")):
        assert SECRET not in answer.text
    with server.client(token=None) as control:
        journal = control.get("/_emulator/requests").text
        export = control.get("/_emulator/export").json()
    assert SECRET not in journal
    row = next(r for r in export["tables"]["model_provider_connection"] if r["id"] == body["id"])
    assert row["api_key"] is None  # no admin token in force: exported masked


def test_validation_reports_every_bad_field(api):
    response = api.post(
        BASE,
        json={"provider": "Mistral", "scope": "Team", "endpoint": "x" * 513,
              "is_internal": "maybe", "budget_alert_threshold": "lots"},
    )  # fmt: skip

    assert_invalid(
        response,
        {
            "provider": ['"Mistral" is not a valid choice.'],
            "scope": ['"Team" is not a valid choice.'],
            "endpoint": ["Ensure this field has no more than 512 characters."],
            "is_internal": ["Must be a valid boolean."],
            "budget_alert_threshold": ["A valid number is required."],
        },
    )
    assert [c["id"] for c in api.get(BASE).json()] == [1]


def test_patch_and_put_change_the_fields_sent(api):
    patched = api.patch(f"{BASE}1/", json={"endpoint": "https://a.test", "api_key": SECRET})
    put = api.put(f"{BASE}1/", json={"scope": "Model"})

    assert patched.status_code == put.status_code == 200
    assert patched.json()["endpoint"] == "https://a.test"
    assert put.json()["endpoint"] == "https://a.test"
    assert put.json()["scope"] == "Model"
    assert SECRET not in patched.text


def test_delete_then_get_is_404(api):
    assert api.delete(f"{BASE}1/").status_code == 204
    assert_error(api.get(f"{BASE}1/"), 404, NOT_FOUND)
    assert api.get(BASE).json() == []


def test_list_orders_both_ways(api):
    new = api.post(BASE, json={"provider": "Anthropic"}).json()["id"]

    def ids(ordering: str) -> list[int]:
        return [c["id"] for c in api.get(BASE, params={"ordering": ordering}).json()]

    assert ids("provider") == [new, 1]
    assert ids("-provider") == [1, new]
    assert ids("-id") == [new, 1]
    assert ids("id") == [1, new]


def test_provider_choices(api):
    assert api.get(BASE + "provider-choices").json() == {
        "provider_choices": [
            "OpenAI", "AzureOpenAI", "AzureAIFoundry", "VertexAI", "Gemini", "Anthropic",
            "Custom",
        ]
    }  # fmt: skip


def test_another_organizations_connection_does_not_exist(api, hank):
    for response in (
        hank.get(f"{BASE}1/"),
        hank.patch(f"{BASE}1/", json={"scope": "User"}),
        hank.put(f"{BASE}1/", json={"scope": "User"}),
        hank.delete(f"{BASE}1/"),
    ):
        assert_error(response, 404, NOT_FOUND)
    assert [c["id"] for c in hank.get(BASE).json()] == [2]
    assert api.get(f"{BASE}1/").json()["scope"] == "Organization"


def test_a_user_scoped_connection_is_its_creators_only(server, api):
    created = api.post(BASE, json={"scope": "User"}).json()
    with server.client(token=None) as control:
        control.post(
            "/_emulator/seed",
            json={"users": [{"id": 9, "username": "eve", "organization": 1, "token": "eve-key"}]},
        ).raise_for_status()
    with server.client("eve-key") as eve:
        assert_error(eve.get(f"{BASE}{created['id']}/"), 404, NOT_FOUND)
        assert [c["id"] for c in eve.get(BASE).json()] == [1]
    assert ADA_TOKEN and api.get(f"{BASE}{created['id']}/").status_code == 200


def test_export_carries_secrets_only_behind_an_admin_token(start_emulator):
    emulator = start_emulator(admin_token="admin-secret")
    admin = {"Authorization": "Token admin-secret"}
    with (
        emulator.client() as api,
        httpx.Client(base_url=emulator.url, headers=admin, verify=TLS) as control,
    ):
        api.post(BASE, json={"api_key": SECRET}).raise_for_status()
        document = control.get("/_emulator/export").json()
        control.post("/_emulator/import", json=document).raise_for_status()
        again = control.get("/_emulator/export").json()
    rows = document["tables"]["model_provider_connection"]
    assert [r["api_key"] for r in rows] == ["sk-demo-acme-not-a-real-key",
                                            "sk-demo-globex-not-a-real-key", SECRET]  # fmt: skip
    assert again["tables"] == document["tables"]


ADA = {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test",
       "username": "ada", "avatar": None}  # fmt: skip
UNSET = dict.fromkeys(
    ["deployment_name", "endpoint", "cached_available_models", "google_project_id",
     "google_location", "budget_limit", "budget_last_reset_date", "budget_reset_period",
     "budget_total_spent", "budget_alert_threshold"]
)  # fmt: skip


def test_the_seeded_connection_and_a_bare_created_one_are_shown_whole(api):
    assert api.get(f"{BASE}1/").json() == {
        "id": 1, "created_by": ADA, "model_params": {}, "provider": "OpenAI",
        "scope": "Organization", "is_internal": False, **UNSET,
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
        "organization": 1,
    }  # fmt: skip
    created = api.post(BASE, json={})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "id": body["id"], "created_by": ADA, "model_params": {}, "provider": "OpenAI",
        "scope": "Organization", "is_internal": False, **UNSET,
        "created_at": body["created_at"], "updated_at": body["created_at"], "organization": 1,
    }  # fmt: skip
    assert api.get(BASE).json() == [api.get(f"{BASE}1/").json(), body]


LIMITS = {"deployment_name": 512, "endpoint": 512, "google_project_id": 255,
          "google_location": 255, "cached_available_models": 4096}  # fmt: skip


def test_each_text_field_is_accepted_up_to_its_limit_blank_or_null(api):
    for field, limit in LIMITS.items():
        at_limit = api.patch(f"{BASE}1/", json={field: "x" * limit})
        assert at_limit.status_code == 200, at_limit.text
        assert at_limit.json()[field] == "x" * limit
        assert_invalid(
            api.patch(f"{BASE}1/", json={field: "x" * (limit + 1)}),
            {field: [f"Ensure this field has no more than {limit} characters."]},
        )
        assert api.patch(f"{BASE}1/", json={field: ""}).json()[field] == ""
        assert api.put(f"{BASE}1/", json={field: None}).json()[field] is None


def test_a_change_is_stamped_and_an_internal_connection_is_hidden(api):
    before = api.get(f"{BASE}1/").json()
    changed = api.patch(f"{BASE}1/", json={"budget_alert_threshold": 2, "provider": "Gemini"})
    assert changed.json() == before | {
        "budget_alert_threshold": 2.0,
        "provider": "Gemini",
        "updated_at": changed.json()["updated_at"],
    }
    assert changed.json()["updated_at"] > before["updated_at"]
    assert api.patch(f"{BASE}1/", json={"is_internal": None}).json()["is_internal"] is None
    assert [c["id"] for c in api.get(BASE).json()] == [1]  # null is not internal
    assert api.patch(f"{BASE}1/", json={"is_internal": True}).status_code == 200
    assert api.get(BASE).json() == []
    assert_error(api.get(f"{BASE}1/"), 404, NOT_FOUND)


def test_a_deleted_connection_is_taken_off_the_versions_that_used_it(api):
    path = "/api/prompts/1/versions/2"
    assert api.patch(path, json={"model_provider_connection": 1}).json()[
        "model_provider_connection"
    ] == 1  # fmt: skip
    assert api.delete(f"{BASE}1/").status_code == 204
    assert api.get(path).json()["model_provider_connection"] is None
    assert_error(api.delete(f"{BASE}1/"), 404, NOT_FOUND)


def test_list_orders_by_scope_and_by_when_made_or_changed(api):
    new = api.post(BASE, json={"scope": "Model"}).json()["id"]
    api.patch(f"{BASE}1/", json={"endpoint": "https://later.test"})

    def ids(ordering: str) -> list[int]:
        return [c["id"] for c in api.get(BASE, params={"ordering": ordering}).json()]

    assert {o: ids(o) for o in ("scope", "-scope", "created_at", "-created_at", "updated_at",
                                "-updated_at")} == {
        "scope": [new, 1], "-scope": [1, new], "created_at": [1, new], "-created_at": [new, 1],
        "updated_at": [new, 1], "-updated_at": [1, new],
    }  # fmt: skip
