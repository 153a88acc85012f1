"""The schema's migrations (Alembic) and the lock that serialises the start-up of processes
sharing a database."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Column,
    Connection,
    Dialect,
    Engine,
    Insert,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_mock_engine,
    inspect,
    text,
)
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables on SQLModel.metadata)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
STARTUP_LOCK = 7_243_001  # a PostgreSQL advisory lock key of this application


def alembic_config(url: str) -> "Config":
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


def migrate(engine: Engine, create_when_empty: bool = False) -> None:
    """Bring the database schema to the newest revision. A database already there costs one
    query: Alembic, slow to import, is loaded only when there is something to apply. With
    ``create_when_empty``, a database without any table gets the newest schema created from the
    models and stamped at the newest revision, without Alembic (the schema the migrations build:
    tests/test_migrations.py compares the two)."""
    with engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        if "alembic_version" in tables:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if current == head_revision():
                return
        elif not tables and create_when_empty:
            create_at_head(connection)
            connection.commit()
            return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


def _version_table() -> tuple[Table, Insert]:
    """Alembic's version table (as Alembic makes it), and its row at the newest revision."""
    version = Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    return version, version.insert().values(version_num=head_revision())


def create_at_head(connection: Connection) -> None:
    """The models' tables, and Alembic's version table (as Alembic makes it) at the newest
    revision. On PostgreSQL, one script sent in one round trip (``schema_script``)."""
    version, stamp = _version_table()
    if connection.dialect.name == "postgresql":
        script = schema_script(connection.dialect, version, stamp)
        if script is not None:
            connection.exec_driver_sql(script)
            return
    SQLModel.metadata.create_all(connection)
    version.create(connection)
    connection.execute(stamp)


def head_schema_script(dialect: Dialect) -> str | None:
    """The script that creates the newest schema on an empty PostgreSQL database, as
    ``create_at_head`` sends it (shipped as app/early_schema.sql, app.early)."""
    return schema_script(dialect, *_version_table())


def schema_script(dialect: Dialect, version: Table, stamp: Insert) -> str | None:
    """The statements that create the schema on an empty database (tables, indexes, the
    triggers' functions and triggers, Alembic's version row), as one script: a statement each
    cost a round trip and SQLAlchemy's execution of it, on top of PostgreSQL's own work. None if
    a statement holds a percent sign, which the driver reads as a parameter's mark only when
    parameters come with it (never here)."""
    statements: list[str] = []

    def collect(element: ClauseElement, *_: Any, **__: Any) -> None:
        compiled = element.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        statements.append(str(compiled).strip())

    creator = create_mock_engine(URL.create(f"{dialect.name}+{dialect.driver}"), collect)
    SQLModel.metadata.create_all(creator, checkfirst=False)
    version.create(creator, checkfirst=False)
    collect(stamp)
    if any("%" in statement for statement in statements):
        return None
    return ";\n".join(statements)
