"""Answers are written byte for byte as Starlette's JSONResponse (json.dumps) writes them,
columns read for rendering decode as the ORM's types do, and request bodies parse as the
standard library's strict parse reads or refuses them."""

import enum
import json
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from conftest import LocalEmulator
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, select, text
from starlette.responses import JSONResponse as StdlibJSONResponse

from app.config import Settings
from app.db import make_engine
from app.models import UTCDateTime
from app.render import _iso_of_text, _loads_column, iso, loads_stored, read_column, stored_json
from app.responses import JSONResponse, exact_float
from app.validation import loads_json, strict_loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def both(content: object) -> tuple[bytes, bytes]:
    return JSONResponse(content).body, StdlibJSONResponse(content).body


@given(json_values)
def test_any_json_value_is_written_as_json_dumps_writes_it(value: object) -> None:
    ours, theirs = both(value)
    assert ours == theirs


@pytest.mark.parametrize(
    "value",
    [
        1e-5, -2.5e-6, 1e-7, 1.5e-9, 1e-10, 1e-300, 5e-324, 1e16, 1e22, 1.7976931348623157e308,
        0.1, -0.0, 2**64, -(2**63) - 1, 10**30, "0.00001 in a string", "one-1", "é ✓ \u2028",
        "\x00\x1f\x7f", {1: "integer key"}, {"nested": [{"a": 1e-6}]},
    ],
)  # fmt: skip
def test_numbers_and_text_where_orjson_differs_are_written_as_json_dumps_writes_them(
    value: object,
) -> None:
    ours, theirs = both(value)
    assert ours == theirs


def exact(value: object) -> object:
    """The value with each float given through exact_float."""
    if isinstance(value, float):
        return exact_float(value)
    if isinstance(value, list):
        return [exact(item) for item in value]
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    return value


@given(json_values)
def test_floats_given_as_exact_floats_are_written_as_json_dumps_writes_the_floats(
    value: object,
) -> None:
    # Whether orjson writes the whole answer or json.dumps writes it again (another float, a
    # text it writes otherwise, an integer beyond 64 bits).
    for content in (value, [value, 1e-6, "0.00001"], [value, 2**64]):
        assert JSONResponse(exact(content)).body == StdlibJSONResponse(content).body


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_orjson_writes_an_exact_float_as_json_dumps_writes_the_float(value: float) -> None:
    # So that an answer of such floats is written by orjson alone, with no second writing.
    assert orjson.dumps(exact_float(value)) == json.dumps(value).encode()


def test_a_str_enum_is_its_value() -> None:
    class Status(enum.StrEnum):
        DONE = "Completed"

    ours, theirs = both({"status": Status.DONE})
    assert ours == theirs == b'{"status":"Completed"}'


def test_a_lone_surrogate_is_refused_as_json_dumps_refuses_it() -> None:
    for response_class in (StdlibJSONResponse, JSONResponse):
        with pytest.raises(UnicodeEncodeError):
            response_class({"x": "\ud800"})


@given(json_values)
def test_stored_json_is_read_as_json_loads_reads_it(value: object) -> None:
    for stored in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert repr(loads_stored(stored)) == repr(json.loads(stored))


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", '"\\ud800"', str(2**64), "-0", "-0.0", "1E400", '{"a":1,"a":2}']
)
def test_stored_json_orjson_refuses_or_reads_alike_is_read_as_json_loads_reads_it(
    text: str,
) -> None:
    assert repr(loads_stored(text)) == repr(json.loads(text))


@given(st.lists(st.none() | json_values.map(json.dumps) | json_values.map(
    lambda value: json.dumps(value, ensure_ascii=False)
)))  # fmt: skip
def test_a_column_of_stored_json_is_read_as_each_value_is_read(stored: list[str | None]) -> None:
    assert repr(stored_json(stored)) == repr([_loads_column(value) for value in stored])


@pytest.mark.parametrize(
    "stored",
    [
        ["NaN", "[1]"], ['"\\ud800"', None], [str(2**64), "2"], ["-0", "null", "1E400"],
        ['{"a":1,"a":2}', "[1.5]"], ["[1]", "[9999999999999999999]"], [None, "null"],
    ],
)  # fmt: skip
def test_a_column_of_stored_json_orjson_refuses_or_reads_alike_is_read_as_each_value_is_read(
    stored: list[str | None],
) -> None:
    assert repr(stored_json(stored)) == repr([_loads_column(value) for value in stored])


def test_a_column_holding_a_text_of_two_values_is_refused_as_that_text_is() -> None:
    with pytest.raises(ValueError):
        _loads_column("1, 2")
    with pytest.raises(ValueError):
        stored_json(["1, 2", "3"])  # not read as the three values of one array


