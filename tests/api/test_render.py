"""Label Studio's JSON of each object, built from stored values: datetimes as DRF renders them,
stored JSON read back exactly, and the fields an answer derives (initials, counts, averages,
shortened descriptions, costs) for the values given."""

import math
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.label_config import parse_label_config
from app.models import FewShotExample, ModelProviderConnection, Prompt, PromptVersion, User
from app.render import (
    StoredDateTime,
    StoredJSON,
    TaskPredictions,
    annotation_json,
    connection,
    few_shot_example,
    initials,
    iso,
    iso_read,
    loads_stored,
    model_interface,
    model_interface_get,
    model_run,
    model_version,
    prediction_json,
    project,
    project_import_json,
    read_column,
    refined_prompt,
    task_json,
    user_simple,
    version,
)
from app.workspace.projects import DEFAULTS

from .test_shapes import SCHEMAS, fields

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ADA = {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test",
       "username": "ada", "avatar": None}  # fmt: skip


# --- datetimes ---


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        (T0, "2026-01-02T03:04:05Z"),
        (T0.replace(microsecond=120), "2026-01-02T03:04:05.000120Z"),
        (T0.astimezone(timezone(timedelta(hours=2))), "2026-01-02T05:04:05+02:00"),
        (T0.replace(tzinfo=None), "2026-01-02T03:04:05"),
    ],
    ids=["none", "utc", "microseconds", "other-zone-kept", "naive"],
)
def test_a_datetime_is_rendered_iso_8601_with_z_for_utc(value, shown):
    assert iso(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"),
        (T0.replace(tzinfo=None), "2026-01-02T03:04:05Z"),  # SQLite's naive values are UTC
        (T0, "2026-01-02T03:04:05Z"),
        (T0.astimezone(timezone(timedelta(hours=-5))), "2026-01-02T03:04:05Z"),
        (
            T0.astimezone(timezone(timedelta(hours=2))).replace(microsecond=7),
            "2026-01-02T03:04:05.000007Z",
        ),
    ],  # fmt: skip
    ids=["none", "text", "naive", "utc", "west", "east-microseconds"],
)
def test_a_datetime_read_from_the_database_is_rendered_in_utc(value, shown):
    assert iso_read(value) == shown


SQLITE = sqlite.dialect()
POSTGRES = postgresql.psycopg.dialect()


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (None, None),
        ("2026-01-02 03:04:05.000000", "2026-01-02T03:04:05Z"),
        ("2026-01-02 03:04:05.123456", "2026-01-02T03:04:05.123456Z"),
        ("2026-01-02 03:04:05.000010", "2026-01-02T03:04:05.000010Z"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05Z"),  # no fraction: parsed
        ("2026-01-02 03:04:05.5", "2026-01-02T03:04:05.500000Z"),
    ],
)
def test_a_datetime_stored_as_sqlite_text_is_read_as_rendered(stored, shown):
    read = StoredDateTime().result_processor(SQLITE, None)
    assert read is not None
    assert read(stored) == shown


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        (None, None),
        ("2026-01-02T03:04:05.000000Z", "2026-01-02T03:04:05Z"),
        ("2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z"),
        ("0005-01-02T03:04:05.000010Z", "0005-01-02T03:04:05.000010Z"),
    ],
)
def test_a_datetime_from_postgresql_is_read_from_the_utc_text_it_writes(written, shown):
    read = StoredDateTime().result_processor(POSTGRES, None)
    assert read is not None
    assert read(written) == shown


