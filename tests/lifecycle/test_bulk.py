"""Many rows into one table at once: every row lands in its table with its values, columns a
row does not name take their default, and a page boundary loses nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, cast, func
from sqlmodel import Session, select

from app.db import make_engine
from app.lifecycle.bulk import PAGE_ROWS, Encoded, insert_columns, insert_rows
from app.models import (
    FailedPrediction,
    ModelRun,
    Organization,
    Prediction,
    Project,
    Prompt,
    PromptVersion,
    Task,
    User,
    table_of,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(migrated_database_url):
    engine = make_engine(migrated_database_url)
    with Session(engine) as session:
        session.add(Organization(id=1, title="Acme"))
        session.add(User(id=1, username="ada", organization_id=1, token="t"))
        session.add(Project(id=1, organization_id=1))
        session.add(Prompt(id=1, title="p", organization_id=1))
        session.add(PromptVersion(id=1, prompt_id=1, title="v"))
        session.flush()
        yield session
    engine.dispose()


def test_rows_past_a_page_are_all_inserted_with_their_values_and_the_defaults(session):
    count = PAGE_ROWS + 1
    rows = [
        {"project_id": 1, "data": {"n": n}, "created_at": T0 + timedelta(seconds=n % 3)}
        for n in range(count)
    ]
    insert_rows(session, table_of(Task), rows)
    tasks = session.exec(select(Task).order_by(Task.id)).all()
    assert [t.data for t in tasks] == [{"n": n} for n in range(count)]
    # Repeated instants are each stored as given.
    assert [t.created_at.replace(tzinfo=UTC) for t in tasks[:4]] == [
        T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0]  # fmt: skip
    assert {(t.has_ground_truth, t.allow_skip, t.meta, t.project_id) for t in tasks} == {
        (False, True, None, 1)
    }


def tasks_of_a_run(session, count: int) -> list[int]:
    """The ids of ``count`` new tasks of project 1, and run 1 of that project."""
    insert_rows(session, table_of(Task), [{"project_id": 1, "data": {}} for _ in range(count)])
    task_ids = session.exec(select(Task.id).order_by(Task.id)).all()
    session.add(ModelRun(id=1, organization_id=1, project_id=1, prompt_id=1, version_id=1,
                         created_by_id=1, created_at=T0))  # fmt: skip
    session.flush()
    return task_ids


def test_rows_with_the_same_columns_go_to_their_own_tables(session):
    task_ids = tasks_of_a_run(session, 3)
    made = [{"run_id": 1, "task_id": task_id, "version_id": 1, "created_at": T0}
            for task_id in task_ids[:2]]  # fmt: skip
    failed = [{"run_id": 1, "task_id": task_ids[2], "version_id": 1, "created_at": T0}]
    insert_rows(session, table_of(Prediction), made)
    insert_rows(session, table_of(FailedPrediction), failed)
    insert_rows(session, table_of(FailedPrediction), [])
    assert (
        session.exec(select(Prediction.task_id).order_by(Prediction.task_id)).all() == task_ids[:2]
    )
    [failure] = session.exec(select(FailedPrediction)).all()
    assert (failure.task_id, failure.error_type, failure.message) == (
        task_ids[2],
        "ProviderError",
        "",
    )


# A table of its own: the application's tables have scalar defaults only.
PROBE = Table(
    "bulk_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=True),
    Column("kind", String, default="plain"),
    Column("made_by", String, default=lambda context: "factory"),
    Column("at", DateTime, default=func.now()),
)


def test_columns_a_row_does_not_name_take_their_scalar_or_computed_default(session):
    PROBE.create(session.connection())
    insert_rows(
        session, PROBE, [{"id": 1, "name": "a", "at": T0}, {"id": 2, "name": None, "at": T0}]
    )
    rows = session.execute(PROBE.select().order_by(PROBE.c.id)).all()
    assert [(r.id, r.name, r.kind, r.made_by) for r in rows] == [
        (1, "a", "plain", "factory"), (2, None, "plain", "factory")]  # fmt: skip


def test_a_column_whose_default_is_computed_by_the_database_takes_it(session):
    PROBE.create(session.connection())
    insert_rows(session, PROBE, [{"id": 1, "name": "a"}])
    [row] = session.execute(PROBE.select()).all()
    assert (row.kind, row.made_by) == ("plain", "factory") and row.at is not None


def test_json_already_written_is_stored_as_written_and_other_values_are_encoded(session):
    task_ids = tasks_of_a_run(session, 2)
    written = Encoded('[{"id":  "a"}]')  # spacing no encoder writes: stored as it is
    rows = [{"run_id": 1, "task_id": task_ids[0], "created_at": T0, "result": written},
            {"run_id": 1, "task_id": task_ids[1], "created_at": T0, "result": [{"id": "b"}]}]  # fmt: skip
    insert_rows(session, table_of(Prediction), rows)
    stored = session.exec(
        select(cast(Prediction.result, Text)).order_by(Prediction.task_id)  # type: ignore[arg-type]
    ).all()
    assert stored == ['[{"id":  "a"}]', '[{"id": "b"}]']


def test_instants_are_stored_as_the_driver_writes_them_once_per_instant(session):
    # Column values (repeated objects), a constant, with and without microseconds: the stored
    # text on SQLite is what sqlite3's adapter writes of the naive UTC instant.
    task_ids = tasks_of_a_run(session, 3)
    later = T0 + timedelta(microseconds=1500)
    columns = {"task_id": task_ids, "created_at": [T0, later, T0], "score": [0.5, 1, None]}
    insert_columns(session, table_of(Prediction), columns, {"run_id": 1, "updated_at": later})
    rows = session.exec(
        select(Prediction.created_at, Prediction.updated_at, Prediction.score).order_by(
            Prediction.task_id
        )
    ).all()
    assert [(c.replace(tzinfo=UTC), u.replace(tzinfo=UTC), s) for c, u, s in rows] == [
        (T0, later, 0.5), (later, later, 1.0), (T0, later, None)]  # fmt: skip
    if session.get_bind().dialect.name == "sqlite":
        texts = (cast(Prediction.created_at, Text), cast(Prediction.updated_at, Text))
        stored = session.exec(select(*texts).order_by(Prediction.task_id)).all()  # type: ignore[call-overload]
        naive = [T0.replace(tzinfo=None), later.replace(tzinfo=None)]
        assert [tuple(row) for row in stored] == [
            (naive[0].isoformat(" "), naive[1].isoformat(" ")),
            (naive[1].isoformat(" "), naive[1].isoformat(" ")),
            (naive[0].isoformat(" "), naive[1].isoformat(" ")),
        ]
        assert stored[0][0] == "2026-01-01 12:00:00"


def test_texts_numbers_truths_and_nulls_are_stored_as_given(session):
    # On PostgreSQL the rows go through COPY: a backslash, a tab, a newline and a carriage
    # return in a text, JSON holding escapes, ints in a float column, and nulls among each kind
    # all come back as given.
    task_ids = tasks_of_a_run(session, 4)
    title = 'v1\t"quoted"\\ \n\r\\N end é'
    results = [Encoded('[{"text": "a\\tb\\\\c\\n\\"d\\""}]'), Encoded('[{"x": "\\\\."}]'),
               [{"text": "line\nnext\t\\"}], None]  # fmt: skip
    columns = {
        "task_id": task_ids, "result": results, "score": [0.1, 2, None, 1e-300],
        "correct": [True, False, None, True], "prompt_tokens": [0, 2**31 - 1, None, 7],
        "created_at": [T0, T0, T0, T0],
    }  # fmt: skip
    insert_columns(session, table_of(Prediction), columns, {"run_id": 1, "model_version": title})
    rows = session.exec(
        select(
            Prediction.result,
            Prediction.score,
            Prediction.correct,
            Prediction.prompt_tokens,
            Prediction.model_version,
        ).order_by(Prediction.task_id)  # fmt: skip
    ).all()
    assert [tuple(row) for row in rows] == [
        ([{"text": 'a\tb\\c\n"d"'}], 0.1, True, 0, title),
        ([{"x": "\\."}], 2.0, False, 2**31 - 1, title),
        ([{"text": "line\nnext\t\\"}], None, None, None, title),
        (None, 1e-300, True, 7, title),
    ]
