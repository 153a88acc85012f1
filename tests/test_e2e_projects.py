"""End to end with the official SDK: model provider connections, projects, the current user,
the server version and personal access tokens, against a real server process."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import ADA_TOKEN, FAST, HANK_TOKEN, TLS, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="label" toName="text"><Choice value="Spam"/><Choice value="Ham"/></Choices>'
    "</View>"
)


@pytest.fixture(autouse=True)
def fresh(server: Emulator) -> Iterator[None]:
    yield
    httpx.post(server.url + "/_emulator/reset", verify=TLS).raise_for_status()


def sdk(server: Emulator, api_key: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=server.url, api_key=api_key)


def refused(call, status: int) -> dict:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    return caught.value.body


def test_model_provider_connections(server):
    client = sdk(server)

    created = client.model_providers.create(
        provider="Anthropic", api_key="sk-never-shown", budget_alert_threshold=0.5
    )
    assert created.provider == "Anthropic"
    assert created.organization == 1
    assert created.created_by.id == 1
    assert [c.id for c in client.model_providers.list()] == [1, created.id]
    assert client.model_providers.get(created.id).budget_alert_threshold == 0.5
    updated = client.model_providers.update(created.id, endpoint="https://llm.test")
    assert updated.endpoint == "https://llm.test"
    assert client.model_providers.list_model_provider_choices().provider_choices == [
        "OpenAI", "AzureOpenAI", "AzureAIFoundry", "VertexAI", "Gemini", "Anthropic", "Custom",
    ]  # fmt: skip
    client.model_providers.delete(created.id)
    body = refused(lambda: client.model_providers.get(created.id), 404)
    assert body["detail"] == "No ModelProviderConnection matches the given query."
    body = refused(lambda: client.model_providers.create(provider="Mistral"), 400)
    assert body["validation_errors"] == {"provider": ['"Mistral" is not a valid choice.']}
    refused(lambda: sdk(server, HANK_TOKEN).model_providers.get(1), 404)


def test_projects(server):
    client = sdk(server)

    created = client.projects.create(title="Spam filter", label_config=CONFIG)
    assert created.title == "Spam filter"
    assert created.task_number == 0
    assert created.parsed_label_config["label"]["labels"] == ["Spam", "Ham"]
    fetched = client.projects.get(created.id)
    assert fetched.label_config == CONFIG
    assert fetched.created_by.username == "ada"
    updated = client.projects.update(created.id, description="Inbox", maximum_annotations=2)
    assert (updated.description, updated.maximum_annotations) == ("Inbox", 2)
    listed = list(client.projects.list(ordering="id", page_size=2))
    assert [p.id for p in listed] == [1, 2, created.id]
    assert listed[0].task_number == 300 and listed[0].ground_truth_number == 90
    client.projects.delete(created.id)
    body = refused(lambda: client.projects.get(created.id), 404)
    assert body["detail"] == "No Project matches the given query."
    body = refused(lambda: client.projects.create(title="Bad", label_config="<View>"), 400)
    assert body["validation_errors"] == {"label_config": ["no element found: line 1, column 6"]}
    refused(lambda: sdk(server, HANK_TOKEN).projects.get(1), 404)


def test_whoami_and_version(server):
    client = sdk(server)

    me = client.users.whoami()
    assert (me.id, me.username, me.email, me.active_organization) == (
        1, "ada", "ada@acme.test", 1,
    )  # fmt: skip
    assert me.initials == "AL"
    assert client.versions.get().release == "1.23.2"
    body = refused(lambda: sdk(server, "wrong-key").users.whoami(), 401)
    assert body["detail"] == "Invalid token."


def test_tokens_list_blacklist_rotate(start_emulator):
    emulator = start_emulator(**FAST)
    client = sdk(emulator)

    token = client.tokens.create().token
    listed = client.tokens.list()
    assert [t.token for t in listed] == [".".join(token.split(".")[:2])]
    rotated = client.tokens.rotate(refresh=token).refresh
    assert rotated != token
    personal = sdk(emulator, rotated)
    assert personal.users.whoami().id == 1
    body = refused(lambda: client.tokens.rotate(refresh=token), 400)
    assert body["detail"] == "Token is invalid or already blacklisted."
    assert client.tokens.blacklist(refresh=rotated) is None
    body = refused(lambda: client.tokens.blacklist(refresh=rotated), 404)
    assert body["detail"] == "Token is invalid or already blacklisted."
    assert client.tokens.list() == []
    assert client.tokens.create().token not in (token, rotated)