def test_postgresql_writes_datetimes_in_utc_and_json_as_its_stored_text():
    column = read_column(Prompt.__table__.c.created_at)  # type: ignore[attr-defined]
    sql = str(select(column).compile(dialect=POSTGRES))
    assert (
        """to_char(prompt.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""" in sql
    )
    json_column = read_column(Prompt.__table__.c.output_classes)  # type: ignore[attr-defined]
    assert "CAST(prompt.output_classes AS TEXT)" in str(
        select(json_column).compile(dialect=POSTGRES)
    )
    read = StoredJSON().result_processor(POSTGRES, None)
    assert read is not None
    assert read('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert read("null") is None


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        (None, None),
        ("null", None),
        ('{"a": [1, 2.5, "é"], "b": {}}', {"a": [1, 2.5, "é"], "b": {}}),
        ("12345678901234567890123", 12345678901234567890123),  # beyond 64 bits, kept exact
        ("[9999999999999999999]", [9999999999999999999]),
    ],
)
def test_json_stored_as_sqlite_text_is_read_back_exactly(stored, value):
    read = StoredJSON().result_processor(SQLITE, None)
    assert read is not None
    assert read(stored) == value
    assert type(read(stored)) is type(value)


def test_stored_json_that_only_python_reads_is_read_as_python_reads_it():
    assert math.isnan(loads_stored("NaN"))
    assert loads_stored('"\\ud800"') == "\ud800"  # a lone surrogate


# --- users ---


def user(first: str = "", last: str = "", username: str = "", email: str = "") -> User:
    return User(id=7, first_name=first, last_name=last, username=username, email=email,
                organization_id=3, token="k")  # fmt: skip


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (("Ada", "Lovelace", "ada", "ada@acme.test"), "AL"),
        (("ada", "lovelace", "x", "x@y"), "AL"),
        (("Ada", "", "x", "x@y"), "A"),
        (("", "lovelace", "x", "x@y"), "L"),
        (("", "", "bob", "x@y"), "BO"),
        (("", "", "", "carol@acme.test"), "CA"),
        (("", "", "", ""), "?"),
    ],
)
def test_initials_are_the_names_first_letters_else_the_usernames_first_two(names, shown):
    assert initials(user(*names)) == shown


def test_a_user_is_shown_as_user_simple():
    assert user_simple(user("Ada", "Lovelace", "ada", "ada@acme.test")) == ADA | {"id": 7}


def test_the_version_answer_names_the_server_version_for_every_part():
    part = {"version": "9.8.7", "commit": None, "branch": None, "date": None}
    assert version("9.8.7") == {
        "release": "9.8.7",
        "label-studio-os-package": part,
        "label-studio-os-backend": part,
        "label-studio-frontend": part,
        "dm2": part,
        "label-studio-converter": {"version": "9.8.7"},
        "lsf": part,
        "backend": part,
        "edition": "Enterprise",
    }


# --- prompts workspace ---


def test_a_prompt_is_shown_as_model_interface_and_its_get_form_adds_stats():
    prompt = Prompt(id=4, title="Sentiment", description="d", organization_id=1,
                    created_at=T0, updated_at=T0 + timedelta(seconds=1), input_fields=["text"],
                    output_classes=["A"], skill_name="NamedEntityRecognition")  # fmt: skip
    shown = {
        "id": 4,
        "created_by": ADA,
        "title": "Sentiment",
        "description": "d",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:06Z",
        "organization": 1,
        "input_fields": ["text"],
        "output_classes": ["A"],
        "skill_name": "NamedEntityRecognition",
        "associated_projects": [2, 1],
    }
    assert model_interface(prompt, ADA, [2, 1]) == shown
    stats = {"versions_count": 2, "runs_count": 3, "best_score": 0.5}
    projects = [{"id": 2, "title": "Escalated tickets"}]
    assert model_interface_get(prompt, ADA, projects, stats) == shown | stats | {
        "associated_projects": projects
    }


def test_a_version_shows_its_model_id_as_display_name_and_the_score_given():
    row = PromptVersion(id=5, prompt_id=4, organization_id=1, title="v1", prompt="p {text}",
                        provider="Anthropic", provider_model_id="claude", max_few_shot_examples=3,
                        model_provider_connection_id=2, created_at=T0, updated_at=T0,
                        accuracy=0.9, failure_rate=0.1)  # fmt: skip
    assert model_version(row, None, 0.25) == {
        "id": 5,
        "created_by": None,
        "title": "v1",
        "parent_model": 4,
        "prompt": "p {text}",
        "provider": "Anthropic",
        "provider_model_id": "claude",
        "model_display_name": "claude",
        "max_few_shot_examples": 3,
        "model_provider_connection": 2,
        "organization": 1,
        "score": 0.25,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
    }


