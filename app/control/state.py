"""The whole emulator state as one JSON document: export, import, and reset to the boot state."""

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel

from app.config import Settings
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.models import EmulatorState, ModelRun, UTCDateTime
from app.schemas import iso
from app.seed import configured_seed, load_seed

FORMAT = "lse-emulator/1"
STATE_TABLE = EmulatorState.__tablename__


def _tables() -> list[Table]:
    """Every table but the state row, parents before children."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name != STATE_TABLE]


def _datetime_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if isinstance(c.type, UTCDateTime)}


def export_state(session: Session) -> dict[str, Any]:
    """Every row of every table, ordered by primary key, and the clock and policy."""
    state = session.get(EmulatorState, 1)
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in _tables():
        stamps = _datetime_columns(table)
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        tables[table.name] = [
            {k: iso(v) if k in stamps else v for k, v in row.items()} for row in rows
        ]
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


class StateDocumentError(ValueError):
    """A document that is not an export of this emulator."""


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
    except (KeyError, TypeError, ValueError) as error:
        raise StateDocumentError(
            f"document: clock, policy or secret_key invalid ({error})"
        ) from None
    _clear(session)
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
            for key in stamps & set(row):
                if row[key] is not None:
                    row[key] = _instant(row[key], f"tables.{table.name}[{index}].{key}")
        if rows:
            try:
                session.execute(insert(table), rows)
            except SQLAlchemyError as error:
                # A missing parent, a duplicate id, a null or mistyped value: the database says.
                problem = str(getattr(error, "orig", None) or error).splitlines()[0]
                raise StateDocumentError(f"tables.{table.name}: {problem}") from None
    state = session.get(EmulatorState, 1)
    state.secret_key = secret
    state.policy = policy
    state.clock_frozen_at = frozen
    state.clock_offset_seconds = offset
    session.add(state)
    sync_sequences(session)


def _instant(value: Any, where: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise StateDocumentError(f"{where}: {value!r} is not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise StateDocumentError(f"{where}: {value!r} has no time zone")
    return instant


def reset_state(session: Session, settings: Settings, clock: Clock) -> None:
    """Back to the boot state: only the seed data, the clock on wall time, the settings' policy."""
    _clear(session)
    load_seed(session, *configured_seed(settings))
    clock.reset(session)
    state = session.get(EmulatorState, 1)
    state.policy = Policy.from_settings(settings).model_dump()
    session.add(state)
    sync_sequences(session)


def _clear(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # A lifecycle step locks its run before the run's tasks and predictions; deleting the
        # children first would deadlock with a step under way, so wait for the runs first.
        session.execute(text(f'LOCK TABLE "{ModelRun.__tablename__}" IN EXCLUSIVE MODE'))
    for table in reversed(_tables()):
        session.execute(delete(table))
    session.expire_all()


def sync_sequences(session: Session) -> None:
    """After rows were written with explicit ids, PostgreSQL's id sequences must follow."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].autoincrement is not False and key[0].name == "id":
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                )
            )
