"""The workflow a user writes against Label Studio Enterprise, in one piece, with the official
client against a real server process: a provider connection, a project with a label config,
tasks imported with ground truth, a prompt and a version, a run polled to Completed, and the
tasks read back with their predictions, judged on the client."""

import time
import uuid

from conftest import Emulator
from label_studio_sdk import LabelStudio

CONFIG = (
    '<View><Text name="review" value="$review"/>'
    '<Choices name="sentiment" toName="review">'
    '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>'
)
REVIEWS = [
    ("Arrived quickly and works perfectly.", "Positive"),
    ("Broke after two days, very disappointed.", "Negative"),
    ("Great value, would buy again.", "Positive"),
    ("The battery barely lasts an hour.", "Negative"),
    ("Exactly as described, five stars.", "Positive"),
    ("Customer service never answered me.", "Negative"),
]


def sentiment(value: str) -> list[dict[str, object]]:
    return [{"from_name": "sentiment", "to_name": "review", "type": "choices",
             "value": {"choices": [value]}}]  # fmt: skip


def chosen(result: list[dict[str, object]]) -> list[str]:
    return [c for r in result if r["type"] == "choices" for c in r["value"]["choices"]]  # type: ignore[index]


def wait(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_a_prompt_evaluation_script_runs_end_to_end(server: Emulator) -> None:
    client = LabelStudio(base_url=server.url, api_key="acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    suffix = uuid.uuid4().hex[:6]

    connection = client.model_providers.create(provider="OpenAI", api_key="sk-test-key")
    project = client.projects.create(title=f"Reviews {suffix}", label_config=CONFIG)
    # Four of the six reviews carry a ground-truth annotation.
    imported = client.projects.import_tasks(
        id=project.id,
        request=[
            {"data": {"review": text},
             "annotations": [{"result": sentiment(label), "ground_truth": True}] if i < 4 else []}
            for i, (text, label) in enumerate(REVIEWS)
        ],
    )  # fmt: skip
    status = wait(
        lambda: (
            (s := client.tasks.create_many_status(id=project.id, import_pk=imported.import_)).status
            in ("completed", "failed")
            and s
        ),
        "the import",
    )
    assert (status.status, status.task_count) == ("completed", 6)

    prompt = client.prompts.create(
        title=f"Review sentiment {suffix}",
        skill_name="TextClassification",
        input_fields=["review"],
        output_classes=["Positive", "Negative"],
        associated_projects=[project.id],
    )
    version = client.prompts.versions.create(
        prompt_id=prompt.id,
        title="v1",
        prompt="Is this review positive or negative? {review}",
        provider="OpenAI",
        provider_model_id="gpt-4o-mini",
        model_provider_connection=connection.id,
    )
    run = client.prompts.runs.create(
        prompt_id=prompt.id, version_id=version.id, project=project.id, project_subset="HasGT"
    )

    def ended():
        runs = client.prompts.runs.list(prompt_id=prompt.id, version_id=version.id)
        (listed,) = [r for r in runs if r.id == run.id]
        return listed if listed.status in ("Completed", "Failed", "Canceled") else None

    run = wait(ended, "the run to end")
    assert (run.status, run.total_tasks) == ("Completed", 4)

    tasks = list(client.tasks.list(project=project.id, fields="all"))
    assert [t.data["review"] for t in tasks] == [text for text, _ in REVIEWS]
    judged = correct = 0
    for task, (_, label) in zip(tasks, REVIEWS, strict=True):
        if not task.annotations:
            assert task.predictions == []  # HasGT runs only over ground-truth tasks
            continue
        (prediction,) = task.predictions
        assert prediction.model_version == "v1"
        (predicted,) = chosen(prediction.result or [])
        assert predicted in ("Positive", "Negative")
        judged += 1
        correct += predicted == label
    assert (judged, run.total_predictions, run.total_correct_predictions) == (4, 4, correct)

    client.prompts.delete(id=prompt.id)
    client.projects.delete(id=project.id)
    client.model_providers.delete(id=connection.id)
