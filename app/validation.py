"""Request-body validation with Django REST Framework's coercion rules and wording.

Label Studio validates with DRF serializers; clients see DRF's exact messages and its
lenient coercion ("5" is an integer, "yes" a boolean). Pydantic's rules and wording differ,
so bodies of the Label Studio API are checked here, field by field, all errors at once.
"""

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from app.errors import APIError, ValidationFailed
from app.models import MAX_ID, MIN_INT
from app.render import orjson_reads_alike

EMPTY: Any = object()  # a key absent from the body

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."


class FieldError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Field:
    """One serializer field: required/null handling, then conversion."""

    def __init__(
        self, *, required: bool = False, allow_null: bool = False, default: Any = EMPTY
    ) -> None:
        self.required = required
        self.allow_null = allow_null
        self.default = default

    def form_value(self, form: Mapping[str, Any], name: str) -> Any:
        """The value of a form-encoded field, with DRF's treatment of empty strings."""
        if name not in form:
            return EMPTY
        value = form[name]
        if value == "" and self.allow_null:
            return "" if getattr(self, "allow_blank", False) else None
        if value == "" and not self.required:
            return "" if getattr(self, "allow_blank", False) else EMPTY
        return value

    def run(self, value: Any) -> Any:
        if value is EMPTY:
            if self.required:
                raise FieldError(REQUIRED)
            return self.default
        if value is None:
            if not self.allow_null:
                raise FieldError(NULL)
            return None
        return self.convert(value)

    def convert(self, value: Any) -> Any:
        return value

    def run_each(self, values: list[Any]) -> list[Any]:
        """``run`` of each item of a list, in order (the first refusal raises)."""
        return [self.run(value) for value in values]


class IntegerField(Field):
    _decimal = re.compile(r"\.0*\s*$")

    def __init__(self, *, min_value: int = MIN_INT, max_value: int = MAX_ID, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_value = min_value
        self.max_value = max_value

    def convert(self, value: Any) -> int:
        if isinstance(value, str) and len(value) > 1000:
            raise FieldError("String value too large.")
        try:
            number = int(self._decimal.sub("", str(value)))
        except (ValueError, TypeError):
            raise FieldError("A valid integer is required.") from None
        if number > self.max_value:
            raise FieldError(f"Ensure this value is less than or equal to {self.max_value}.")
        if number < self.min_value:
            raise FieldError(f"Ensure this value is greater than or equal to {self.min_value}.")
        return number


class CharField(Field):
    def __init__(self, *, max_length: int | None = None, allow_blank: bool = False, **kw: Any):
        super().__init__(**kw)
        self.max_length = max_length
        self.allow_blank = allow_blank

    def convert(self, value: Any) -> str:
        if value == "" or (isinstance(value, str) and value.strip() == ""):
            if not self.allow_blank:
                raise FieldError(BLANK)
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldError("Not a valid string.")
        text = str(value).strip()
        if "\x00" in text:
            raise FieldError("Null characters are not allowed.")
        surrogate = _SURROGATE.search(text)
        if surrogate:
            raise FieldError(f"Surrogate characters are not allowed: U+{ord(surrogate[0]):X}.")
        if self.max_length is not None and len(text) > self.max_length:
            raise FieldError(f"Ensure this field has no more than {self.max_length} characters.")
        return text


class BooleanField(Field):
    TRUE = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
            "1", 1}  # fmt: skip
    FALSE = {"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
             "0", 0}  # fmt: skip
    NULLS = {"null", "Null", "NULL", "", None}

    def convert(self, value: Any) -> bool | None:
        try:
            if value in self.TRUE:
                return True
            if value in self.FALSE:
                return False
            if value in self.NULLS and self.allow_null:
                return None
        except TypeError:  # unhashable: a list or an object
            pass
        raise FieldError("Must be a valid boolean.")


_SURROGATE = re.compile("[\ud800-\udfff]")  # text UTF-8 cannot encode (a lone surrogate)


