"""Storage: the SQLite settings every connection gets, write transactions that hold the lock
from their start (queued first come, first served, let through once the one before has
ended), the checkpoints made beside the writers, reads that take none, and the guards of the
shared state row and of ids no column can hold."""

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import postgres_database
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from app import db
from app.db import (
    WriteGate,
    bulk_write_session,
    clock_and_policy,
    emulator_state,
    get_by_id,
    make_engine,
    read_session,
    reads_wait_on_network,
    single_read,
    write_session,
)
from app.lifecycle.model import task_inputs
from app.models import MAX_ID, Project
from app.seed import load_seed, parse_seed

STATE_MISSING = "emulator state missing: the database was not initialised"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'nested' / 'emulator.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def migrated_engine(migrated_database_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database_url)
    yield engine
    engine.dispose()


def pragma(connection, name: str) -> object:
    return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_an_sqlite_database_gets_its_directory_and_each_connection_its_settings(
    sqlite_engine, tmp_path
):
    # WAL, a 30 s busy wait, NORMAL (1) durability, foreign keys enforced, 8 MiB of pages.
    expected = {
        "journal_mode": "wal",
        "busy_timeout": 30000,
        "synchronous": 1,
        "foreign_keys": 1,
        "cache_size": -8192,
        "wal_autocheckpoint": 16384,
    }
    with sqlite_engine.connect() as connection:
        assert {name: pragma(connection, name) for name in expected} == expected
    assert (tmp_path / "data" / "nested" / "emulator.sqlite3").is_file()
    # Enough pooled connections for the thread pool and the event loop.
    assert (sqlite_engine.pool.size(), sqlite_engine.pool._max_overflow) == (16, 14)


def test_the_sqlite_pool_hands_out_the_connection_used_last_first(sqlite_engine):
    first, second = sqlite_engine.connect(), sqlite_engine.connect()
    ids = [id(first.connection.dbapi_connection), id(second.connection.dbapi_connection)]
    first.close()
    second.close()  # returned last: its page cache is the one a write left warm
    with sqlite_engine.connect() as again:
        assert id(again.connection.dbapi_connection) == ids[1]


def test_a_postgresql_engine_pools_as_many_connections():
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/unused")
    assert (engine.pool.size(), engine.pool._max_overflow) == (16, 14)
    assert reads_wait_on_network(engine) is True
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_pooled_connection_the_server_ended_is_replaced_and_a_sound_one_is_not_pinged(
    monkeypatch,
):
    with postgres_database() as url:
        engine = make_engine(url)
        pings: list[object] = []
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda raw: pings.append(raw) or ping(raw))
        try:
            first = backend_pid(engine)
            assert backend_pid(engine) == first  # the same connection, back from the pool
            assert pings == []  # sound: no round trip to check it
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
                while admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (first,)
                ).fetchone():
                    time.sleep(0.01)
            # Ended while idle in the pool: pinged as it leaves it, and replaced.
            assert backend_pid(engine) != first
            assert len(pings) == 1
        finally:
            engine.dispose()


def test_an_sqlite_read_waits_on_no_network(sqlite_engine):
    assert reads_wait_on_network(sqlite_engine) is False


def other_writer(path: str) -> sqlite3.Connection:
    """A second connection that gives up at once when the write lock is taken."""
    return sqlite3.connect(path, timeout=0, isolation_level=None)


def test_a_write_transaction_holds_the_lock_from_its_start_and_a_read_takes_none(sqlite_engine):
    path = sqlite_engine.url.database
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE noted (value INTEGER)")
    other = other_writer(path)
    with Session(sqlite_engine) as session:
        session.execute(text("SELECT 1"))
        other.execute("BEGIN IMMEDIATE")  # a read transaction leaves the lock free
        other.execute("ROLLBACK")
    with write_session(sqlite_engine) as session:
        # Before the transaction writes anything, the lock is already its own.
        session.execute(text("SELECT 1"))
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other.execute("BEGIN IMMEDIATE")
        session.execute(text("INSERT INTO noted VALUES (1)"))
    # Committed: the lock is free again, for this process's next writer as for another.
    with write_session(sqlite_engine) as session:
        session.execute(text("INSERT INTO noted VALUES (2)"))
    other.execute("BEGIN IMMEDIATE")
    assert other.execute("SELECT value FROM noted ORDER BY value").fetchall() == [(1,), (2,)]
    other.execute("ROLLBACK")
    other.close()


def test_a_rolled_back_write_frees_the_lock_for_the_next_writer(sqlite_engine):
    writer = sqlite_engine.execution_options(write=True)
    with writer.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        connection.rollback()
    other = other_writer(sqlite_engine.url.database)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    with write_session(sqlite_engine) as session:
        session.execute(text("SELECT 1"))


