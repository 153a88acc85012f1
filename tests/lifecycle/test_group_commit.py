"""Writes of concurrent requests stored together (GroupCommit): one job's failure or refusal
never undoes another's work."""

import asyncio
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.db import GroupCommit, make_engine
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
