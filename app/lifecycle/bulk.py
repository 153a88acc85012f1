"""Many rows into one table in one statement: the table's INSERT, compiled once per dialect and
set of columns, sent as the driver's executemany in pages.

Each column's bind processing (a timestamp made naive for SQLite and formatted, a title...) is
applied once per distinct value rather than once per row and column: a run's predictions share
their instants, run, version and title, and this processing cost more than the database's own
work. Values are processed exactly as SQLAlchemy would process them. No HTTP here.
"""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Dialect, Table
from sqlmodel import Session

PAGE_ROWS = 1000

Processor = Callable[[Any], Any] | None
_statements: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...], bool]] = {}


def _statement(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[str, ...], bool]:
    """The INSERT's SQL for these columns, its parameter names in order, whether positional."""
    cache_key = (dialect.name, table.name, keys)
    found = _statements.get(cache_key)
    if found is None:
        compiled = table.insert().compile(
            dialect=dialect, column_keys=list(keys), for_executemany=True
        )
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
        found = _statements[cache_key] = (compiled.string, names, positional)
    return found


def _processed(values: list[Any], processor: Processor, repeated: bool) -> list[Any]:
    if processor is None:
        return values
    if not repeated:
        return [processor(value) for value in values]
    done: dict[tuple[type, Any], Any] = {}
    out = []
    for value in values:
        key = (type(value), value)
        found = done.get(key, done)
        if found is done:
            found = done[key] = processor(value)
        out.append(found)
    return out


def _default(table: Table, name: str) -> Any:
    """The value a column's Python-side default gives a row that does not name the column."""
    default = table.c[name].default
    if default is None or not (default.is_scalar or default.is_callable):
        raise ValueError(f"{table.name}.{name} has no value and no default a row can take")
    arg = default.arg  # type: ignore[attr-defined]  # scalar and callable defaults both have it
    return arg(None) if default.is_callable else arg


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all with the same keys, the table's column names) in the session's
    transaction; columns a row does not name take their default."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    keys = tuple(rows[0])
    sql, names, positional = _statement(table, keys, dialect)
    columns: dict[str, list[Any]] = {}
    for name in names:
        column_type = dialect.type_descriptor(table.c[name].type)
        processor = column_type.bind_processor(dialect)
        if name in rows[0]:
            values = [row[name] for row in rows]
            columns[name] = _processed(values, processor, not isinstance(column_type, JSON))
        else:
            value = _default(table, name)
            columns[name] = [processor(value) if processor else value] * len(rows)
    params: list[Any]
    if positional:
        params = list(zip(*columns.values(), strict=True))
    else:
        params = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
    for start in range(0, len(params), PAGE_ROWS):
        connection.exec_driver_sql(sql, params[start : start + PAGE_ROWS])