def test_a_few_shot_example_shows_its_task_data_and_annotation_result():
    row = FewShotExample(id=3, version_id=5, task_id=8, annotation_id=9, order=2, created_at=T0)
    assert few_shot_example(row, {"text": "hi"}, [{"value": {}}]) == {
        "id": 3,
        "task": 8,
        "annotation": 9,
        "order": 2,
        "task_data": {"text": "hi"},
        "annotation_result": [{"value": {}}],
        "created_at": "2026-01-02T03:04:05Z",
    }


def test_a_connection_shows_no_secret_and_empty_model_params():
    row = ModelProviderConnection(
        id=6, organization_id=1, created_by_id=1, provider="VertexAI", scope="User",
        api_key="secret", auth_token="secret", google_application_credentials="secret",
        deployment_name="dep", endpoint="https://e.test", cached_available_models="a,b",
        google_project_id="gp", google_location="eu", is_internal=False, budget_limit=10.5,
        budget_last_reset_date=T0, budget_reset_period="Monthly", budget_total_spent=1.5,
        budget_alert_threshold=0.8, created_at=T0, updated_at=T0 + timedelta(days=1),
    )  # fmt: skip
    assert connection(row, ADA) == {
        "id": 6,
        "created_by": ADA,
        "model_params": {},
        "provider": "VertexAI",
        "deployment_name": "dep",
        "endpoint": "https://e.test",
        "scope": "User",
        "cached_available_models": "a,b",
        "google_project_id": "gp",
        "google_location": "eu",
        "is_internal": False,
        "budget_limit": 10.5,
        "budget_last_reset_date": "2026-01-02T03:04:05Z",
        "budget_reset_period": "Monthly",
        "budget_total_spent": 1.5,
        "budget_alert_threshold": 0.8,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-03T03:04:05Z",
        "organization": 1,
    }


def test_a_run_is_shown_with_labels_studios_names_for_its_columns():
    row = SimpleNamespace(
        id=11, created_by_id=1, project_id=2, version_id=5, prompt_id=4, organization_id=1,
        project_subset="Sample", sample_subset_size=20, filters_json={"items": []},
        task_ids=[1, 2], source_model_run_id=10, job_id="job", status="Completed", total_tasks=20,
        total_predictions=19, total_correct_predictions=15, created_at=T0,
        triggered_at="2026-01-02T03:04:06Z", predictions_updated_at=T0.replace(tzinfo=None),
        completed_at=None,
    )  # fmt: skip
    assert model_run(row, ADA) == {
        "id": 11,
        "created_by": ADA,
        "project": 2,
        "model_version": 5,
        "parent_model": 4,
        "organization": 1,
        "project_subset": "Sample",
        "sample_subset_size": 20,
        "filters_json": {"items": []},
        "task_ids": [1, 2],
        "source_model_run": 10,
        "job_id": "job",
        "status": "Completed",
        "total_tasks": 20,
        "total_predictions": 19,
        "total_correct_predictions": 15,
        "created_at": "2026-01-02T03:04:05Z",
        "triggered_at": "2026-01-02T03:04:06Z",
        "predictions_updated_at": "2026-01-02T03:04:05Z",
        "completed_at": None,
    }


# --- projects ---


CHOICES = (
    '<View><Text name="text" value="$text"/><Choices name="s" toName="text">'
    '<Choice value="A"/></Choices></View>'
)
LABELS = (
    '<View><Text name="text" value="$text"/><Labels name="l" toName="text">'
    '<Label value="A"/></Labels></View>'
)


def project_row(description: str | None = "About", settings: dict | None = None) -> Any:
    return SimpleNamespace(id=8, title="T", description=description, label_config=CHOICES,
                           settings=settings, created_at=T0, organization_id=1, pinned_at=None,
                           source_interface_id=None)  # fmt: skip