def test_a_single_read_opens_no_transaction(sqlite_engine):
    with single_read(sqlite_engine) as connection:
        assert connection.exec_driver_sql("SELECT 7").scalar() == 7
        assert connection.connection.dbapi_connection.in_transaction is False
    with read_session(sqlite_engine) as session:
        session.execute(text("SELECT 7"))
        assert session.connection().connection.dbapi_connection.in_transaction is True


def test_a_single_read_given_a_connection_uses_that_connection(sqlite_engine):
    with sqlite_engine.connect() as given, single_read(given) as connection:
        assert connection is given


def test_a_bulk_write_lifts_foreign_keys_only_while_it_lasts(sqlite_engine):
    with bulk_write_session(sqlite_engine) as session:
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 0
    with sqlite_engine.connect() as connection:
        assert pragma(connection, "foreign_keys") == 1


def test_a_writer_let_through_the_gate_finds_the_database_lock_free(sqlite_engine):
    # The gate opens once the transaction before it has ended (committed or rolled back), not
    # when SQLAlchemy tells of its end: with no busy wait, a BEGIN IMMEDIATE that met SQLite's
    # lock still taken would fail at once.
    event.listen(
        sqlite_engine, "connect", lambda raw, _record: raw.execute("PRAGMA busy_timeout=0")
    )
    with write_session(sqlite_engine) as session:
        session.execute(text("CREATE TABLE noted (value INTEGER)"))
    failures: list[BaseException] = []

    def writer() -> None:
        for value in range(100):
            try:
                with write_session(sqlite_engine) as session:
                    session.execute(text("INSERT INTO noted VALUES (:value)"), {"value": value})
                    if value % 2:
                        raise ValueError("rolled back")
            except ValueError:
                pass
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM noted").scalar() == 200


def test_the_write_gate_serves_writers_first_come_first_served():
    gate = WriteGate(timeout=10)
    gate.acquire()
    order: list[str] = []

    def writer(name: str) -> None:
        gate.acquire()
        order.append(name)
        gate.release()

    threads = []
    for name in ("first", "second", "third"):
        thread = threading.Thread(target=writer, args=(name,), daemon=True)
        thread.start()
        threads.append(thread)
        # Each waits in line before the next arrives.
        deadline = time.monotonic() + 10
        while len(gate._waiters) < len(threads):
            assert time.monotonic() < deadline, f"{name} never waited for the lock"
            time.sleep(0.001)
    gate.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["first", "second", "third"]
    gate.acquire()  # free again once the last writer left


def test_a_writer_that_waits_too_long_gives_up_and_leaves_the_line():
    gate = WriteGate(timeout=0.01)
    gate.acquire()
    failed: list[BaseException] = []

    def writer() -> None:
        try:
            gate.acquire()
        except TimeoutError as error:
            failed.append(error)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert [str(e) for e in failed] == ["waited too long for the database write lock"]
    gate.release()
    gate.acquire()  # no one left in line: the lock is free


def write_pages(engine: Engine, pages: int) -> None:
    """A write transaction of about ``pages`` pages of the log."""
    with write_session(engine) as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS blob (value BLOB)"))
        session.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :pages)"
                " INSERT INTO blob SELECT randomblob(3500) FROM n"
            ),
            {"pages": pages},
        )


def wait_until(condition, failure: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.01)


def checkpointers() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "checkpointer"}


def test_the_log_is_copied_into_the_database_by_the_checkpointer_not_by_a_writer(sqlite_engine):
    # 500 pages: under every connection's own threshold (SQLite's 1,000 too), so no commit
    # copies them into the database file; the checkpointer does, beside the writers.
    path = Path(sqlite_engine.url.database)
    write_pages(sqlite_engine, 500)
    wait_until(lambda: path.stat().st_size >= 500 * 3500, "the log was never copied")
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM blob").scalar() == 500


def test_a_long_log_starts_over_though_writers_keep_writing(sqlite_engine, monkeypatch):
    # A checkpoint copies the log as far as it was when it began; the rest, appended by the
    # writer meanwhile, is copied holding the write gate, so that the next write starts the log
    # over. With the connections' own backstop out of reach, only that can start it over while
    # a writer writes back to back for 1.5 s: without it the log holds all that was written.
    monkeypatch.setattr(db, "CHECKPOINT_PAGES", 64)
    monkeypatch.setattr(db, "BACKSTOP_PAGES", 10**6)
    path = Path(sqlite_engine.url.database)
    write_pages(sqlite_engine, 16)
    first = log_restarts(path)
    written, began = 16, time.monotonic()
    while time.monotonic() - began < 1.5:
        write_pages(sqlite_engine, 16)
        written += 16
    assert log_restarts(path) - first >= 2
    assert Path(f"{path}-wal").stat().st_size < written * 4096 / 2
    wait_until(lambda: path.stat().st_size >= written * 3500, "the log was never copied")
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM blob").scalar() == written


