"""End to end with the official client: prompts, versions, few-shot examples and compatible
projects through label-studio-sdk against a real emulator process (both backends)."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ADA_TOKEN, HANK_TOKEN, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from app.seed import sample_ticket

ENVELOPE_KEYS = ["id", "status_code", "version", "detail", "exc_info"]


def sdk(emulator: Emulator, api_key: str = ADA_TOKEN) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=api_key, timeout=30)


def refused(call: Any, status_code: int, detail: str, errors: dict | None = None) -> None:
    """The call raises ApiError with this status and Label Studio's envelope."""
    with pytest.raises(ApiError) as caught:
        call()
    error = caught.value
    assert error.status_code == status_code
    body = error.body
    assert list(body) == ENVELOPE_KEYS + (["validation_errors"] if errors is not None else [])
    assert body["detail"] == detail
    if errors is not None:
        assert body["validation_errors"] == errors


@pytest.fixture
def client(server: Emulator) -> LabelStudio:
    return sdk(server)


@pytest.fixture
def made(client: LabelStudio) -> Iterator[Any]:
    """A prompt of Ada's organization, deleted afterwards."""
    prompt = client.prompts.create(
        title=f"E2E {uuid.uuid4().hex[:8]}",
        description="made by the SDK",
        input_fields=["text"],
        output_classes=["positive", "negative"],
        associated_projects=[1],
        skill_name="TextClassification",
    )
    yield prompt
    try:
        client.prompts.delete(id=prompt.id)
    except ApiError:
        pass


def test_prompt_create_get_update_list_delete(client, made):
    assert made.title.startswith("E2E ")
    assert (made.description, made.input_fields, made.output_classes) == (
        "made by the SDK",
        ["text"],
        ["positive", "negative"],
    )
    assert (made.skill_name, made.organization, made.associated_projects) == (
        "TextClassification",
        1,
        [1],
    )
    assert made.created_by.username == "ada" and made.created_at == made.updated_at

    got = client.prompts.get(id=made.id)
    assert [(p.id, p.title) for p in got.associated_projects] == [(1, "Support tickets")]
    assert (got.versions_count, got.runs_count, got.best_score) == (0, 0, None)

    updated = client.prompts.update(id=made.id, title="Renamed", associated_projects=[1, 2])
    assert (updated.title, updated.associated_projects) == ("Renamed", [1, 2])
    assert updated.updated_at >= made.updated_at

    listed = client.prompts.list(search="Renamed", ordering="-id", page_size=100)
    assert made.id in [p.id for p in listed.results]
    assert listed.count >= 1 and listed.previous is None

    client.prompts.delete(id=made.id)
    refused(
        lambda: client.prompts.get(id=made.id), 404, "No ModelInterface matches the given query."
    )


def test_prompt_refusals(client, server, made):
    refused(
        lambda: client.prompts.create(title="", associated_projects=[3]),
        400,
        "Validation error",
        {
            "title": ["This field may not be blank."],
            "associated_projects": ['Invalid pk "3" - object does not exist.'],
        },
    )
    hank = sdk(server, HANK_TOKEN)
    missing = "No ModelInterface matches the given query."
    refused(lambda: hank.prompts.get(id=made.id), 404, missing)
    refused(lambda: hank.prompts.update(id=made.id, title="x"), 404, missing)
    refused(lambda: hank.prompts.delete(id=made.id), 404, missing)
    refused(lambda: hank.prompts.versions.list(prompt_id=made.id), 404, missing)
    refused(lambda: hank.prompts.versions.get_default_version_name(id=made.id), 404, missing)
    refused(lambda: client.prompts.list(page=99), 404, "Invalid page.")
    refused(lambda: sdk(server, "wrong").prompts.list(), 401, "Invalid token.")