def facts(config: str | None = CHOICES, **counts: Any) -> Any:
    return SimpleNamespace(config=parse_label_config(config) if config else None, creator=ADA,
                           prompts=None, **{"tasks": 10, "ground_truth": 4, "predictions": 7,
                                            **counts})  # fmt: skip


def test_a_projects_counts_queue_and_settings_come_from_its_facts_and_stored_settings():
    stored = {"color": "#000000", "review_settings": {"requeue_rejected_tasks_mode": "remove"},
              "source_interface_version": 3}  # fmt: skip
    body = project(project_row(settings=stored), facts(), DEFAULTS)
    assert {k: body[k] for k in (
        "task_number", "finished_task_number", "total_predictions_number",
        "total_annotations_number", "num_tasks_with_annotations", "useful_annotation_number",
        "ground_truth_number", "skipped_annotations_number", "queue_total", "queue_done",
        "queue_left", "color", "maximum_annotations", "source_interface_version", "prompts",
        "workspace", "workspace_title", "state", "created_at", "pinned_at", "created_by",
        "config_has_control_tags", "config_suitable_for_bulk_annotation",
    )} == {
        "task_number": 10, "finished_task_number": 4, "total_predictions_number": 7,
        "total_annotations_number": 4, "num_tasks_with_annotations": 4,
        "useful_annotation_number": 4, "ground_truth_number": 4, "skipped_annotations_number": 0,
        "queue_total": 10, "queue_done": 4, "queue_left": 6, "color": "#000000",
        "maximum_annotations": 1, "source_interface_version": 3, "prompts": [], "workspace": 1,
        "workspace_title": "Default workspace", "state": "CREATED",
        "created_at": "2026-01-02T03:04:05Z", "pinned_at": None, "created_by": ADA,
        "config_has_control_tags": True, "config_suitable_for_bulk_annotation": True,
    }  # fmt: skip
    assert body["review_settings"] == {
        "id": 8,
        "project": 8,
        "requeue_rejected_tasks_to_annotator": False,
        "requeue_rejected_tasks_mode": "remove",  # stored whole (merged when written)
    }
    assert body["assignment_settings"] == {"id": 8, "project": 8, **DEFAULTS["assignment_settings"]}
    assert project(project_row(), facts(), DEFAULTS)["review_settings"][
        "requeue_rejected_tasks_to_annotator"
    ] is True  # fmt: skip


@pytest.mark.parametrize(
    ("config", "has_controls", "bulk"),
    [
        (CHOICES, True, True),
        ('<View><Text name="t" value="$t"/><TextArea name="a" toName="t"/></View>', True, True),
        (CHOICES.replace('toName="text"', 'toName="text" perRegion="true"'), True, False),
        (LABELS, True, False),
        ('<View><Text name="t" value="$t"/></View>', False, False),
        (None, False, False),  # a stored config that no longer parses
    ],
    ids=["choices", "textarea", "per-region", "labels", "no-control", "unparsable"],
)
def test_a_project_is_suitable_for_bulk_annotation_with_choices_or_text_areas_only(
    config, has_controls, bulk
):
    body = project(project_row(), facts(config), DEFAULTS)
    assert (body["config_has_control_tags"], body["config_suitable_for_bulk_annotation"]) == (
        has_controls,
        bulk,
    )
    if config is None:
        assert (body["parsed_label_config"], body["data_types"]) == ({}, {})


@pytest.mark.parametrize(
    ("description", "short"),
    [
        ("x" * 300, "x" * 300),
        ("x" * 301, "x" * 297 + "..."),
        (None, ""),
    ],
    ids=["300", "301", "none"],
)
def test_a_listed_projects_description_is_shortened_past_300_characters(description, short):
    body = project(project_row(description), facts(), DEFAULTS, "list")
    assert body["description_short"] == short
    assert (body["blueprints"], body["internal_description_short"]) == ([], None)
    assert {"permissions", "task_data_login", "task_data_password"}.isdisjoint(body)


