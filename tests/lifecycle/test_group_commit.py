"""Writes of concurrent requests stored together (GroupCommit): one job's failure or refusal
never undoes another's work."""

import asyncio
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, select, text
from sqlmodel import Session

from app.db import GROUP_INSERTS, GroupCommit, make_engine
from app.errors import BadRequest


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE noted (value INTEGER NOT NULL)")
    yield engine
    engine.dispose()


def note(value: int) -> Callable[[Session], int]:
    def job(session: Session) -> int:
        session.connection().execute(text("INSERT INTO noted VALUES (:value)"), {"value": value})
        return value

    return job


def fail(session: Session) -> int:
    raise RuntimeError("the job failed")


def refuse(session: Session) -> int:
    raise BadRequest("refused")


def run_together(engine: Engine, jobs: list[Callable[[Session], int]]) -> list[object]:
    async def submit() -> list[object]:
        writes = GroupCommit(engine)
        return await asyncio.gather(*(writes.run(job) for job in jobs), return_exceptions=True)

    return asyncio.run(submit())


def noted(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT value FROM noted ORDER BY value")).scalars())


def test_each_job_gets_its_own_answer_and_a_refusal_leaves_the_others_stored(engine):
    answers = run_together(engine, [note(1), note(2), refuse, note(3)])

    assert answers[:2] == [1, 2]
    assert isinstance(answers[2], BadRequest)
    assert answers[3] == 3
    assert noted(engine) == [1, 2, 3]


def test_a_failing_job_gets_its_error_and_the_others_are_stored_without_it(engine):
    answers = run_together(engine, [note(1), note(2), fail, note(3), note(4)])

    assert [a for a in answers if not isinstance(a, Exception)] == [1, 2, 3, 4]
    assert isinstance(answers[2], RuntimeError)
    assert noted(engine) == [1, 2, 3, 4]


def test_rows_inserted_together_give_each_job_the_id_of_its_own_row(engine):
    numbered = Table(
        "numbered",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("value", Integer, nullable=False),
    )
    numbered.create(engine)
    ids: dict[int, int] = {}

    def number(value: int) -> Callable[[Session], int]:
        def job(session: Session) -> int:
            session.info[GROUP_INSERTS].add(
                numbered, {"value": value}, partial(ids.__setitem__, value)
            )
            return value

        return job

    values = [70, 10, 50, 20, 90, 30, 60, 40, 80]
    assert run_together(engine, [number(value) for value in values]) == values

    with engine.connect() as connection:
        stored = {
            value: row_id
            for value, row_id in connection.execute(select(numbered.c.value, numbered.c.id))
        }
    assert ids == stored
    assert len(set(ids.values())) == len(values)


def test_a_refused_job_inserts_nothing_and_the_others_rows_are_inserted(engine):
    numbered = Table("numbered", MetaData(), Column("id", Integer, primary_key=True))
    numbered.create(engine)
    ids: list[int] = []

    def add(session: Session) -> int:
        session.info[GROUP_INSERTS].add(numbered, {}, ids.append)
        return 0

    answers = run_together(engine, [add, add, refuse, add])

    assert isinstance(answers[2], BadRequest)
    with engine.connect() as connection:
        assert sorted(connection.execute(select(numbered.c.id)).scalars()) == sorted(ids)
    assert len(ids) == 3