@given(st.datetimes(timezones=st.just(UTC)))
@settings(deadline=None)  # an engine and a table each example: slow on a busy machine, not wrong
def test_a_stored_datetime_is_read_as_iso_renders_it(moment: datetime) -> None:
    engine = create_engine("sqlite://")
    table = Table("moments", MetaData(), Column("at", UTCDateTime()))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"at": moment}])
        # Text stored without microseconds (not by SQLAlchemy) is read as well.
        connection.execute(text("INSERT INTO moments VALUES ('2025-01-01 00:00:00')"))
        read = connection.execute(select(read_column(table.c.at))).scalars().all()
    assert read == [iso(moment), "2025-01-01T00:00:00Z"]


MOMENTS = [
    datetime(2025, 1, 1, tzinfo=UTC),
    datetime(2025, 6, 30, 23, 59, 59, 120000, tzinfo=UTC),
    datetime(2025, 6, 30, 23, 59, 59, 1, tzinfo=UTC),
    datetime(5, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
DOCUMENTS = [None, [], {"text": "é ✓", "n": [1, 2.5, -0.0, 10**20]}, "null", [2**64]]


def test_columns_read_for_rendering_are_what_the_orm_reads_rendered(
    local_server: LocalEmulator,
) -> None:
    """On each backend (a temporary table of the shared server's database): a datetime reads as
    ``iso`` writes it (the fraction only when not 0), a JSON document as json.loads reads its
    text, NULL as None."""
    settings = Settings(data_dir=local_server.data_dir, **local_server.settings)
    engine = make_engine(settings.sqlalchemy_url())
    kept = Table(
        "kept_for_reading",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
        Column("document", JSON),
        prefixes=["TEMPORARY"],
    )
    rows = [{"at": m, "document": d} for m, d in zip(MOMENTS, DOCUMENTS, strict=True)]
    try:
        with engine.connect() as connection:
            kept.create(connection)
            connection.execute(kept.insert(), [*rows, {"at": None, "document": {}}])
            query = select(read_column(kept.c.at), read_column(kept.c.document))
            read = connection.execute(query.order_by(kept.c.id)).all()
            by_orm = connection.execute(select(kept.c.at, kept.c.document).order_by(kept.c.id))
            expected = [(iso(at), document) for at, document in by_orm]
            connection.rollback()
    finally:
        engine.dispose()
    assert [tuple(row) for row in read] == expected
    assert [at for at, _ in read] == [
        "2025-01-01T00:00:00Z",
        "2025-06-30T23:59:59.120000Z",
        "2025-06-30T23:59:59.000001Z",
        "0005-02-03T04:05:06Z",
        "9999-12-31T23:59:59.999999Z",
        None,
    ]
    assert [document for _, document in read] == [*DOCUMENTS, {}]


def test_postgresql_iso_text_loses_only_a_zero_fraction() -> None:
    assert _iso_of_text("2025-01-01T00:00:00.000000Z") == "2025-01-01T00:00:00Z"
    assert _iso_of_text("2025-01-01T00:00:00.100000Z") == "2025-01-01T00:00:00.100000Z"
    assert _iso_of_text("2025-01-01T00:00:00.000001Z") == "2025-01-01T00:00:00.000001Z"
    assert _iso_of_text(None) is None


def parsed(parse: Callable[[str], object], text: str) -> str:
    """What a parse answers, as text: the value's repr or the refusal's type and message."""
    try:
        return repr(parse(text))
    except (ValueError, RecursionError) as error:
        return f"{type(error).__name__}: {error}"


@given(json_values, st.booleans())
def test_a_body_is_read_as_the_strict_parse_reads_it(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert parsed(loads_json, text) == parsed(strict_loads, text)


# Text made of JSON's own characters (and the start of an escaped surrogate) reaches far more
# of the parsers than arbitrary text, which is drawn too.
JSONISH = st.text(alphabet=st.sampled_from('[]{}",:0123456789.eE+- \tnulfasrNIy\\d8c')) | st.text()


@given(JSONISH)
def test_any_text_is_read_or_refused_as_the_strict_parse_does(text: str) -> None:
    assert parsed(loads_json, text) == parsed(strict_loads, text)


@pytest.mark.parametrize(
    "text",
    [
        "NaN", "[-Infinity]", "1e400", "[-1e400]", '"\\ud800"', '{"\\udc00": 1}', "\ud800",
        str(2**64), str(-(2**63) - 1), "0." + "1" * 25, "-0", "-0.0", "1E2", '{"a":1,"a":2}',
        "\ufeff{}", "[1,]", "01", '"\x01"', "[" * 1100 + "]" * 1100, "[" * 100_000 + "]" * 100_000,
    ],
)  # fmt: skip
def test_bodies_where_orjson_differs_are_read_as_the_strict_parse_reads_them(text: str) -> None:
    assert parsed(loads_json, text) == parsed(strict_loads, text)
    assert parsed(loads_json, text.encode("utf-8", "surrogatepass")) == parsed(
        strict_loads, text.encode("utf-8", "surrogatepass")
    )
