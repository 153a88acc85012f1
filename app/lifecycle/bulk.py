"""Many rows into one table at once: on PostgreSQL through COPY (``_copy``), elsewhere (and for
a table whose INSERT computes a default itself) the table's INSERT, compiled once per dialect
and set of columns, sent as the driver's executemany in pages (one INSERT of many rows cost
psycopg more, rewriting the placeholders of a long statement).

Each column's bind processing (a timestamp made naive for SQLite and formatted, a title...) is
applied once per distinct value rather than once per row and column: a run's predictions share
their instants, run, version and title, and this processing cost more than the database's own
work. Values are processed exactly as SQLAlchemy would process them. No HTTP here.
"""

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from itertools import repeat
from types import FunctionType
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlmodel import Session

if TYPE_CHECKING:  # imported by the PostgreSQL dialect only when PostgreSQL is used
    import psycopg

PAGE_ROWS = 1000

Processor = Callable[[Any], Any] | None
NAMED = re.compile(r"%\((\w+)\)s")
_statements: dict[tuple[str, str, tuple[str, ...]], tuple[str, str, tuple[str, ...]]] = {}


def _statement(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, str, tuple[str, ...]]:
    """The INSERT for these columns as its head (up to VALUES), the placeholders of one row
    (positional, with the dialect's casts) and the column of each placeholder, in order."""
    cache_key = (dialect.name, table.name, keys)
    found = _statements.get(cache_key)
    if found is None:
        compiled = table.insert().compile(
            dialect=dialect, column_keys=list(keys), for_executemany=True
        )
        head, _, row = compiled.string.rpartition(" VALUES ")
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(NAMED.findall(row))
            row = NAMED.sub("%s", row)
        found = _statements[cache_key] = (head + " VALUES ", row, names)
    return found


def among(session: Session, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN ids`` for a batch of ids, with the ids as one parameter: an IN list of 1,000
    placeholders cost more than the query it filters, SQLAlchemy rendering each one (and on
    PostgreSQL psycopg parsing the long text again on every call, as it caches short queries
    only, and PostgreSQL planning it). On PostgreSQL an array (``= ANY``)."""
    dialect = session.get_bind().dialect.name
    return among_bound(dialect, column, None, value=ids_value(dialect, ids))


def among_bound(dialect: str, column: Any, name: str | None, **value: Any) -> ColumnElement[bool]:
    """``among`` with the ids as the bound parameter ``name`` (its value ``ids_value``'s), for
    a statement built once and executed with many batches."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger), **value))  # type: ignore[no-any-return]
    # On SQLite the ids as one JSON array, read by json_each: one parameter, one text.
    listed: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=String, **value))
    )
    return column.in_(listed)  # type: ignore[no-any-return]


def ids_value(dialect: str, ids: Collection[int]) -> Any:
    """A batch of ids as ``among_bound``'s parameter takes them on this dialect."""
    return list(ids) if dialect == "postgresql" else orjson.dumps(list(ids)).decode()


class Built:
    """Statements built once per dialect (a statement's building and its cache key cost more
    than executing it from SQLAlchemy's compiled cache): ``build`` takes the dialect's name."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        self.build = build
        self.built: dict[str, Any] = {}

    def __call__(self, dialect: str) -> Any:
        found = self.built.get(dialect)
        if found is None:
            found = self.built[dialect] = self.build(dialect)
        return found


class Encoded(str):
    """A JSON column's value already written as its text (json.dumps's, as the column's own
    processing would write it): stored as it is."""

    __slots__ = ()


def _processed(values: list[Any], processor: Processor, repeated: bool) -> list[Any]:
    if processor is None:
        return values
    if not repeated:  # a JSON column
        return [value if type(value) is Encoded else processor(value) for value in values]
    if not isinstance(processor, FunctionType):
        # A compiled processor (a float's) costs less than finding a value again.
        return list(map(processor, values))
    # Rows share their values' objects (an instant, a title, True): each object is processed
    # once, found by identity (the values are alive meanwhile, so no identity is reused).
    done: dict[int, Any] = {}
    out = []
    for value in values:
        found = done.get(id(value), done)
        if found is done:
            found = done[id(value)] = processor(value)
        out.append(found)
    return out


def _is_datetime(column_type: Any) -> bool:
    return isinstance(getattr(column_type, "impl", column_type), DateTime)


def _instant_text(processor: Processor) -> Callable[[Any], Any]:
    """A timestamp's processing followed by its text, ``isoformat(" ")``, so that the text is
    written once per instant: the driver's adapter otherwise ran per row and column, in Python.
    On SQLite it is what sqlite3's default adapter writes of the naive datetime processing gives
    (the stored text); in PostgreSQL's COPY, the aware instant's text, which PostgreSQL reads
    as the same instant (psycopg's dumper took half of a COPY's CPU writing two of them a
    row)."""

    def process(value: Any) -> Any:
        value = processor(value) if processor else value
        return value.isoformat(" ") if type(value) is datetime else value

    return process


def _default(table: Table, name: str) -> Any:
    """The value a column's Python-side default gives a row that does not name the column (the
    compiled INSERT leaves a placeholder for no other unnamed column: a SQL default is inline)."""
    default = table.c[name].default
    assert default is not None and (default.is_scalar or default.is_callable)
    arg = default.arg  # type: ignore[attr-defined]  # scalar and callable defaults both have it
    return arg(None) if default.is_callable else arg


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all with the same keys, the table's column names) in the session's
    transaction; columns a row does not name take their default."""
    if rows:
        insert_columns(session, table, {name: [one[name] for one in rows] for name in rows[0]})