def test_a_listed_projects_counts_are_narrowed_to_those_included():
    body = project(project_row(), facts(), DEFAULTS, "list", {"task_number", "title"})
    counts = {"task_number", "finished_task_number", "total_predictions_number",
              "total_annotations_number", "num_tasks_with_annotations",
              "useful_annotation_number", "ground_truth_number", "skipped_annotations_number"}  # fmt: skip
    assert counts & set(body) == {"task_number"}
    assert body["title"] == "T" and body["queue_total"] == 10
    whole = project(project_row(), facts(), DEFAULTS, "list")
    assert counts <= set(whole)


# --- tasks, annotations, predictions, imports ---


def annotation(pk: int, by: int | None, cancelled: bool = False, lead: float | None = None,
               at: datetime | None = T0) -> Any:  # fmt: skip
    return SimpleNamespace(id=pk, result=[{"r": pk}], completed_by_id=by, was_cancelled=cancelled,
                           ground_truth=pk == 1, created_at=at, updated_at=at, lead_time=lead,
                           import_id=None, task_id=20, project_id=8)  # fmt: skip


def prediction(pk: int, score: float | None, version_name: str, updated: Any = None) -> Any:
    return SimpleNamespace(id=pk, result=[], model_version=version_name, score=score,
                           cluster=None, neighbors=None, mislabeling=0.0, created_at=T0,
                           updated_at=updated, run_id=11, task_id=20, project_id=8)  # fmt: skip


def gathered(predictions: list[Any]) -> TaskPredictions:
    """A task's predictions gathered oldest first, as a page of tasks reads them."""
    summary = TaskPredictions()
    for one in predictions:
        summary.add(one.score, one.model_version)
        summary.shown.append(prediction_json(one))
    return summary


TASK = SimpleNamespace(id=20, allow_skip=True, data={"text": "t"}, has_ground_truth=True,
                       inner_id=3, meta={}, project_id=8, created_at=T0, updated_at=None)  # fmt: skip


def test_an_annotation_is_shown_as_a_tasks_annotations_list_shows_it():
    assert annotation_json(annotation(1, 2, lead=1.5)) == {
        "id": 1, "result": [{"r": 1}], "created_username": "", "created_ago": "",
        "completed_by": 2, "was_cancelled": False, "ground_truth": True,
        "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
        "draft_created_at": None, "lead_time": 1.5, "import_id": None, "last_action": None,
        "bulk_created": False, "task": 20, "project": 8, "updated_by": 2,
        "parent_prediction": None, "parent_annotation": None, "last_created_by": None,
    }  # fmt: skip


def test_a_prediction_never_updated_shows_its_creation_as_its_update():
    shown = prediction_json(prediction(5, 0.5, "v1"))
    assert shown == {
        "id": 5, "result": [], "model_version": "v1", "created_ago": "", "score": 0.5,
        "cluster": None, "neighbors": None, "mislabeling": 0.0,
        "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
        "model": None, "model_run": 11, "task": 20, "project": 8,
    }  # fmt: skip
    later = prediction_json(prediction(5, 0.5, "v1", "2026-02-01T00:00:00Z"))
    assert later["updated_at"] == "2026-02-01T00:00:00Z"


