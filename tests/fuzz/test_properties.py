"""Properties over hostile input: the answer is never a 5xx, and after any accepted input the
export, the run lists and the clock's advance still answer 200."""

import json
from urllib.parse import quote_from_bytes

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from app.lifecycle.subsets import FilterError, filter_condition

from .support import AUTH, RUNS, InProcess

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text of any code point, lone surrogates included.
TEXT = st.text(st.characters(exclude_categories=()), max_size=8)
EDGE_INSTANTS = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01 00:00+23:59",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2030-01-01T00:00:00+00:00",
        "2030-02-30T00:00",
    ]
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.integers(-3, 30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["\ud800", "\udfff", "\x00", "", "1", "1e400", "Custom", "All"])
    | TEXT
    | EDGE_INSTANTS
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
OPERATORS = st.sampled_from(["equal", "less", "in", "not_in", "not_equal"]) | VALUES
FILTER_ITEMS = st.fixed_dictionaries(
    {},
    optional={
        "filter": st.sampled_from(["filter:tasks:id", "filter:tasks:ground_truth"]) | VALUES,
        "operator": OPERATORS,
        "value": VALUES | st.fixed_dictionaries({"min": VALUES, "max": VALUES}),
    },
)
FILTERS = VALUES | st.fixed_dictionaries(
    {"items": st.lists(FILTER_ITEMS | VALUES, max_size=3)},
    optional={"conjunction": st.sampled_from(["and", "or"]) | VALUES},
)
# What a stored row most often goes wrong with: text UTF-8 cannot encode, numbers JSON cannot.
POISON = st.sampled_from(["\ud800", "x\udfff", float("nan"), float("inf"), 2**70, 1e308])
TITLES = TEXT | POISON | VALUES
RUN_BODIES = st.fixed_dictionaries(
    {"project": st.just(1) | VALUES},
    optional={
        "project_subset": st.sampled_from(["All", "HasGT", "Sample", "Custom"]) | VALUES,
        "filters_json": FILTERS,
        "job_id": VALUES,
        "sample_subset_size": VALUES,
        "only_missing_predictions": VALUES,
        "organization": st.just(1) | VALUES,
        "predictions_updated_at": EDGE_INSTANTS | VALUES,
        "total_tasks": VALUES,
        "total_predictions": VALUES,
        "total_correct_predictions": VALUES,
    },
)


def dumps(value) -> bytes:
    """JSON text as a hostile client writes it: NaN, Infinity and lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def form_text(value) -> bytes:
    text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def answered(response) -> bool:
    """Not a 5xx; True when the input was accepted."""
    assert response.status_code < 500, response.text
    return response.status_code < 300


@pytest.fixture(scope="module")
def app(emulator: InProcess) -> InProcess:
    return emulator


@given(body=RUN_BODIES, encoding=st.sampled_from(["json", "urlencoded", "multipart"]))
@FUZZ
def test_any_create_body_is_answered_and_leaves_the_state_readable(app, body, encoding):
    if encoding == "json":
        headers = {**AUTH, "Content-Type": "application/json"}
        response = app.post(RUNS, content=dumps(body), headers=headers)
    elif encoding == "urlencoded":
        content = "&".join(
            f"{quote_from_bytes(k.encode())}={quote_from_bytes(form_text(v))}"
            for k, v in body.items()
        )
        headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        response = app.post(RUNS, content=content, headers=headers)
    else:
        files = {k: (None, form_text(v)) for k, v in body.items()}
        response = app.post(RUNS, files=files, headers=AUTH)
    if answered(response):
        app.assert_state_readable()


@given(filters=FILTERS)
@FUZZ
def test_filter_condition_accepts_or_says_why(filters):
    try:
        filter_condition(filters)
    except FilterError as error:
        assert str(error).encode("utf-8")  # echoed back in a response


SEED_DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "organizations": st.lists(
            st.fixed_dictionaries({"id": st.integers(3, 5) | VALUES, "title": TITLES}), max_size=2
        ),
        "projects": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.integers(4, 6) | VALUES,
                    "title": TITLES,
                    "organization": st.just(1) | VALUES,
                },
                optional={"tasks": st.integers(0, 5) | LEAVES, "ground_truth": VALUES},
            ),
            max_size=2,
        ),
        "prompts": st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(3, 4) | VALUES, "title": TITLES, "organization": st.just(1)},
                optional={
                    "versions": st.lists(
                        st.fixed_dictionaries(
                            {"id": st.integers(4, 5), "title": TITLES},
                            optional={"accuracy": VALUES, "failure_rate": VALUES},
                        ),
                        max_size=2,
                    )
                },
            ),
            max_size=1,
        ),
    },
)


@given(document=SEED_DOCUMENTS | VALUES)
@FUZZ
def test_any_seed_document_is_answered_and_leaves_the_state_readable(app, document):
    headers = {"Content-Type": "application/json"}
    if answered(app.post("/_emulator/seed", content=dumps(document), headers=headers)):
        app.assert_state_readable()


@pytest.fixture(scope="module")
def boot_export(app: InProcess) -> dict:
    app.post("/_emulator/reset")
    app.post("/_emulator/clock", json={"freeze": True})  # nothing moves between two exports
    app.post(RUNS, json={"project": 1, "project_subset": "All"}, headers=AUTH)
    return app.get("/_emulator/export").json()


@given(data=st.data())
@FUZZ
def test_any_import_is_answered_and_leaves_the_state_readable(app, boot_export, data):
    document = json.loads(json.dumps(boot_export))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["row", "row", "clock", "policy", "secret_key"]))
        if where == "row":
            tables = [name for name, rows in document["tables"].items() if rows]
            rows = document["tables"][data.draw(st.sampled_from(sorted(tables)))]
            row = rows[data.draw(st.integers(0, min(len(rows), 3) - 1))]
            row[data.draw(st.sampled_from(sorted(row)))] = data.draw(
                POISON | VALUES | EDGE_INSTANTS
            )
        elif where == "clock":
            key = data.draw(st.sampled_from(["frozen_at", "offset_seconds"]))
            document["clock"][key] = data.draw(VALUES | EDGE_INSTANTS)
        elif where == "policy":
            document["policy"][data.draw(st.sampled_from(sorted(document["policy"])))] = data.draw(
                VALUES
            )
        else:
            document["secret_key"] = data.draw(VALUES)
    before = app.get("/_emulator/export").json()
    response = app.post("/_emulator/import", content=dumps(document))
    if answered(response):
        app.assert_state_readable()
        app.post("/_emulator/import", json=boot_export)
    else:
        assert app.get("/_emulator/export").json()["tables"] == before["tables"]
