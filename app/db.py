"""Engine, sessions and migrations."""

import fcntl
import itertools
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlmodel import Session

from app.models import MAX_ID

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
T = TypeVar("T")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
STARTUP_LOCK = 7_243_001  # a PostgreSQL advisory lock key of this application


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout, write transactions that lock up front) or PostgreSQL."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy emit BEGIN itself, so a writer can take the lock before it reads.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    gate = WriteGate()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A write transaction that starts deferred and upgrades later can fail with
        # "database is locked" under concurrency; BEGIN IMMEDIATE waits for the lock instead.
        # Writers of this process queue in order at the gate rather than in SQLite's busy
        # handler, whose growing sleeps let a busy writer (the worker) starve the others.
        if not conn.get_execution_options().get("write", False):
            conn.exec_driver_sql("BEGIN")
            return
        gate.acquire()
        conn.info["gated"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop("gated")
            gate.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn) -> None:
        if conn.info.pop("gated", False):
            gate.release()

    return engine


class WriteGate:
    """A first-come, first-served lock: the one path every write transaction of a process takes."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._condition = threading.Condition()
        self._tickets = itertools.count()
        self._serving = 0
        self._skipped: set[int] = set()
        self._timeout = timeout

    def acquire(self) -> None:
        with self._condition:
            ticket = next(self._tickets)
            if not self._condition.wait_for(lambda: self._serving == ticket, self._timeout):
                # Give the turn up, or everyone behind would wait for it forever.
                self._skipped.add(ticket)
                self._advance()
                raise TimeoutError("waited too long for the database write lock")

    def release(self) -> None:
        with self._condition:
            self._serving += 1
            self._advance()

    def _advance(self) -> None:
        while self._serving in self._skipped:
            self._skipped.discard(self._serving)
            self._serving += 1
        self._condition.notify_all()


@contextmanager
def write_session(engine: Engine, durable: bool = True) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its start (SQLite) and commits on
    exit. ``durable=False`` lets PostgreSQL answer the commit before its WAL reaches the disk:
    only a crash of PostgreSQL itself could undo it, and atomically."""
    with Session(engine) as session:
        connection = session.connection(execution_options={"write": True})
        if not durable and connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL synchronous_commit = off"))
        yield session
        session.commit()


@contextmanager
def bulk_write_session(engine: Engine) -> Iterator[Session]:
    """A write session for emptying tables wholesale. On SQLite, foreign keys are not enforced
    during it, which lets SQLite drop a table's pages at once instead of deleting row by row;
    the caller keeps the references consistent (it empties children with their parents)."""
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with Session(bind=connection.execution_options(write=True)) as session:
                yield session
                session.commit()
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, opened and closed on the event loop (no thread hand-off: this
    does no I/O until used). It starts reading; ``begin_writes`` makes its next transactions
    writers, so the write lock is never held while authenticating or receiving the body."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def begin_writes(session: Session, request: Request) -> None:
    """End the session's reading transaction; for a request that may write, the following
    transactions take the write lock (SQLite) when they begin."""
    session.commit()
    if request.method not in SAFE_METHODS:
        session.bind = request.app.state.engine.execution_options(write=True)


async def get_write_session(request: Request) -> AsyncIterator[Session]:
    """A session whose transactions take the write lock when they begin (SQLite)."""
    engine = request.app.state.engine.execution_options(write=True)
    with Session(engine, expire_on_commit=False) as session:
        yield session


def get_by_id(session: Session, model: type[T], row_id: int, lock: bool = False) -> T | None:
    """A row by id; ids no database column can hold (from a URL) name no row."""
    if not 0 < row_id <= MAX_ID:
        return None
    return session.get(model, row_id, with_for_update=lock)


SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]


def alembic_config(url: str):
    """Alembic configuration for the packaged migrations and a database URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision: migration files are named after their revision id, "0001_...",
    so this is known without loading Alembic (a test holds it to Alembic's own answer)."""
    return max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Serialise start-up (migrations, seeding) of processes sharing a database."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
            connection.commit()


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest revision. A database already there costs one
    query: Alembic, slow to import, is loaded only when there is something to apply."""
    with engine.connect() as connection:
        if inspect(connection).has_table("alembic_version"):
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if current == head_revision():
                return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