def test_versions_create_get_update_list_delete(client, made):
    assert (
        client.prompts.versions.get_default_version_name(id=made.id).default_model_version_name
        == "v1"
    )
    version = client.prompts.versions.create(
        prompt_id=made.id,
        title="v1",
        prompt="Classify {text}",
        provider_model_id="gpt-4o",
        provider="OpenAI",
        max_few_shot_examples=3,
    )
    assert (version.title, version.parent_model, version.provider_model_id) == (
        "v1",
        made.id,
        "gpt-4o",
    )
    assert (version.max_few_shot_examples, version.organization, version.score) == (3, 1, None)
    assert version.created_by.username == "ada"
    assert client.prompts.versions.get(prompt_id=made.id, version_id=version.id) == version
    updated = client.prompts.versions.update(
        prompt_id=made.id, version_id=version.id, provider="Anthropic", provider_model_id="claude"
    )
    assert (updated.provider, updated.provider_model_id, updated.title) == (
        "Anthropic",
        "claude",
        "v1",
    )
    assert [v.id for v in client.prompts.versions.list(prompt_id=made.id, ordering="-id")] == [
        version.id
    ]
    assert (
        client.prompts.versions.get_default_version_name(id=made.id).default_model_version_name
        == "v2"
    )
    refused(
        lambda: client.prompts.versions.create(
            prompt_id=made.id, title="v1", prompt="p", provider_model_id="m"
        ),
        400,
        "Validation error",
        {"non_field_errors": ["A version with this name already exists."]},
    )
    refused(
        lambda: client.prompts.versions.create(
            prompt_id=made.id,
            title="v9",
            prompt="p",
            provider_model_id="m",
            model_provider_connection=4,
        ),
        400,
        "Validation error",
        {"model_provider_connection": ['Invalid pk "4" - object does not exist.']},
    )
    client.prompts.versions.delete(prompt_id=made.id, version_id=version.id)
    refused(
        lambda: client.prompts.versions.get(prompt_id=made.id, version_id=version.id),
        404,
        "No ThirdPartyModelVersion matches the given query.",
    )


def test_a_version_made_with_the_sdk_runs_to_completed(client, made):
    version = client.prompts.versions.create(
        prompt_id=made.id, title="v1", prompt="Classify {text}", provider_model_id="gpt-4o"
    )
    run = client.prompts.runs.create(
        prompt_id=made.id, version_id=version.id, project=2, project_subset="HasGT"
    )
    deadline = time.monotonic() + 60
    while run.status not in ("Completed", "Failed", "Canceled"):
        assert time.monotonic() < deadline, f"run {run.id} did not end: {run!r}"
        time.sleep(0.05)
        (run,) = client.prompts.runs.list(prompt_id=made.id, version_id=version.id)
    assert (run.status, run.total_tasks) == ("Completed", 40)
    got = client.prompts.get(id=made.id)
    assert (got.runs_count, got.versions_count) == (1, 1)
    assert got.best_score == run.total_correct_predictions / run.total_predictions


def test_compatible_projects(client, server):
    page = client.prompts.compatible_projects(project_type="TextClassification", ordering="-id")
    assert page.count == 2 and [p.id for p in page.results] == [2, 1]
    assert [p.id for p in client.prompts.compatible_projects(ids=[1]).results] == [1]
    # Globex's only project extracts a total (a TextArea): no classification prompt runs on it,
    # and Acme's projects are not Hank's to see.
    hank = sdk(server, HANK_TOKEN)
    assert hank.prompts.compatible_projects().results == []
    assert hank.prompts.compatible_projects(ids=[1, 3]).results == []
    refused(lambda: client.prompts.compatible_projects(page=5), 404, "Invalid page.")


def test_duplicates_examples_and_preview_over_http(server, client, made):
    version = client.prompts.versions.create(
        prompt_id=made.id, title="v1", prompt="Classify {text}", provider_model_id="gpt-4o"
    )
    base = f"/api/prompts/{made.id}/versions/{version.id}"
    with server.client() as http, server.client(HANK_TOKEN) as hank:
        # Task 4 is the demo seed's first with ground truth: annotation 1.
        example = http.post(f"{base}/few-shot-examples", json={"task": 4, "annotation": 1})
        assert example.status_code == 201, example.text
        listed = http.get(f"{base}/few-shot-examples").json()
        assert [e["id"] for e in listed] == [example.json()["id"]]
        preview = http.get(f"{base}/prompt-preview").json()
        text, sentiment = sample_ticket(4)
        assert preview["rendered_prompt"] == (
            f"Classify {{text}}\n\nExample 1:\ntext: {text}\nAnswer: {sentiment}"
        )
        copy = http.post(f"{base}/duplicate", json={"title": "v2"})
        assert copy.status_code == 200 and copy.json()["title"] == "v2"
        twin = http.post(f"/api/prompts/{made.id}/duplicate/", json={"title": "Twin"})
        assert twin.status_code == 200, twin.text
        assert [v.title for v in client.prompts.versions.list(prompt_id=twin.json()["id"])] == [
            "v1",
            "v2",
        ]
        client.prompts.delete(id=twin.json()["id"])
        assert hank.get(f"{base}/few-shot-examples").status_code == 404
