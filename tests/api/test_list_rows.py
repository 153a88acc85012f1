"""Lists render their rows read as plain tuples (columns read for rendering, datetimes already
ISO text) exactly as a single object of the same row renders."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import LocalEmulator, copy_sqlite_schema
from sqlmodel import Session

from app.api.inference_runs import _runs_query
from app.config import Settings
from app.db import make_engine
from app.models import Prediction, Task
from app.render import (
    PREDICTION_COLUMNS,
    RUN_COLUMNS,
    TaskPredictions,
    _iso_of_text,
    _postgresql_stamps,
    _sqlite_stamp,
    _sqlite_stamps,
    prediction_json,
    prediction_row_json,
    run_json,
    run_rows,
    task_json,
)
from app.responses import FloatlessJSONResponse, JSONResponse

CREATED = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def prediction(**changes: object) -> Prediction:
    values: dict[str, object] = {
        "id": 7, "result": [{"value": {"choices": ["Positive"]}}], "model_version": "v2",
        "score": 0.25, "cluster": 3, "neighbors": [1, 2], "mislabeling": 0.5,
        "created_at": CREATED, "updated_at": None, "run_id": 11, "task_id": 13, "project_id": 17,
    }  # fmt: skip
    return Prediction(**(values | changes))


def as_read(row: Prediction) -> tuple[object, ...]:
    """The row as a list reads it: datetimes as ISO text."""
    text = {"created_at": "2025-03-04T05:06:07.890000Z", "updated_at": None}
    return tuple(text.get(name, getattr(row, name)) for name in PREDICTION_COLUMNS)


def test_a_prediction_row_renders_as_the_prediction_whose_update_is_its_creation() -> None:
    row = prediction()
    assert prediction_row_json(as_read(row)) == prediction_json(row) == {
        "id": 7, "result": [{"value": {"choices": ["Positive"]}}], "model_version": "v2",
        "created_ago": "", "score": 0.25, "cluster": 3, "neighbors": [1, 2], "mislabeling": 0.5,
        "created_at": "2025-03-04T05:06:07.890000Z", "updated_at": "2025-03-04T05:06:07.890000Z",
        "model": None, "model_run": 11, "task": 13, "project": 17,
    }  # fmt: skip


def test_a_prediction_row_shows_its_own_update_time() -> None:
    read = list(as_read(prediction()))
    read[PREDICTION_COLUMNS.index("updated_at")] = "2025-05-01T00:00:00Z"
    assert prediction_row_json(read)["updated_at"] == "2025-05-01T00:00:00Z"


def a_task() -> Task:
    return Task(id=13, project_id=17, data={}, meta={}, inner_id=1, created_at=CREATED)


def test_a_tasks_predictions_count_all_average_scores_and_name_versions_once() -> None:
    gathered = TaskPredictions()
    for score, version in [(0.5, "v1"), (None, "v2"), (0.25, ""), (0.0, "v1"), (None, None)]:
        gathered.add(score, version)
    assert (gathered.count, gathered.scores, list(gathered.versions)) == (
        5,
        [0.5, 0.25, 0.0],
        ["v1", "v2"],
    )
    gathered.shown.append({"id": 1})
    task = a_task()
    shown = task_json(task, [], gathered, nested=True)
    counts_only = task_json(task, [], gathered, nested=False)
    assert (shown["predictions"], counts_only["predictions"]) == ([{"id": 1}], [])
    for body in (shown, counts_only):
        assert body["total_predictions"] == 5
        assert body["predictions_score"] == 0.25
        assert body["predictions_model_versions"] == "v1, v2"


def test_a_task_without_scored_predictions_scores_zero() -> None:
    gathered = TaskPredictions()
    gathered.add(None, "")
    body = task_json(a_task(), [], gathered, nested=False)
    assert (body["total_predictions"], body["predictions_score"]) == (1, 0.0)
    assert body["predictions_model_versions"] == ""


@pytest.fixture
def session(local_server: LocalEmulator) -> Iterator[Session]:
    """A session on the shared server's database (the demo data: user 1 is Ada)."""
    settings = Settings(data_dir=local_server.data_dir, **local_server.settings)
    engine = make_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as opened:
            yield opened
    finally:
        engine.dispose()


