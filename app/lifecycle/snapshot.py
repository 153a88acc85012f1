"""The whole emulator state as one JSON document: export, import, and reset to the boot state."""

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Table,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel

from app.config import Settings
from app.db import bulk_write_session, emulator_state, has_serial_id, sync_sequences
from app.errors import BadRequest
from app.lifecycle.clock import EARLIEST, LATEST, Clock
from app.lifecycle.policy import Policy
from app.lifecycle.runs import OUTCOMES
from app.models import (
    EmulatorState,
    ModelRun,
    ProjectSubset,
    ProjectTaskCount,
    RunStatus,
    UTCDateTime,
    utcnow,
)
from app.render import iso, read_column
from app.seed import load_configured_seed

FORMAT = "lse-emulator/1"
STATE_TABLE = EmulatorState.__tablename__
# What runs, tokens and fault rules add to the seed data; a reset removes it.
ADDED_SINCE_BOOT = {
    "access_token", "model_run", "run_task", "prediction", "failed_prediction", "run_event",
    "fault_rule",
    "project_import",
    "refine_job",
}  # fmt: skip


# On PostgreSQL, from this many rows on emptying tables by TRUNCATE beats deleting them: its
# cost is fixed per table (new files for the table and each index), about 0.1 s for all, while
# the few runs a reset between two tests removes are deleted in milliseconds.
TRUNCATE_FROM_ROWS = 10_000
# Kept by the database from other tables (triggers): never exported nor imported, emptied with
# the tables it follows.
DERIVED_TABLES = {ProjectTaskCount.__tablename__}


def _tables() -> list[Table]:
    """Every table of the state document (all but the state row and the derived tables),
    parents before children."""
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if t.name != STATE_TABLE and t.name not in DERIVED_TABLES
    ]


def _derived_tables() -> list[Table]:
    return [SQLModel.metadata.tables[name] for name in sorted(DERIVED_TABLES)]


def _datetime_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if isinstance(c.type, UTCDateTime)}


def _rows(session: Session, table: Table) -> list[dict[str, Any]]:
    """A table's rows as JSON values, ordered by primary key: datetimes and JSON read as the
    answers read them (the text of each, decoded by orjson), fetched at once."""
    return [dict(row) for row in session.connection().execute(_read_rows(table)).mappings().all()]


@functools.cache
def _read_rows(table: Table) -> Select[Any]:
    return select(*map(read_column, table.columns)).order_by(*table.primary_key.columns)


# Write-only secrets: exported only when the control plane is guarded by an admin token.
SECRET_COLUMNS = {
    "model_provider_connection": ("api_key", "auth_token", "google_application_credentials"),
}


def export_state(session: Session, include_secrets: bool = True) -> dict[str, Any]:
    """Every row of every table, ordered by primary key, and the clock and policy. Without
    ``include_secrets``, the secret columns are exported as null (importing that document
    gives back the same document)."""
    state = emulator_state(session)
    tables = {table.name: _rows(session, table) for table in _tables()}
    if not include_secrets:
        for name, columns in SECRET_COLUMNS.items():
            for row in tables.get(name, []):
                row.update(dict.fromkeys(columns))
    return {
        "format": FORMAT,
        "secret_key": state.secret_key,
        "clock": {
            "frozen_at": iso(state.clock_frozen_at),
            "offset_seconds": state.clock_offset_seconds,
        },
        "policy": state.policy,
        "tables": tables,
    }


class StateDocumentError(BadRequest):
    """A document that is not an export of this emulator."""


# Columns whose text names one of a few values the lifecycle knows.
CHOICES: dict[tuple[str, str], set[str | None]] = {
    ("model_run", "status"): set(RunStatus),
    ("model_run", "project_subset"): set(ProjectSubset),
    ("model_run", "outcome"): {None, *OUTCOMES},
    ("run_event", "from_status"): {None, *RunStatus},
    ("run_event", "to_status"): set(RunStatus),
}