def log_restarts(path: Path) -> int:
    """How many times the write-ahead log has started over: its header's checkpoint sequence
    number (bytes 12-15), which SQLite counts up each time a writer starts the log over."""
    with open(f"{path}-wal", "rb") as log:
        return int.from_bytes(log.read(16)[12:16], "big")


def test_the_checkpointer_starts_with_the_first_write_and_ends_with_the_engine(tmp_path):
    path = tmp_path / "emulator.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    before = checkpointers()
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert checkpointers() == before  # a read starts none
    write_pages(engine, 1)
    started = checkpointers() - before
    assert len(started) == 1
    write_pages(engine, 1)
    assert checkpointers() - before == started  # one an engine
    engine.dispose()
    assert not any(thread.is_alive() for thread in started)
    # Its connection closed too: the last one closed copied the log and removed it.
    assert not Path(f"{path}-wal").exists()
    write_pages(engine, 1)  # a disposed engine used again gets a checkpointer again
    assert len(checkpointers() - before - started) == 1
    engine.dispose()


def test_a_database_in_memory_gets_no_checkpointer():
    engine = make_engine("sqlite://")
    before = checkpointers()
    write_pages(engine, 1)
    assert checkpointers() == before
    engine.dispose()


def test_a_failed_checkpoint_is_logged_and_the_next_one_still_runs(
    sqlite_engine, monkeypatch, caplog
):
    path = Path(sqlite_engine.url.database)
    real = db._checkpoint
    failures = [sqlite3.OperationalError("disk I/O error")]

    def checkpoint(connection: sqlite3.Connection) -> int:
        if failures:
            raise failures.pop()
        return real(connection)

    monkeypatch.setattr(db, "_checkpoint", checkpoint)
    write_pages(sqlite_engine, 1)
    wait_until(lambda: not failures, "no checkpoint was tried")
    write_pages(sqlite_engine, 500)
    wait_until(lambda: path.stat().st_size >= 500 * 3500, "no checkpoint after the failed one")
    assert [r.getMessage() for r in caplog.records if r.name == "lse_emulator"] == [
        f"checkpoint of {path} failed: disk I/O error"
    ]


def test_an_uninitialised_database_has_no_state_row_and_no_row_for_impossible_ids(
    migrated_engine,
):
    with Session(migrated_engine) as session:
        with pytest.raises(RuntimeError, match=f"^{STATE_MISSING}$"):
            emulator_state(session)
        with pytest.raises(RuntimeError, match=f"^{STATE_MISSING}$"):
            clock_and_policy(session)
        # Ids from a URL that no id column can hold name no row (and are never sent).
        for row_id in (0, -1, MAX_ID + 1, 2**70):
            assert get_by_id(session, Project, row_id) is None


# A project loaded just now, as a seed or an import leaves it: 6,000 of its 20,000 tasks have a
# ground-truth annotation, and the database has no statistics of them yet.
LOADED_PROJECT = {
    "organizations": [{"id": 1, "title": "Acme"}],
    "users": [{"id": 1, "email": "ada@acme.test", "username": "ada", "organization": 1,
               "token": "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"}],
    "projects": [{"id": 1, "title": "Tickets", "organization": 1, "tasks": 20000,
                  "ground_truth": 6000}],
}  # fmt: skip


def test_a_tasks_first_ground_truth_is_read_from_the_start_of_its_range_of_the_index(
    migrated_engine,
):
    """A batch of tasks reads each one's first ground-truth annotation from the task-and-id
    index (revision 0010), not by walking every annotation in id order, which PostgreSQL chose
    without statistics when the annotations were indexed by task alone."""
    with write_session(migrated_engine) as session:
        load_seed(session, parse_seed(LOADED_PROJECT, "project.yaml"), "project.yaml")
    statements: list[tuple[str, object]] = []

    def capture(connection, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    event.listen(migrated_engine, "before_cursor_execute", capture)
    try:
        with read_session(migrated_engine) as session:
            _, truths = task_inputs(session, list(range(1, 1001)))
    finally:
        event.remove(migrated_engine, "before_cursor_execute", capture)
    assert 0 < len(truths) < 1000  # ground truths are spread over the project's tasks
    # The one statement that reads them (a new connection says some words of its own first).
    ((statement, parameters),) = [sent for sent in statements if "annotation" in sent[0]]
    explain = "EXPLAIN " if migrated_engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with migrated_engine.connect() as connection:
        plan = str(connection.exec_driver_sql(explain + statement, parameters).all())
    assert re.search(r"\bix_annotation_task\b", plan) and "annotation_pkey" not in plan, plan