def test_a_tasks_annotation_and_prediction_summaries():
    later = T0 + timedelta(hours=1)
    annotations = [
        annotation(1, 2, lead=1.0),
        annotation(2, 3, lead=2.0, at=later),
        annotation(3, 2, lead=None),
        annotation(4, 5, cancelled=True, lead=9.0, at=later + timedelta(hours=1)),
        annotation(5, None),
    ]
    predictions = [prediction(6, 0.5, "v1"), prediction(7, None, "v2"),
                   prediction(8, 1.0, "v1"), prediction(9, 0.0, "")]  # fmt: skip
    body = task_json(TASK, annotations, gathered(predictions))
    assert {k: body[k] for k in (
        "agreement", "annotations_ids", "annotators", "annotators_count", "avg_lead_time",
        "cancelled_annotations", "completed_at", "is_labeled", "predictions_model_versions",
        "predictions_score", "total_annotations", "total_predictions", "updated_at",
        "created_at", "ground_truth", "inner_id", "project", "data", "allow_skip", "overlap",
    )} == {
        "agreement": 0.0, "annotations_ids": "1, 2, 3, 4, 5",
        "annotators": [{"user_id": 2}, {"user_id": 3}, {"user_id": 5}], "annotators_count": 3,
        "avg_lead_time": 1.5, "cancelled_annotations": 1, "completed_at": "2026-01-02T04:04:05Z",
        "is_labeled": True, "predictions_model_versions": "v1, v2", "predictions_score": 0.5,
        "total_annotations": 4, "total_predictions": 4, "updated_at": "2026-01-02T03:04:05Z",
        "created_at": "2026-01-02T03:04:05Z", "ground_truth": True, "inner_id": 3,
        "project": 8, "data": {"text": "t"}, "allow_skip": True, "overlap": 1,
    }  # fmt: skip
    assert [a["id"] for a in body["annotations"]] == [1, 2, 3, 4, 5]
    assert [p["id"] for p in body["predictions"]] == [6, 7, 8, 9]
    counts_only = task_json(TASK, annotations, gathered(predictions), nested=False)
    assert (counts_only["annotations"], counts_only["predictions"]) == ([], [])
    assert counts_only["total_predictions"] == 4


def test_a_task_with_one_finished_annotation_agrees_fully_and_one_without_any_is_unlabeled():
    one = task_json(TASK, [annotation(1, 2), annotation(2, 3, cancelled=True)], gathered([]))
    assert (one["agreement"], one["is_labeled"], one["avg_lead_time"]) == (100.0, True, 0.0)
    assert task_json(TASK, [], gathered([])) == {
        "id": 20, "agreement": 0.0, "agreement_selected": 0.0, "allow_skip": True,
        "annotation_time": None, "annotations": [], "annotations_ids": "",
        "annotations_results": "", "annotators": [], "annotators_count": 0,
        "avg_lead_time": 0.0, "cancelled_annotations": 0, "comment_authors": [],
        "comment_authors_count": 0, "comment_count": 0, "comments": "", "completed_at": None,
        "created_at": "2026-01-02T03:04:05Z", "data": {"text": "t"}, "draft_exists": False,
        "drafts": [], "file_upload": None, "ground_truth": True, "inner_id": 3,
        "is_labeled": False, "last_comment_updated_at": None, "meta": {}, "overlap": 1,
        "precomputed_agreement": None, "predictions": [], "predictions_model_versions": "",
        "predictions_results": "", "predictions_score": 0.0, "project": 8, "review_time": None,
        "reviewed": False, "reviewers": [], "reviewers_count": 0, "reviews_accepted": 0,
        "reviews_rejected": 0, "state": "", "storage_filename": None, "total_annotations": 0,
        "total_predictions": 0, "unresolved_comment_count": 0,
        "updated_at": "2026-01-02T03:04:05Z", "updated_by": [],
    }  # fmt: skip


def test_an_import_is_shown_as_project_import():
    record = SimpleNamespace(id=2, project_id=8, preannotated_from_fields=["p"],
                             commit_to_project=True, return_task_ids=False, status="completed",
                             error=None, created_at=T0, updated_at=T0, finished_at=None,
                             task_count=3, annotation_count=1, prediction_count=2, duration=0.5,
                             task_ids=[1, 2, 3])  # fmt: skip
    assert project_import_json(record) == {
        "id": 2, "project": 8, "preannotated_from_fields": ["p"], "commit_to_project": True,
        "return_task_ids": False, "status": "completed", "url": None, "error": None,
        "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
        "finished_at": None, "task_count": 3, "annotation_count": 1, "prediction_count": 2,
        "duration": 0.5, "file_upload_ids": [], "could_be_tasks_list": False, "found_formats": [],
        "data_columns": [], "tasks": None, "task_ids": [1, 2, 3],
    }  # fmt: skip


# --- refinement jobs ---


