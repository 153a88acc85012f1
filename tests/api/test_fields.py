"""The serializer fields of app.validation one by one: DRF's coercion, its exact messages and
every bound, called directly (the HTTP tests of test_validation.py show them through a body)."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from starlette.requests import Request

from app.errors import APIError, ValidationFailed
from app.validation import (
    EMPTY,
    MAX_JSON_DEPTH,
    BooleanField,
    CharField,
    ChoiceField,
    DateTimeField,
    Field,
    FieldError,
    IntegerField,
    JSONField,
    ListField,
    PrimaryKeyField,
    any_deeper_than,
    deeper_than,
    loads_json,
    parse_body,
    validate,
)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DATETIME_FORMAT = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def message(field: Field, value) -> str:
    with pytest.raises(FieldError) as refused:
        field.run(value)
    return refused.value.message


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- required, null, default ---------------------------------------------------------------


def test_a_missing_value_is_required_or_takes_the_default():
    assert message(Field(required=True), EMPTY) == "This field is required."
    assert Field(default=7).run(EMPTY) == 7
    assert Field().run(EMPTY) is EMPTY


def test_null_is_refused_unless_allowed():
    assert message(Field(), None) == "This field may not be null."
    assert Field(allow_null=True).run(None) is None


@pytest.mark.parametrize(
    ("field", "form", "expected"),
    [
        (CharField(allow_null=True, allow_blank=True), {"f": ""}, ""),
        (CharField(allow_null=True), {"f": ""}, None),
        (CharField(allow_blank=True), {"f": ""}, ""),
        (CharField(), {"f": ""}, EMPTY),
        (CharField(required=True), {"f": ""}, ""),
        (CharField(), {}, EMPTY),
        (CharField(), {"f": "x"}, "x"),
        (IntegerField(allow_null=True), {"f": ""}, None),
        (IntegerField(), {"f": ""}, EMPTY),
    ],
)
def test_an_empty_form_field_is_blank_null_or_absent_as_drf_reads_it(field, form, expected):
    assert field.form_value(form, "f") is expected or field.form_value(form, "f") == expected


# --- integers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "number"),
    [("5", 5), (" 7 ", 7), ("3.0", 3), ("3.", 3), ("3.000 ", 3), (1.0, 1), ("-4", -4), (12, 12)],
)
def test_integer_like_values_are_coerced(sent, number):
    assert IntegerField().run(sent) == number


@pytest.mark.parametrize("sent", ["3.01", "1.5", 1.5, "x", "", [1], "3.0x"])
def test_values_that_are_not_integers_are_refused(sent):
    assert message(IntegerField(), sent) == "A valid integer is required."


def test_integer_text_longer_than_1000_characters_is_refused_before_it_is_parsed():
    assert IntegerField(max_value=10**1001).run("9" * 1000) == int("9" * 1000)
    assert message(IntegerField(), "9" * 1001) == "String value too large."


def test_integer_bounds_are_inclusive_with_drf_messages():
    field = IntegerField(min_value=0, max_value=10)
    assert (field.run(0), field.run(10)) == (0, 10)
    assert message(field, 11) == "Ensure this value is less than or equal to 10."
    assert message(field, -1) == "Ensure this value is greater than or equal to 0."
    assert (IntegerField().run(INT_MIN), IntegerField().run(INT_MAX)) == (INT_MIN, INT_MAX)
    assert (
        message(IntegerField(), INT_MAX + 1)
        == f"Ensure this value is less than or equal to {INT_MAX}."
    )
    assert message(IntegerField(), INT_MIN - 1) == f"Ensure this value is greater than or equal to {INT_MIN}."  # fmt: skip


# --- strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "text"), [("  a b  ", "a b"), (5, "5"), (1.5, "1.5"), ("é", "é")])
def test_strings_are_stripped_and_numbers_become_text(sent, text):
    assert CharField().run(sent) == text


@pytest.mark.parametrize("sent", ["", "   ", "\t\n"])
def test_blank_strings_are_refused_unless_allowed(sent):
    assert message(CharField(), sent) == "This field may not be blank."
    assert CharField(allow_blank=True).run(sent) == ""


@pytest.mark.parametrize("sent", [True, False, [1], {"a": 1}])
def test_booleans_and_containers_are_not_strings(sent):
    assert message(CharField(), sent) == "Not a valid string."


def test_strings_with_a_null_or_a_lone_surrogate_character_are_refused():
    assert message(CharField(), "a\x00b") == "Null characters are not allowed."
    assert message(CharField(), "a\ud800b") == "Surrogate characters are not allowed: U+D800."
    assert message(CharField(), "\udfff") == "Surrogate characters are not allowed: U+DFFF."


def test_string_length_is_bounded_inclusively_after_stripping():
    field = CharField(max_length=3)
    assert field.run(" abc ") == "abc"
    assert message(field, "abcd") == "Ensure this field has no more than 3 characters."


# --- booleans ------------------------------------------------------------------------------

TRUE = ["t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1", 1,
        True]  # fmt: skip
FALSE = ["f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
         "0", 0, False]  # fmt: skip


@pytest.mark.parametrize("sent", TRUE)
def test_each_spelling_of_true_is_true(sent):
    assert BooleanField().run(sent) is True


@pytest.mark.parametrize("sent", FALSE)
def test_each_spelling_of_false_is_false(sent):
    assert BooleanField().run(sent) is False


@pytest.mark.parametrize("sent", ["null", "Null", "NULL", ""])
def test_spellings_of_null_are_null_only_where_null_is_allowed(sent):
    assert BooleanField(allow_null=True).run(sent) is None
    assert message(BooleanField(), sent) == "Must be a valid boolean."


@pytest.mark.parametrize("sent", ["maybe", "tRUE", 2, "2", [], {}, 0.5])
def test_other_values_are_not_booleans(sent):
    assert message(BooleanField(allow_null=True), sent) == "Must be a valid boolean."


# --- choices -------------------------------------------------------------------------------


def test_a_choice_is_matched_by_its_text():
    field = ChoiceField(choices=["All", "1"])
    assert (field.run("All"), field.run(1)) == ("All", "1")
    assert message(field, "all") == '"all" is not a valid choice.'
    assert message(field, "a\ud83db") == '"a\\ud83db" is not a valid choice.'


# --- date-times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "instant"),
    [
        ("2030-01-02T03:04:05Z", utc(2030, 1, 2, 3, 4, 5)),
        ("2030-01-02T03:04:05", utc(2030, 1, 2, 3, 4, 5)),
        ("2030-01-02T03:04:05+02:00", utc(2030, 1, 2, 1, 4, 5)),
        # what fromisoformat refuses, DRF's own pattern reads
        ("2030-1-2 3:4", utc(2030, 1, 2, 3, 4)),
        ("2030-1-2T3:4:5Z", utc(2030, 1, 2, 3, 4, 5)),
        ("2030-1-2T3:4:5.12+0530", utc(2030, 1, 1, 21, 34, 5, 120000)),
        ("2030-1-2T3:4:5,1234567-05", utc(2030, 1, 2, 8, 4, 5, 123456)),
        ("2030-1-2T3:4:5 -05:30", utc(2030, 1, 2, 8, 34, 5)),
        ("2030-1-2T3:4:5+01", utc(2030, 1, 2, 2, 4, 5)),
        ("2030-1-2T13:4:5+1030", utc(2030, 1, 2, 2, 34, 5)),
        ("2030-1-2T3:4:5-11", utc(2030, 1, 2, 14, 4, 5)),
        (" 2030-1-2 3:4 ", utc(2030, 1, 2, 3, 4)),
    ],
)
def test_datetimes_are_read_as_drf_reads_them_and_kept_in_utc(sent, instant):
    parsed = DateTimeField().run(sent)
    assert parsed == instant and parsed.tzinfo == UTC


@pytest.mark.parametrize("sent", ["yesterday", "2030-1-2T3", 20300102, [], "2030-13-01T00:00"])
def test_values_that_are_not_datetimes_are_refused(sent):
    assert message(DateTimeField(), sent) == DATETIME_FORMAT


@pytest.mark.parametrize("sent", ["2030-01-02T03:04:05", "2030-1-2 3:4:5", "2030-01-02T03:04:05Z"])
def test_a_datetime_without_an_offset_is_utc_whatever_the_machines_time_zone(monkeypatch, sent):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        parsed = DateTimeField().run(sent)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert parsed == utc(2030, 1, 2, 3, 4, 5)
    assert parsed.utcoffset() == timedelta(0) and parsed.tzname() == "UTC"


def test_an_instant_before_the_first_utc_instant_is_out_of_range():
    assert message(DateTimeField(), "0001-01-01T00:00+01:00") == "Datetime value out of range."


# --- JSON ----------------------------------------------------------------------------------


def nested(depth: int):
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return value


def depth(value):
    """How deeply a JSON value nests, by definition: one level, and one more than its deepest child."""
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    return 1 + max(map(depth, children), default=0)


@pytest.mark.parametrize(
    "value", [1, [], {}, {"a": [1]}, [[1], 2], {"a": {"b": {}}, "c": 1}, [1, [2, [3, {"d": [[]]}]]], nested(5)]
)  # fmt: skip
def test_deeper_than_counts_each_level_of_lists_and_objects(value):
    assert [depth(value), *(deeper_than(value, levels) for levels in range(-1, 8))] == [
        depth(value),
        *(depth(value) > levels for levels in range(-1, 8)),
    ]
    assert [depth(1), depth([]), depth({"a": [1]}), depth([[1], 2]), depth({"a": {"b": {}}, "c": 1})] == [1, 1, 3, 3, 3]  # fmt: skip


DEPTHS = [1, [], {}, {"a": [1]}, [[1], 2], {"a": {"b": {}}, "c": 1}, [1, [2, [3, {"d": [[]]}]]],
          nested(5), None, "a", [[[]]], {"a": []}]  # fmt: skip


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_any_deeper_than_answers_whether_any_value_is_deeper_than_the_levels(count):
    for start in range(len(DEPTHS)):
        values = [DEPTHS[(start + step * 5) % len(DEPTHS)] for step in range(count)]
        assert [any_deeper_than(values, levels) for levels in range(-1, 8)] == [
            any(depth(value) > levels for value in values) for levels in range(-1, 8)
        ], values


def test_a_list_of_json_refuses_its_first_null_or_too_deep_item_in_order():
    field = ListField(child=JSONField())
    assert field.run([{"a": 1}, nested(32), [], 3]) == [{"a": 1}, nested(32), [], 3]
    assert message(field, [{"a": 1}, nested(33), None]) == (
        "Value is nested too deeply (more than 32 levels)."
    )
    assert message(field, [{"a": 1}, None, nested(33)]) == "This field may not be null."
    assert ListField(child=JSONField(allow_null=True)).run([None, 1]) == [None, 1]


def test_json_is_accepted_up_to_its_depth_limit():
    assert JSONField().run(nested(MAX_JSON_DEPTH)) == nested(32)
    assert message(JSONField(), nested(33)) == "Value is nested too deeply (more than 32 levels)."


def test_a_form_field_holds_json_text():
    field = JSONField()
    assert field.form_value({"f": '{"a": [1]}'}, "f") == {"a": [1]}
    assert field.form_value({}, "f") is EMPTY
    assert message(field, field.form_value({"f": "{nope"}, "f")) == "Value must be valid JSON."


# --- references ----------------------------------------------------------------------------


def test_a_reference_resolves_within_the_column_or_names_nothing():
    field = PrimaryKeyField(resolve=lambda pk: True)
    assert (field.run(1), field.run("2"), field.run(3.0), field.run(INT_MAX)) == (1, 2, 3, INT_MAX)
    for pk in (0, -1, INT_MAX + 1):
        assert message(field, pk) == f'Invalid pk "{pk}" - object does not exist.'
    assert message(PrimaryKeyField(resolve=lambda pk: pk != 5), 5) == 'Invalid pk "5" - object does not exist.'  # fmt: skip


def test_an_empty_reference_is_null():
    assert PrimaryKeyField(allow_null=True, resolve=lambda pk: True).run("") is None
    assert message(PrimaryKeyField(resolve=lambda pk: True), "") == "This field may not be null."


@pytest.mark.parametrize(
    ("sent", "kind"), [("abc", "str"), (True, "bool"), ([1], "list"), ({}, "dict")]
)
def test_a_reference_of_the_wrong_type_names_the_type(sent, kind):
    field = PrimaryKeyField(resolve=lambda pk: True)
    assert message(field, sent) == f"Incorrect type. Expected pk value, received {kind}."


# --- a whole body --------------------------------------------------------------------------


def test_validate_answers_the_values_given_and_the_defaults_without_absent_ones():
    fields = {"a": IntegerField(), "b": CharField(default="d"), "c": CharField()}
    assert validate(fields, {"a": "1", "z": 9}) == {"a": 1, "b": "d"}


def test_validate_reports_every_field_at_fault_at_once():
    fields = {"a": IntegerField(required=True), "b": BooleanField(), "c": CharField()}
    with pytest.raises(ValidationFailed) as refused:
        validate(fields, {"b": "maybe", "c": "ok"})
    assert refused.value.validation_errors == {
        "a": ["This field is required."],
        "b": ["Must be a valid boolean."],
    }


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (None, ["No data provided"]),
        ([1], ["Invalid data. Expected a dictionary, but got list."]),
        ("x", ["Invalid data. Expected a dictionary, but got str."]),
    ],
)
def test_a_body_that_is_not_an_object_is_refused_whole(data, errors):
    with pytest.raises(ValidationFailed) as refused:
        validate({"a": IntegerField()}, data)
    assert refused.value.validation_errors == {"non_field_errors": errors}


def test_validate_reads_json_by_default_where_an_empty_string_is_blank():
    with pytest.raises(ValidationFailed) as refused:
        validate({"c": CharField()}, {"c": ""})
    assert refused.value.validation_errors == {"c": ["This field may not be blank."]}
    assert validate({"c": CharField()}, {"c": ""}, form=True) == {}


def test_validate_reads_a_form_with_form_rules():
    fields = {"a": IntegerField(allow_null=True), "b": JSONField()}
    assert validate(fields, {"a": "", "b": "[1]"}, form=True) == {"a": None, "b": [1]}


# --- strict JSON and the body's parser -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("NaN", "Out of range float values are not JSON compliant: 'NaN'"),
        ("[-Infinity]", "Out of range float values are not JSON compliant: '-Infinity'"),
        ('{"a": 1e400}', "Out of range float values are not JSON compliant: '1e400'"),
        ("[-1e400]", "Out of range float values are not JSON compliant: '-1e400'"),
        ('["\\ud800"]', "Surrogate characters are not allowed: U+D800."),
        ('{"\\udc00": 1}', "Surrogate characters are not allowed: U+DC00."),
        ('{"a": {"b": ["\\udfff"]}}', "Surrogate characters are not allowed: U+DFFF."),
        ("[" * 100_000 + "]" * 100_000, "the document is nested too deeply"),
    ],
)
def test_json_that_cannot_be_stored_and_rendered_again_is_refused(text, error):
    with pytest.raises(ValueError) as refused:
        loads_json(text)
    assert str(refused.value) == error


def test_strict_json_keeps_finite_numbers_and_text():
    assert loads_json('{"a": [1.5, -2e10, "\\u00e9"], "b": null}') == {"a": [1.5, -2e10, "é"], "b": None}  # fmt: skip


def request(body: bytes, content_type: str | None) -> Request:
    headers = [(b"content-type", content_type.encode("latin-1"))] if content_type else []
    sent = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def parsed(body: bytes, content_type: str | None):
    return asyncio.run(parse_body(request(body, content_type)))


@pytest.mark.parametrize(
    ("body", "content_type", "result"),
    [
        (b'{"a": 1}', "application/json", ({"a": 1}, False)),
        (b'{"a": 1}', "Application/JSON ; charset=utf-8", ({"a": 1}, False)),
        ('{"a": "é"}'.encode("latin-1"), 'application/json; charset="latin-1"', ({"a": "é"}, False)),
        ('{"a": "é"}'.encode("utf-16"), "application/json; Charset=utf-16", ({"a": "é"}, False)),
        ('{"a": "é"}'.encode("latin-1"), "application/json;charset=latin-1", ({"a": "é"}, False)),
        ('{"a": "é"}'.encode(), "application/json; charset=", ({"a": "é"}, False)),
        (b"", "application/json", ({}, False)),
        (b"", "application/x-www-form-urlencoded", ({}, True)),
        (b"", "multipart/form-data; boundary=x", ({}, True)),
        (b"", None, ({}, False)),
        (b"a=1&a=2&b=", "application/x-www-form-urlencoded", ({"a": "2", "b": ""}, True)),
    ],
)  # fmt: skip
def test_bodies_are_parsed_by_their_media_type_and_charset(body, content_type, result):
    assert parsed(body, content_type) == result


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"{", "application/json", 400, "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"[NaN]", "application/json", 400, "JSON parse error - Out of range float values are not JSON compliant: 'NaN'"),
        (b"{}", "application/json; charset=klingon", 400, "JSON parse error - unknown encoding: klingon"),
        (b"{}", "application/json; charset=klingon=1", 400, "JSON parse error - unknown encoding: klingon=1"),
        (b"\xff", "application/json", 400, "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        (b"<a/>", "application/xml", 415, 'Unsupported media type "application/xml" in request.'),
        (b"{}", None, 415, 'Unsupported media type "" in request.'),
    ],
)  # fmt: skip
def test_bodies_that_cannot_be_parsed_are_refused_with_drf_wording(
    body, content_type, status, detail
):
    with pytest.raises(APIError) as refused:
        parsed(body, content_type)
    assert (refused.value.status_code, refused.value.detail) == (status, detail)
