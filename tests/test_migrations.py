"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import other_holds_the_startup_lock
from sqlalchemy import Column, Engine, MetaData, String, Table, event, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.config import Settings
from app.db import make_engine, write_session
from app.migrate import alembic_config, head_revision, migrate, schema_script, startup_lock
from app.seed import configured_seed, load_seed


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database of each backend (the conftest's `database_url`)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _differences(engine: Engine) -> list:
    """What `alembic revision --autogenerate` would write: models versus the migrated schema."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": connection.dialect.name == "sqlite",
            },
        )
        return compare_metadata(context, SQLModel.metadata)


def test_migrations_have_a_single_head_which_start_up_knows_without_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [head_revision()]


def test_upgrade_to_head_matches_the_models(engine: Engine, database_url: str) -> None:
    migrate(engine)

    assert _differences(engine) == []
    # `alembic check` itself, through the project's env.py: raises when autogenerate sees a change.
    command.check(alembic_config(database_url))


def test_upgrade_creates_every_table_and_records_the_head(engine: Engine) -> None:
    migrate(engine)

    tables = set(inspect(engine).get_table_names())
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    assert current == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_upgrade_is_idempotent_and_downgrade_returns_to_an_empty_schema(
    engine: Engine, database_url: str
) -> None:
    migrate(engine)
    migrate(engine)
    config = alembic_config(database_url)

    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    left = _schema(engine)
    assert not left.get("(triggers)") and not left.get("(functions)")

    migrate(engine)
    assert _differences(engine) == []


def test_the_task_counts_start_from_the_tasks_already_stored(
    engine: Engine, database_url: str
) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0010")  # before PostgreSQL kept the counts
    with write_session(engine) as session:
        load_seed(session, *configured_seed(Settings()))
    command.upgrade(config, "head")

    query = (
        "SELECT project_id, count(*), sum(CASE WHEN has_ground_truth THEN 1 ELSE 0 END) "
        "FROM task GROUP BY project_id ORDER BY project_id"
    )
    kept = "SELECT project_id, tasks, ground_truth FROM project_task_count ORDER BY project_id"
    with engine.connect() as connection:
        assert connection.exec_driver_sql(kept).all() == connection.exec_driver_sql(query).all()
        assert connection.exec_driver_sql(kept).all() != []


def _schema(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table as the database describes it: columns, keys, indexes and constraints."""
    found = inspect(engine)
    described: dict[str, dict[str, object]] = {}
    for table in found.get_table_names():
        columns = {
            c["name"]: (str(c["type"]), c["nullable"], str(c.get("default")))
            for c in found.get_columns(table)
        }
        described[table] = {
            "columns": columns,
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(k["constrained_columns"]), k["referred_table"], tuple(k["referred_columns"]))
                for k in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                # With a partial index's WHERE (its dialect options).
                (
                    i["name"],
                    tuple(i["column_names"]),
                    bool(i["unique"]),
                    sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()),
                )
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        }
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            triggers = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            ).all()
        described["(triggers)"] = {name: " ".join(sql.split()) for name, sql in triggers}
    else:
        with engine.connect() as connection:
            triggers = connection.exec_driver_sql(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                "ORDER BY tgname"
            ).all()
            # A trigger's function is where its statements are.
            functions = connection.exec_driver_sql(
                "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc AS p "
                "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() ORDER BY p.proname"
            ).all()
        described["(triggers)"] = dict(triggers)
        described["(functions)"] = {name: " ".join(sql.split()) for name, sql in functions}
    return described


def test_an_empty_database_created_at_head_has_the_schema_the_migrations_build(
    engine: Engine, database_url: str
) -> None:
    migrate(engine, create_when_empty=True)
    created = _schema(engine)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    assert current == head_revision()
    command.check(alembic_config(database_url))

    with engine.begin() as connection:
        SQLModel.metadata.drop_all(connection)
        connection.exec_driver_sql("DROP TABLE alembic_version")
    migrate(engine)

    assert _schema(engine) == created
    # The claim order's index is partial either way (its WHERE is given as its table is created).
    (due_order,) = [i for i in created["model_run"]["indexes"] if i[0] == "ix_model_run_due_order"]
    assert "next_due_at IS NOT NULL" in str(due_order[3]), due_order


def test_importing_the_application_imports_no_database_dialect() -> None:
    """Each backend's dialect is imported when an engine is made on it, not by the models: a
    start on SQLite does not pay for PostgreSQL's dialect (and its drivers' modules), nor the
    other way round."""
    code = (
        "import sys, app.main; "
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_postgresql_gets_its_schema_in_one_statement_and_sqlite_one_at_a_time(
    engine: Engine,
) -> None:
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    migrate(engine, create_when_empty=True)
    creates = [statement for statement in sent if "CREATE" in statement]
    if engine.dialect.name == "postgresql":
        (script,) = creates  # tables, indexes, functions, triggers and the version row
        assert script.count("CREATE TABLE") == len(SQLModel.metadata.tables) + 1
        assert script.count("CREATE TRIGGER") == 3
        assert script.endswith(
            f"INSERT INTO alembic_version (version_num) VALUES ('{head_revision()}')"
        )
    else:
        assert len(creates) > len(SQLModel.metadata.tables)


def test_a_schema_statement_with_a_percent_sign_is_not_sent_in_a_script() -> None:
    """The driver reads "%" as a parameter's mark only when parameters come with the statement."""
    dialect = make_engine("postgresql+psycopg://").dialect
    version = Table("alembic_version", MetaData(), Column("version_num", String(32)))
    stamp = version.insert().values(version_num="0001")
    script = schema_script(dialect, version, stamp)
    assert script is not None and script.endswith("VALUES ('0001')")
    assert schema_script(dialect, version, version.insert().values(version_num="10%")) is None


def test_a_database_url_with_percent_signs_reaches_alembic_unchanged() -> None:
    # A password with an escaped character: Alembic's configuration would read "%40" as the
    # start of an interpolation.
    url = "postgresql+psycopg://lse:p%40ss@127.0.0.1:5432/lse"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url


def test_start_up_holds_a_lock_other_processes_wait_on_until_it_is_done(engine: Engine) -> None:
    assert not other_holds_the_startup_lock(engine)
    with startup_lock(engine):
        assert other_holds_the_startup_lock(engine)
    assert not other_holds_the_startup_lock(engine)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_starts_up_without_a_lock_file(tmp_path, monkeypatch, url) -> None:
    monkeypatch.chdir(tmp_path)
    with startup_lock(make_engine(url)):
        pass
    assert list(tmp_path.iterdir()) == []
