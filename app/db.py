"""Engine, sessions and migrations."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A write transaction that starts deferred and upgrades later can fail with
        # "database is locked" under concurrency; BEGIN IMMEDIATE waits for the lock instead.
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its start (SQLite) and commits on exit."""
    with Session(engine) as session:
        session.connection(execution_options={"write": True})
        yield session
        session.commit()


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; requests that may write lock up front."""
    engine: Engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        if request.method not in SAFE_METHODS:
            session.connection(execution_options={"write": True})
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def alembic_config(url: str) -> Config:
    """Alembic configuration for the packaged migrations and a database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


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
    """Bring the database schema to the newest revision."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