def test_a_refinement_shows_the_refined_prompt_once_there_and_its_cost_to_8_decimals():
    job = SimpleNamespace(id=3, reasoning="why", status="Completed", total_cost_usd=0.00012)
    refined = SimpleNamespace(title="v2", prompt="better {text}")
    assert refined_prompt(job, {"id": 1}, refined) == {
        "title": "v2",
        "reasoning": "why",
        "prompt": "better {text}",
        "refinement_job_id": 3,
        "refinement_status": "Completed",
        "total_cost": "0.00012000",
        "previous_version": {"id": 1},
    }
    pending = SimpleNamespace(id=4, reasoning=None, status="Pending", total_cost_usd=None)
    assert refined_prompt(pending, None, None) == {
        "title": None,
        "reasoning": None,
        "prompt": "",
        "refinement_job_id": 4,
        "refinement_status": "Pending",
        "total_cost": None,
        "previous_version": None,
    }


@pytest.mark.parametrize(
    ("shape", "schema"),
    [("detail", "LseProjectResponse"), ("create", "LseProjectCreate"),
     ("list", "AllRolesProjectList")],
)  # fmt: skip
def test_each_shape_of_a_project_has_exactly_the_fields_of_its_schema(shape, schema):
    body = project(project_row(), facts(), DEFAULTS, shape)
    assert set(body) == fields(SCHEMAS[schema])


@pytest.mark.parametrize(
    ("body", "schema"),
    [
        (
            lambda: task_json(TASK, [annotation(1, 2)], gathered([prediction(5, 0.5, "v1")])),
            "LseTask",
        ),
        (lambda: prediction_json(prediction(5, 0.5, "v1")), "Prediction"),
    ],
    ids=["task", "prediction"],
)
def test_a_task_and_a_prediction_have_exactly_the_fields_of_their_schemas(body, schema):
    assert set(body()) == fields(SCHEMAS[schema])


def test_a_projects_detail_is_its_row_its_settings_and_what_its_facts_count():
    config = parse_label_config(CHOICES)
    settings = {k: v for k, v in DEFAULTS.items() if k not in ("assignment_settings",
                                                               "review_settings")}  # fmt: skip
    body = project(project_row(settings={"pinned": 1}), facts(), DEFAULTS)
    assert body == {
        "id": 8, "title": "T", "description": "About", "label_config": CHOICES, **settings,
        "created_by": ADA, "created_at": "2026-01-02T03:04:05Z", "organization": 1,
        "pinned_at": None, "source_interface_id": None, "source_interface_version": None,
        "workspace": 1, "workspace_title": "Default workspace", "state": "CREATED",
        "parsed_label_config": config.parsed(), "data_types": config.data_types(),
        "config_has_control_tags": True, "config_suitable_for_bulk_annotation": True,
        "task_number": 10, "finished_task_number": 4, "total_predictions_number": 7,
        "total_annotations_number": 4, "num_tasks_with_annotations": 4,
        "useful_annotation_number": 4, "ground_truth_number": 4, "skipped_annotations_number": 0,
        "queue_total": 10, "queue_done": 4, "queue_left": 6, "rejected": 0,
        "reviewed_number": 0, "review_total_tasks": 0, "reviewer_queue_total": 0,
        "ready": True, "allow_stream": True, "start_training_on_annotation_update": False,
        "is_dimensions_enabled": False, "members": [], "members_count": 0, "prompts": [],
        "permissions": ["projects.view", "projects.change", "projects.delete", "tasks.view"],
        "assignment_settings": {"id": 8, "project": 8,
                                "label_stream_task_distribution": "auto_distribution"},
        "review_settings": {"id": 8, "project": 8, "requeue_rejected_tasks_to_annotator": True,
                            **DEFAULTS["review_settings"]},
    }  # fmt: skip
    assert config.parsed() and config.data_types() == {"text": "Text"}
    created = project(project_row(), facts(), DEFAULTS, "create")
    assert created == {k: v for k, v in body.items() if k in fields(SCHEMAS["LseProjectCreate"])}
    listed = project(project_row(), facts(), DEFAULTS, "list")
    assert listed == {k: v for k, v in body.items() if k not in ("permissions",
                      "task_data_login", "task_data_password")} | {
        "blueprints": [], "description_short": "About", "internal_description_short": None}  # fmt: skip
