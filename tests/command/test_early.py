"""A fresh PostgreSQL database's schema and demo rows written while the command imports
(app.early)."""

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import other_holds_the_startup_lock, postgres_database
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from app import early, launcher
from app.config import ENV_PREFIX, Settings
from app.db import make_engine, write_session
from app.migrate import STARTUP_LOCK, head_revision, head_schema_script, migrate, startup_lock
from app.seed import demo_rows_script, load_configured_seed

DEADLINE = 30  # seconds for the thread to finish


@pytest.fixture(autouse=True)
def no_early_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(early.URL_SETTING, raising=False)
    monkeypatch.delenv(early.SEED_SETTING, raising=False)
    monkeypatch.setattr(early, "_early", None)
    yield


@pytest.fixture
def fresh() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def prepared(argv: list[str], *, confirm: str | None, demo: bool = True) -> early.EarlySchema:
    started = early.begin(argv)
    assert started is not None
    if confirm is None:
        early.abandon()
    else:
        early.confirm(confirm, demo=demo)
    started.join(DEADLINE)
    return started


def test_the_shipped_schema_script_is_what_a_fresh_database_is_sent(tmp_path: Path) -> None:
    generated = head_schema_script(make_engine("postgresql+psycopg://").dialect)
    assert generated is not None
    shipped = early.SCHEMA.read_text().removesuffix("\n").split(";\n")
    statements = generated.split(";\n")
    (tmp_path / "early_schema.sql").write_text(generated + "\n")
    stale = f"app/early_schema.sql is stale: {tmp_path / 'early_schema.sql'} is new"
    assert sorted(shipped) == sorted(statements), stale
    # The order too, but for a table's indexes, which SQLAlchemy keeps in a set.
    ordered = [s for s in statements if not s.startswith("CREATE INDEX")]
    assert [s for s in shipped if not s.startswith("CREATE INDEX")] == ordered, stale


def test_the_shipped_demo_script_is_the_demo_rows(tmp_path: Path) -> None:
    generated = demo_rows_script(make_engine("postgresql+psycopg://").dialect) + "\n"
    (tmp_path / "early_demo.sql").write_text(generated)
    stale = f"app/early_demo.sql is stale: {tmp_path / 'early_demo.sql'} is new"
    assert early.DEMO.read_text() == generated, stale


def stored(url: str) -> dict[str, list[str]]:
    """Every row of every table as PostgreSQL writes it out (a JSON null is not an SQL NULL
    there), and each sequence's last value."""
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        rows = {
            table.name: connection.execute(
                f'SELECT array_agg(t::text ORDER BY t::text) FROM "{table.name}" t'
            ).fetchone()[0]
            or []
            for table in SQLModel.metadata.sorted_tables
        }
        sequences = "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1"
        rows["sequences"] = [str(row) for row in connection.execute(sequences)]
    return rows


def test_the_early_demo_rows_are_what_a_start_inserts() -> None:
    with postgres_database() as early_url, postgres_database() as usual_url:
        prepared(["serve", "--database-url", early_url], confirm=early_url)
        engine = make_engine(usual_url)
        migrate(engine, create_when_empty=True)
        with write_session(engine) as session:
            load_configured_seed(session, Settings())
        engine.dispose()
        usual = stored(usual_url)
        assert len(usual["task"]) == 470
        assert stored(early_url) == usual


def test_a_seed_file_gets_the_schema_without_the_demo(fresh, monkeypatch) -> None:
    monkeypatch.setenv(early.SEED_SETTING, "seed.yaml")
    prepared(["serve", "--database-url", fresh], confirm=fresh, demo=False)
    assert revision(fresh) == head_revision()
    assert stored(fresh)["organization"] == []


def test_a_start_seeded_otherwise_than_guessed_rolls_back(fresh: str) -> None:
    prepared(["serve", "--database-url", fresh], confirm=fresh, demo=False)
    assert tables(fresh) == []


