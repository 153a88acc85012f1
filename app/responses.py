"""JSON answers written byte for byte as ``JSONResponse`` writes them (``json.dumps``, compact,
non-ASCII kept), by orjson where its text is known to be the same: lists of thousands of
objects are encoded ten times faster."""

import json
import re
from typing import Any

import orjson
from starlette.responses import JSONResponse as StdlibJSONResponse

# orjson writes floats as repr() does but for two cases: below 1e-4 it writes 0.00001 where
# repr writes 1e-05, and it writes no leading zero in a one-digit negative exponent (1e-7, not
# 1e-07). A body holding either text (in a number or, rarely, in a string) is written again by
# json.dumps; so are those orjson refuses (integers beyond 64 bits, keys that are not strings,
# lone surrogates, datetimes, dataclasses), which json.dumps renders or refuses as before.
# (NaN and the infinities, which json.dumps refuses and orjson writes as null, cannot be
# stored: JSON bodies with them are refused.)
# Two searches, each led by its literal text (C's scan for it): one pattern of both alternatives
# tries a match at every byte, and either bytes search (`in`) took twice as long over a large
# answer as the regular expression led by the same text.
FLOAT_DIFFERENCES = (re.compile(rb"0\.0000"), re.compile(rb"e-\d(?!\d)"))
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


# Below this a float's repr has an exponent of two digits (1e-05, 1e-07), which orjson writes
# otherwise (0.00001, 1e-7).
EXPONENT_BELOW = 1e-4


def exact_float(value: float) -> Any:
    """A float that orjson writes as json.dumps does: itself, or below 1e-4 its repr given as
    written (an ``orjson.Fragment``). An answer of many items whose amounts are small (costs in
    dollars) is then written by orjson instead of json.dumps, with the same text."""
    if -EXPONENT_BELOW < value < EXPONENT_BELOW and value:
        return orjson.Fragment(repr(value))
    return value


def _written(value: Any) -> Any:
    """json.dumps's ``default``: a Fragment (exact_float's) is the value its text is."""
    if isinstance(value, orjson.Fragment):
        return json.loads(orjson.dumps(value))
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def stdlib_render(content: Any) -> bytes:
    """Starlette's JSONResponse's text (json.dumps, compact, non-ASCII kept), exact_float's
    values included."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"),
        default=_written,
    ).encode("utf-8")  # fmt: skip


class JSONResponse(StdlibJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            body = orjson.dumps(content, option=OPTIONS)
        except TypeError:  # orjson.JSONEncodeError included
            return stdlib_render(content)
        if any(difference.search(body) for difference in FLOAT_DIFFERENCES):
            return stdlib_render(content)
        return body


class FloatlessJSONResponse(JSONResponse):
    """A JSONResponse of content known to hold no float, where orjson's text is json.dumps's:
    no search of the body for the texts where they differ, which over a list of several MB
    costs several times orjson's own time."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=OPTIONS)
        except TypeError:
            return stdlib_render(content)