def insert_columns(
    session: Session,
    table: Table,
    columns: dict[str, list[Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """``insert_rows`` with the rows given column by column: ``columns`` the values of each row
    (lists of one length), ``constants`` the value every row has (processed once)."""
    constants = constants or {}
    count = len(next(iter(columns.values())))
    if not count:
        return
    connection = session.connection()
    dialect = connection.dialect
    head, row, names = _statement(table, (*columns, *constants), dialect)
    copying = dialect.name == "postgresql" and not _inline_defaults(table, names)
    values: list[Iterable[Any]] = []
    processors = _processors(table, names, dialect, copying)
    for name, (processor, repeated) in zip(names, processors, strict=True):
        if name in columns:
            values.append(_processed(columns[name], processor, repeated))
        else:
            value = constants[name] if name in constants else _default(table, name)
            values.append(repeat(processor(value) if processor else value, count))
    params = list(zip(*values, strict=False))  # the constants repeat as many times as needed
    if copying:
        _copy(connection, table, names, params)
        return
    for start in range(0, len(params), PAGE_ROWS):
        connection.exec_driver_sql(head + row, params[start : start + PAGE_ROWS])


_column_processors: dict[tuple[str, str, tuple[str, ...]], list[tuple[Processor, bool]]] = {}


def _processors(
    table: Table, names: tuple[str, ...], dialect: Dialect, copying: bool
) -> list[tuple[Processor, bool]]:
    """Each column's bind processing (a timestamp's with its text, where the driver would write
    it) and whether its values repeat (all but JSON's), found once per dialect and set of
    columns: a type's dialect form and its processor are made anew at each call otherwise."""
    cache_key = (dialect.name, table.name, names)
    found = _column_processors.get(cache_key)
    if found is None:
        found = []
        for name in names:
            column_type = dialect.type_descriptor(table.c[name].type)
            processor: Processor = column_type.bind_processor(dialect)
            if (dialect.name == "sqlite" or copying) and _is_datetime(column_type):
                processor = _instant_text(processor)
            found.append((processor, not isinstance(column_type, JSON)))
        _column_processors[cache_key] = found
    return found


def _inline_defaults(table: Table, names: tuple[str, ...]) -> bool:
    """Whether the INSERT computes a column's default in its own text (a SQL expression, which
    COPY would not apply)."""
    return any(c.default is not None for c in table.columns if c.name not in names)


def _copy(connection: Connection, table: Table, names: tuple[str, ...], rows: list[Any]) -> None:
    """The rows through PostgreSQL's COPY, in the connection's transaction: one statement and
    one stream, where an executemany costs a statement per row (its parameters converted one
    by one, each row's execution, the pipeline's round trips). The values are the bind-
    processed ones the INSERT would send, written by the same psycopg dumpers; foreign keys
    are checked and the database's defaults applied as for an INSERT (a table whose INSERT
    computes a default itself keeps the executemany)."""
    quote = connection.dialect.identifier_preparer.quote
    command = f"COPY {quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN"
    dbapi = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    with dbapi.cursor() as cursor, cursor.copy(command) as copy:
        for one in rows:
            copy.write_row(one)