def test_a_confirmed_start_finds_the_schema_at_the_newest_revision(fresh: str) -> None:
    prepared(["serve", "--database-url", fresh], confirm=fresh)
    assert revision(fresh) == head_revision()
    engine = make_engine(fresh)
    migrate(engine, create_when_empty=True)  # nothing left to do
    engine.dispose()
    assert len(tables(fresh)) == 22


def test_the_environment_names_the_database_and_a_flag_overrides_it(fresh, monkeypatch) -> None:
    monkeypatch.setenv(early.URL_SETTING, fresh)
    prepared(["serve", "--port", "0"], confirm=fresh)
    assert revision(fresh) == head_revision()
    other = "postgresql+psycopg://postgres@127.0.0.1:1/elsewhere"
    assert early._database_url(["serve", f"--database-url={other}"]) == other
    assert early._database_url(["serve", "--database-url", other]) == other


def test_an_abandoned_start_leaves_the_database_empty_and_unlocked(fresh: str) -> None:
    prepared(["serve", "--database-url", fresh], confirm=None)
    assert tables(fresh) == []
    assert not other_holds_the_startup_lock(make_engine(fresh))


def test_a_start_serving_another_database_rolls_the_schema_back(fresh: str) -> None:
    prepared(["serve", "--database-url", fresh], confirm=fresh + "_other")
    assert tables(fresh) == []


def test_an_existing_database_is_left_to_the_migrations(fresh: str) -> None:
    with psycopg.connect(fresh.replace("+psycopg", "")) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
    prepared(["serve", "--database-url", fresh], confirm=fresh)
    assert tables(fresh) == ["alembic_version"]
    assert revision(fresh) == "0001"


def test_two_starts_at_once_create_the_schema_once(fresh: str) -> None:
    """Two replicas' threads, and a start creating it the usual way, on one fresh database."""
    first = early.EarlySchema(fresh, demo=True)
    second = early.EarlySchema(fresh, demo=True)

    def start_as_usual() -> None:  # app.main's lifespan
        engine = make_engine(fresh)
        with startup_lock(engine):
            migrate(engine, create_when_empty=True)
        engine.dispose()

    usual = threading.Thread(target=start_as_usual)
    usual.start()
    first.decide(commit=True)
    second.decide(commit=True)
    for thread in (first, second, usual):
        thread.join(DEADLINE)
    assert revision(fresh) == head_revision()
    assert len(tables(fresh)) == 22


def test_the_lock_and_the_settings_are_the_start_ups() -> None:
    """app.early names them without importing their modules."""
    assert early.STARTUP_LOCK == STARTUP_LOCK
    assert early.URL_SETTING == ENV_PREFIX + "database_url".upper()
    assert early.SEED_SETTING == ENV_PREFIX + "seed_file".upper()
    assert {"database_url", "seed_file"} <= set(Settings.model_fields)


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],  # SQLite in the data directory
        ["serve", "--database-url", "sqlite:///x.sqlite3"],
        ["serve", "--database-url", "postgresql://postgres@127.0.0.1/x"],  # another driver
        ["serve", "--database-url", "postgresql+psycopg://postgres@127.0.0.1/x?sslmode=off"],
        ["--help"],
    ],
)
def test_only_serving_postgresql_through_psycopg_starts_early(argv: list[str]) -> None:
    assert early.begin(argv) is None


def test_an_unreachable_database_is_left_for_the_start_to_report(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    prepared(["serve", "--database-url", url], confirm=url)  # no error here


def test_an_invalid_setting_leaves_the_database_untouched(fresh, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.argv", ["lse-emulator", "serve", "--database-url", fresh,
                                     "--max-body-bytes", "1"])  # fmt: skip
    try:
        assert launcher.main() == 2
    finally:
        gc.enable()
    assert "max_body_bytes" in capsys.readouterr().err
    assert early._early is not None
    early._early.join(DEADLINE)
    assert tables(fresh) == []