def test_a_run_row_renders_as_the_run_with_its_creator(session: Session) -> None:
    """A run row as the driver's cursor answers it: datetimes as SQLite stores them or as
    PostgreSQL writes them for read_column, JSON as text."""
    values = {
        "id": 5, "created_by_id": 1, "project_id": 2, "version_id": 3, "prompt_id": 4,
        "organization_id": 1, "project_subset": "Sample", "sample_subset_size": 9,
        "filters_json": '{"items": []}', "task_ids": "[8, 9]", "source_model_run_id": 6,
        "job_id": "job", "status": "Completed", "total_tasks": 10, "total_predictions": 8,
        "total_correct_predictions": 7, "created_at": "2025-01-01 00:00:00.000000",
        "triggered_at": "2025-01-01 00:00:01.000000", "predictions_updated_at": None,
        "completed_at": "2025-01-01 00:00:02.500000",
    }  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        for name in ("created_at", "triggered_at", "completed_at"):
            values[name] = str(values[name]).replace(" ", "T") + "Z"
    row = tuple(values[name] for name in RUN_COLUMNS)
    ada = {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test",
           "username": "ada", "avatar": None}  # fmt: skip
    (rendered,), floats = run_rows(session, [row])
    shown = values | {"filters_json": {"items": []}, "task_ids": [8, 9],
                      "created_at": "2025-01-01T00:00:00Z", "triggered_at": "2025-01-01T00:00:01Z",
                      "completed_at": "2025-01-01T00:00:02.500000Z"}  # fmt: skip
    assert rendered == run_json(tuple(shown[name] for name in RUN_COLUMNS), ada)
    assert floats  # stored JSON may hold floats
    assert list(rendered) == [
        "id", "created_by", "project", "model_version", "parent_model", "organization",
        "project_subset", "sample_subset_size", "filters_json", "task_ids", "source_model_run",
        "job_id", "status", "total_tasks", "total_predictions", "total_correct_predictions",
        "created_at", "triggered_at", "predictions_updated_at", "completed_at",
    ]  # fmt: skip
    assert [rendered[key] for key in list(rendered)[2:]] == [
        2, 3, 4, 1, "Sample", 9, {"items": []}, [8, 9], 6, "job", "Completed", 10, 8, 7,
        "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", None, "2025-01-01T00:00:02.500000Z",
    ]  # fmt: skip
    without_json = list(row)
    without_json[RUN_COLUMNS.index("filters_json")] = "null"
    without_json[RUN_COLUMNS.index("task_ids")] = None
    (rendered,), floats = run_rows(session, [tuple(without_json)])
    assert (rendered["filters_json"], rendered["task_ids"], floats) == (None, None, False)
    assert run_rows(session, []) == ([], False)


STORED = [
    "2025-01-01 00:00:00.000000",
    None,
    "2025-01-01 00:00:01.500000",
    "2025-12-31 23:59:59.000001",
]
SHOWN = ["2025-01-01T00:00:00Z", None, "2025-01-01T00:00:01.500000Z", "2025-12-31T23:59:59.000001Z"]


@pytest.mark.parametrize("values", [STORED, STORED[:1], [None, None], []])
def test_sqlite_datetimes_convert_a_column_at_a_time_as_one_by_one(
    values: list[str | None],
) -> None:
    one_by_one = [_sqlite_stamp()(value) for value in values]
    assert _sqlite_stamps(values) == one_by_one == [SHOWN[STORED.index(v)] for v in values]


def test_a_sqlite_column_with_another_stored_form_converts_value_by_value() -> None:
    """The server default of rows older than a column ('1970-01-01 00:00:00+00:00')."""
    values = [*STORED, "1970-01-01 00:00:00+00:00"]
    assert _sqlite_stamps(values) == [*SHOWN, "1970-01-01T00:00:00Z"]


@pytest.mark.parametrize("values", [[v and v.replace(" ", "T") + "Z" for v in STORED], [None], []])
def test_postgresql_datetimes_convert_a_column_at_a_time_as_one_by_one(
    values: list[str | None],
) -> None:
    assert _postgresql_stamps(values) == [_iso_of_text(value) for value in values]


def test_a_floatless_answer_is_written_as_the_checked_one() -> None:
    content = [{"job_id": "type-e-1", "at": "0.00001", "n": 10**30, "text": "ünï \u2028\n"}]
    assert FloatlessJSONResponse(content).body == JSONResponse(content).body


@pytest.mark.parametrize("project", [False, True])
def test_the_runs_list_searches_the_runs_of_its_version_on_sqlite(tmp_path, project) -> None:
    """SQLite keeps no statistics: the runs list would otherwise walk every run of the project
    filtered by, whichever its version."""
    copy_sqlite_schema(tmp_path / "runs.sqlite3")
    engine = make_engine(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    compiled = _runs_query(project, False, False, None).compile(dialect=engine.dialect)
    values = {"prompt": 1, "version": 1, "organization": 1, "project": 1}
    parameters = [values[name] for name in compiled.positiontup or ()]
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(parameters))
        details = [row[3] for row in plan]
    engine.dispose()
    assert "SEARCH model_run USING INDEX ix_model_run_scored (version_id=?)" in details, details