def _check_types(table: Table, row: dict[str, Any], where: str) -> None:
    """Each value of a row is one its column stores and reads back (SQLite would store any)."""
    for column in table.columns:
        value = row.get(column.name)
        if value is None:
            continue
        kind = column.type
        if isinstance(kind, Boolean):
            ok = isinstance(value, bool)
        elif isinstance(kind, Integer):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(kind, Float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif isinstance(kind, String):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise StateDocumentError(f"{where}.{column.name}: {value!r} is not a {kind}")
        allowed = CHOICES.get((table.name, column.name))
        if allowed is not None and value not in allowed:
            raise StateDocumentError(f"{where}.{column.name}: {value!r} is not one of its values")


def _check_totals(row: dict[str, Any], where: str) -> None:
    """A run's totals keep 0 <= correct <= predictions <= tasks, imported ones too."""
    totals = [row.get(k) or 0 for k in ("total_correct_predictions", "total_predictions",
                                         "total_tasks")]  # fmt: skip
    if not all(isinstance(t, int) for t in totals) or not 0 <= totals[0] <= totals[1] <= totals[2]:
        raise StateDocumentError(
            f"{where}: totals must keep "
            "0 <= total_correct_predictions <= total_predictions <= total_tasks"
        )


def import_state(session: Session, document: Any) -> None:
    """Replace the whole state with an exported document."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateDocumentError(f'document: "format" must be "{FORMAT}"')
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise StateDocumentError("document: tables must be an object of table name to rows")
    known = {t.name for t in _tables()}
    unknown = sorted(set(tables) - known)
    if unknown:
        raise StateDocumentError(f"tables: unknown table {unknown[0]!r}")
    try:
        policy = Policy.model_validate(document.get("policy")).model_dump()
        clock = document["clock"]
        frozen_at = clock["frozen_at"]
        offset = float(clock["offset_seconds"])
        secret = str(document["secret_key"])
        frozen = datetime.fromisoformat(frozen_at) if frozen_at else None
        if frozen is not None and frozen.tzinfo is None:
            raise ValueError("clock.frozen_at has no time zone")
        shown = frozen or utcnow() + timedelta(seconds=offset)
        if not EARLIEST <= shown <= LATEST:
            raise ValueError("the clock would show an instant out of its range")
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise StateDocumentError(
            f"document: clock, policy or secret_key invalid ({error})"
        ) from None
    state = emulator_state(session)
    # The seed tables stay as the seed made them when the document carries them unchanged.
    seed_kept = not state.seed_changed and all(
        _rows(session, table) == tables.get(table.name, [])
        for table in _tables()
        if table.name not in ADDED_SINCE_BOOT
    )
    _clear(session, [*_tables(), *_derived_tables()])
    for table in _tables():
        rows = tables.get(table.name, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise StateDocumentError(f"tables.{table.name}: must be a list of rows")
        stamps = _datetime_columns(table)
        columns = {c.name for c in table.columns}
        for index, row in enumerate(rows):
            extra = set(row) - columns
            if extra:
                raise StateDocumentError(
                    f"tables.{table.name}[{index}]: unknown column {sorted(extra)[0]!r}"
                )
            _check_types(table, {k: v for k, v in row.items() if k not in stamps},
                         f"tables.{table.name}[{index}]")  # fmt: skip
            for key in stamps & set(row):
                if row[key] is not None:
                    row[key] = _instant(row[key], f"tables.{table.name}[{index}].{key}")
            if table.name == ModelRun.__tablename__:
                _check_totals(row, f"tables.{table.name}[{index}]")
        if rows:
            statement = insert(table)
            if table.name == "task":
                # With RETURNING, SQLAlchemy sends up to 1,000 rows an INSERT on PostgreSQL, not
                # one statement per row: the task counts' triggers run once per statement.
                statement = statement.returning(table.c.id)
            try:
                session.execute(statement, rows)
            except (SQLAlchemyError, OverflowError) as error:
                # A missing parent, a duplicate id, a null or mistyped value: the database says.
                problem = str(getattr(error, "orig", None) or error).splitlines()[0]
                raise StateDocumentError(f"tables.{table.name}: {problem}") from None
    state.secret_key = secret
    state.policy = policy
    state.clock_frozen_at = frozen
    state.clock_offset_seconds = offset
    state.seed_changed = not seed_kept
    session.add(state)
    sync_sequences(session)
    if session.get_bind().dialect.name == "postgresql":
        # The planner's statistics of the rows just loaded, before the first read: without
        # them PostgreSQL guesses, and searched a version's latest scored run through every
        # Completed run (100-280 ms for the prompts list of 50 prompts, against 2 ms with
        # them) until autovacuum analysed the table, a minute or more later. ANALYZE in the
        # import's transaction counts the rows it inserted. Stored JSON, which no plan filters
        # on, is left out: its values are most of the sampling's work (the predictions' 20,000
        # rows of the benchmark: 180 ms whole, 90 ms without).
        loaded = [_analysed(table) for table in _tables() if tables.get(table.name)]
        if loaded:
            session.execute(text("ANALYZE " + ", ".join(loaded)))


def _analysed(table: Table) -> str:
    """A table and its columns as ANALYZE names them, its stored JSON left out."""
    columns = [f'"{c.name}"' for c in table.columns if not isinstance(c.type, JSON)]
    return f'"{table.name}" ({", ".join(columns)})'


def _instant(value: Any, where: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise StateDocumentError(f"{where}: {value!r} is not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise StateDocumentError(f"{where}: {value!r} has no time zone")
    return instant


def reset_state(engine: Engine, settings: Settings, clock: Clock) -> None:
    """Back to the boot state: only the seed data, the clock on wall time, the settings' policy.

    The seed tables are reloaded only when a seed upsert or an import may have changed them;
    otherwise only what runs and tokens added is removed."""
    with bulk_write_session(engine) as session:
        _reset(session, settings, clock)


def _reset(session: Session, settings: Settings, clock: Clock) -> None:
    state = emulator_state(session)
    if state.seed_changed:
        _clear(session, [*_tables(), *_derived_tables()])
        load_configured_seed(session, settings)
    else:
        _clear(session, [t for t in _tables() if t.name in ADDED_SINCE_BOOT])
    clock.reset(session)
    state.policy = Policy.from_settings(settings).model_dump()
    state.seed_changed = False
    session.add(state)
    sync_sequences(session)


def _delete_rows(session: Session, tables: list[Table]) -> None:
    for table in reversed(tables):  # children first
        session.connection().execute(delete(table))


def _rows_up_to(session: Session, tables: list[Table], limit: int) -> int:
    """How many rows the tables hold, counted no further than ``limit`` in each."""
    counts = (
        f'(SELECT count(*) FROM (SELECT 1 FROM "{t.name}" LIMIT {limit}) AS r)' for t in tables
    )
    return int(session.execute(text(f"SELECT {' + '.join(counts)}")).scalar_one())


def _clear(session: Session, tables: list[Table]) -> None:
    """Empty tables (given parents first)."""
    if session.get_bind().dialect.name == "postgresql":
        # A lifecycle step locks its run before the run's tasks and predictions; emptying the
        # children first would deadlock with a step under way, so wait for the runs first.
        session.execute(text(f'LOCK TABLE "{ModelRun.__tablename__}" IN EXCLUSIVE MODE'))
        if _rows_up_to(session, tables, TRUNCATE_FROM_ROWS) < TRUNCATE_FROM_ROWS:
            _delete_rows(session, tables)
            # As TRUNCATE's RESTART IDENTITY does: the seed's generated rows get their ids again.
            restarts = [
                f"setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false)"
                for t in filter(has_serial_id, tables)
            ]
            session.execute(text(f"SELECT {', '.join(restarts)}"))
        else:
            names = ", ".join(f'"{table.name}"' for table in tables)
            session.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    else:
        # SQLite as Python ships it overwrites every freed page with zeros (secure_delete): the
        # commit of emptied tables then wrote them whole again. FAST zeroes only what is written
        # anyway, for this connection, and the setting goes back afterwards.
        secure = session.execute(text("PRAGMA secure_delete")).scalar_one()
        session.execute(text("PRAGMA secure_delete = FAST"))
        try:
            _delete_rows(session, tables)
        finally:
            session.execute(text(f"PRAGMA secure_delete = {int(secure)}"))
    session.expire_all()