class ChoiceField(Field):
    def __init__(self, *, choices: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.choices = choices

    def convert(self, value: Any) -> str:
        if str(value) in self.choices:
            return str(value)
        # The value is echoed back: text UTF-8 cannot encode is shown escaped.
        shown = _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", str(value))
        raise FieldError(f'"{shown}" is not a valid choice.')


class DateTimeField(Field):
    _pattern = re.compile(
        r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
        r"[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})"
        r"(?::(?P<second>\d{1,2})(?:[.,](?P<microsecond>\d{1,6})\d{0,6})?)?"
        r"\s*(?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?"
    )
    MESSAGE = (
        "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
    )

    def convert(self, value: Any) -> datetime:
        parsed = None
        try:
            parsed = self._parse(value)
        except (ValueError, TypeError):
            pass
        if parsed is None:
            raise FieldError(self.MESSAGE)
        try:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before datetime.min in UTC
            raise FieldError("Datetime value out of range.") from None

    def _parse(self, value: Any) -> datetime | None:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            match = self._pattern.fullmatch(value.strip())
            if not match:
                return None
            parts = match.groupdict()
            tz = parts.pop("tzinfo")
            if parts["microsecond"]:
                parts["microsecond"] = parts["microsecond"].ljust(6, "0")
            numbers = {k: int(v) for k, v in parts.items() if v is not None}
            tzinfo = None
            if tz == "Z":
                tzinfo = UTC
            elif tz:
                offset = int(tz[1:3]) * 60 + (int(tz[-2:]) if len(tz) > 3 else 0)
                tzinfo = timezone(timedelta(minutes=-offset if tz[0] == "-" else offset))
            return datetime(**numbers, tzinfo=tzinfo)


MAX_JSON_DEPTH = 32


def deeper_than(value: Any, levels: int) -> bool:
    """Whether a parsed JSON value nests more than ``levels`` deep (a scalar, an empty list or
    an empty object is one level): ``any_deeper_than`` of that one value, a walk a level at a time
    that stops one level past ``levels``, so a deep value costs no more than ``levels`` allow."""
    return any_deeper_than([value], levels)


CONTAINERS = (dict, list)


def any_deeper_than(values: list[Any], levels: int) -> bool:
    """``any(deeper_than(value, levels) for value in values)``, walked a level at a time across
    all the values at once (a batch's 1,000 items cost a few list passes, not two calls and
    two generators each): a value nests more than ``levels`` deep when one of its containers
    ``levels - 1`` below it holds anything. The values are parsed JSON, whose containers are
    dicts and lists themselves (their type compared, which costs less than isinstance)."""
    if levels < 1:
        return len(values) > 0
    frontier = [value for value in values if type(value) in CONTAINERS]
    for _ in range(levels - 1):
        if not frontier:
            return False
        frontier = [
            child
            for node in frontier
            for child in (node.values() if type(node) is dict else node)
            if type(child) in CONTAINERS
        ]
    return any(len(node) > 0 for node in frontier)


class JSONField(Field):
    def form_value(self, form: Mapping[str, Any], name: str) -> Any:
        # A form field holds JSON text.
        if name not in form:
            return EMPTY
        try:
            return loads_json(form[name])
        except ValueError:
            return _InvalidJSON()

    def convert(self, value: Any) -> Any:
        if isinstance(value, _InvalidJSON):
            raise FieldError("Value must be valid JSON.")
        if deeper_than(value, MAX_JSON_DEPTH):
            raise FieldError(f"Value is nested too deeply (more than {MAX_JSON_DEPTH} levels).")
        return value

    def run_each(self, values: list[Any]) -> list[Any]:
        # Items parsed from a body are never EMPTY nor invalid JSON: when none is a refused null
        # and none nests too deeply, each is its own value (checked together, not one by one).
        if (self.allow_null or None not in values) and not any_deeper_than(values, MAX_JSON_DEPTH):
            return list(values)
        return super().run_each(values)


class _InvalidJSON:
    pass


class FloatField(Field):
    def __init__(
        self, *, min_value: float | None = None, max_value: float | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.min_value = min_value
        self.max_value = max_value

    def convert(self, value: Any) -> float:
        if isinstance(value, str) and len(value) > 1000:
            raise FieldError("String value too large.")
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise FieldError("A valid number is required.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise FieldError("A valid number is required.")
        if self.max_value is not None and number > self.max_value:
            raise FieldError(f"Ensure this value is less than or equal to {self.max_value}.")
        if self.min_value is not None and number < self.min_value:
            raise FieldError(f"Ensure this value is greater than or equal to {self.min_value}.")
        return number


class ListField(Field):
    """A list whose items a child field checks (DRF's ListField; form fields hold JSON text)."""

    def __init__(self, *, child: Field, allow_empty: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.child = child
        self.allow_empty = allow_empty

    def form_value(self, form: Mapping[str, Any], name: str) -> Any:
        if name not in form:
            return EMPTY
        try:
            return loads_json(form[name])
        except ValueError:  # not JSON: the text itself, which is no list
            return form[name]

    def convert(self, value: Any) -> list[Any]:
        if isinstance(value, str | Mapping) or not isinstance(value, list):
            raise FieldError(f'Expected a list of items but got type "{type(value).__name__}".')
        if not value and not self.allow_empty:
            raise FieldError("This list may not be empty.")
        return self.child.run_each(value)


class PrimaryKeyField(Field):
    """A reference to an object by id; ``resolve`` answers whether the id names one."""

    def __init__(self, *, resolve: Callable[[int], bool], **kw: Any) -> None:
        super().__init__(**kw)
        self.resolve = resolve

    def run(self, value: Any) -> Any:
        return super().run(None if value == "" else value)

    def convert(self, value: Any) -> int:
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            pk = int(value)
        except (TypeError, ValueError):
            raise FieldError(
                f"Incorrect type. Expected pk value, received {type(value).__name__}."
            ) from None
        if not (0 < pk <= MAX_ID) or not self.resolve(pk):
            raise FieldError(f'Invalid pk "{value}" - object does not exist.')
        return pk


def validate(fields: dict[str, Field], data: Any, *, form: bool = False) -> dict[str, Any]:
    """Validate a parsed body against fields; unknown keys are ignored; all errors at once."""
    if data is None:
        raise ValidationFailed({"non_field_errors": ["No data provided"]})
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, field in fields.items():
        raw = field.form_value(data, name) if form else data.get(name, EMPTY)
        try:
            value = field.run(raw)
        except FieldError as error:
            errors[name] = [error.message]
            continue
        if value is not EMPTY:
            values[name] = value
    if errors:
        raise ValidationFailed(errors)
    return values


class NotStrictJSON(json.JSONDecodeError):
    """JSON text that strict JSON cannot carry back: the message says why, with no position."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)

    def __str__(self) -> str:
        return self.msg


def _strict_constant(name: str) -> Any:
    raise NotStrictJSON(f"Out of range float values are not JSON compliant: {name!r}")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):  # 1e400
        raise NotStrictJSON(f"Out of range float values are not JSON compliant: {text!r}")
    return number


def loads_json(text: str | bytes) -> Any:
    """Parse a JSON body as strict JSON: every value it yields can be stored and rendered again.

    NaN, Infinity and numbers beyond a float's range, lone surrogates (text UTF-8 cannot
    encode) and nesting deeper than Python can walk raise a ValueError (a JSONDecodeError).

    orjson reads a document ten times faster, and refuses each of those; what it reads, it reads
    as ``json.loads`` does, but for integers beyond 64 bits (a float to it). A document it
    refuses, or that may hold such an integer, goes to ``strict_loads``, which words the refusal."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if orjson_reads_alike(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return strict_loads(text)


def strict_loads(text: str | bytes) -> Any:
    """``loads_json`` by the standard library alone."""
    try:
        value = json.loads(text, parse_constant=_strict_constant, parse_float=_finite_float)
    except RecursionError:
        raise NotStrictJSON("the document is nested too deeply") from None
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and (surrogate := _SURROGATE.search(node)):
            code = f"U+{ord(surrogate[0]):X}"
            raise NotStrictJSON(f"Surrogate characters are not allowed: {code}.")
    return value


async def parse_body(request: Any) -> tuple[Any, bool]:
    """Parse a request body as DRF's JSON, form and multipart parsers do: (data, is_form)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
    if not raw:
        return {}, media_type in form_types
    if media_type == "application/json":
        charset = "utf-8"
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return loads_json(raw.decode(charset)), False
        except (ValueError, LookupError) as error:
            raise APIError(400, f"JSON parse error - {error}") from None
    if media_type in form_types:
        form = await request.form()
        return {key: form.getlist(key)[-1] for key in form.keys()}, True
    raise APIError(415, f'Unsupported media type "{content_type}" in request.')


# --- projects: DRF's CharField length bounds and DecimalField ---


class BoundedCharField(CharField):
    """A CharField with DRF's min_length too (a blank value, when allowed, skips the bounds)."""

    def __init__(self, *, min_length: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_length = min_length

    def convert(self, value: Any) -> str:
        text = super().convert(value)
        if text and self.min_length is not None and len(text) < self.min_length:
            raise FieldError(f"Ensure this field has at least {self.min_length} characters.")
        return text


class DecimalField(Field):
    """DRF's DecimalField: answered as a string with ``decimal_places`` digits."""

    def __init__(self, *, max_digits: int, decimal_places: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_digits = max_digits
        self.decimal_places = decimal_places

    def convert(self, value: Any) -> str:
        import decimal

        if isinstance(value, str) and len(value) > 1000:
            raise FieldError("String value too large.")
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            number = decimal.Decimal(str(value).strip())
        except (TypeError, ValueError, decimal.InvalidOperation):
            raise FieldError("A valid number is required.") from None
        if not number.is_finite():
            raise FieldError("A valid number is required.")
        _, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)
        places = max(0, -exponent)
        whole = max(0, len(digits) + exponent) if exponent < 0 else len(digits) + exponent
        if number == 0 and exponent >= 0:
            whole = 0
        total = whole + places
        if total > self.max_digits:
            raise FieldError(
                f"Ensure that there are no more than {self.max_digits} digits in total."
            )
        if places > self.decimal_places:
            raise FieldError(
                f"Ensure that there are no more than {self.decimal_places} decimal places."
            )
        if whole > self.max_digits - self.decimal_places:
            raise FieldError(
                "Ensure that there are no more than "
                f"{self.max_digits - self.decimal_places} digits before the decimal point."
            )
        return f"{number:.{self.decimal_places}f}"


# --- tasks workspace ---


class DictField(Field):
    """A JSON object (DRF's DictField; form fields hold JSON text)."""

    def form_value(self, form: Mapping[str, Any], name: str) -> Any:
        if name not in form:
            return EMPTY
        try:
            return loads_json(form[name])
        except ValueError:
            return form[name]

    def convert(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise FieldError(
                f'Expected a dictionary of items but got type "{type(value).__name__}".'
            )
        if deeper_than(value, MAX_JSON_DEPTH):
            raise FieldError(f"Value is nested too deeply (more than {MAX_JSON_DEPTH} levels).")
        return dict(value)
