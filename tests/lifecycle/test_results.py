"""What runs leave behind, read back without HTTP: key indicators, bulk indicators, the
regressions between two runs, re-evaluation, the tasks of a subset with their predictions and
cost estimates. One small project, seeded by hand with three runs whose predictions, failures,
tokens and costs are fixed here: every expected value below is worked out from those rows."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, copy_sqlite_schema, postgres_database
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine
from app.errors import APIError, NotFound, ValidationFailed
from app.lifecycle import machine, refine, results
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.main import prepare_database
from app.models import (
    MAX_ID,
    Annotation,
    FailedPrediction,
    ModelRun,
    Prediction,
    Project,
    Prompt,
    PromptVersion,
    RefineJob,
    Task,
    User,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/></Choices></View>'
)
# Project 1's tasks t1..t9: the first six carry a ground-truth sentiment, the last three none.
TRUTHS = ["Positive", "Negative", "Neutral", "Positive", "Negative", "Neutral"]
TEXTS = ["abcd", "abcdefgh", "abc", "a", "ab", "abcde", "x", "xy", "xyz"]
SEED = {
    "organizations": [{"id": 1, "title": "Acme"}, {"id": 2, "title": "Globex"}],
    "users": [
        {"id": 1, "username": "ada", "organization": 1, "token": "ada-token"},
        {"id": 2, "username": "hank", "organization": 2, "token": "hank-token"},
    ],
    "projects": [
        {"id": 1, "title": "Tickets", "organization": 1, "label_config": CONFIG,
         "tasks": [{"data": {"text": text},
                    "annotations": [{"ground_truth": True, "result": [
                        {"from_name": "sentiment", "to_name": "text", "type": "choices",
                         "value": {"choices": [TRUTHS[i]]}}]}] if i < len(TRUTHS) else []}
                   for i, text in enumerate(TEXTS)]},
        {"id": 2, "title": "Escalated", "organization": 1, "label_config": CONFIG,
         "tasks": [{"data": {"text": "zz"}}]},
        {"id": 3, "title": "Invoices", "organization": 2, "label_config": CONFIG,
         "tasks": [{"data": {"text": "hank's"}}]},
    ],
    "prompts": [
        {"id": 1, "title": "Sentiment", "organization": 1, "associated_projects": [2, 1],
         "versions": [
             {"id": 1, "title": "baseline", "prompt": "Label: {text}",
              "provider_model_id": "gpt-4o-mini"},
             {"id": 2, "title": "few-shot", "prompt": "Say: {text}", "provider_model_id": "gpt-4o"},
         ]},
        {"id": 2, "title": "Invoices", "organization": 2, "associated_projects": [3],
         "versions": [{"id": 3, "title": "v1", "provider_model_id": "gpt-4o-mini"}]},
        {"id": 3, "title": "Unattached", "organization": 1, "output_classes": ["Yes", "Absolutely"],
         "versions": [{"id": 4, "title": "v1", "prompt": "Q {text}", "provider_model_id": "o1"},
                      {"id": 5, "title": "v2", "accuracy": 0.95, "failure_rate": 0.25,
                       "provider": "Custom", "max_few_shot_examples": 3},
                      {"id": 6, "title": "v3", "accuracy": 0.99}]},
    ],
}  # fmt: skip


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]  # fmt: skip


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Run A: version 1 over HasGT; t1 and t2 right, t3 wrong, t4 and t5 failed; tokens and costs set.
# Run B: version 2 over HasGT; t1, t3 and t6 right, t2 and t4 wrong; no costs reported.
# Run C: version 1 over All; t4 right later than A's failure, t7 and t9 unjudged; t1 failed later
# than A's prediction, t2 failed at the same instant as it, t8 (no ground truth) failed.
# Run E: version 2 over a Sample of 2, still pending, nothing made. Run H: Globex's.
RUNS: dict[str, dict[str, Any]] = {
    "A": {"version_id": 1, "project_subset": "HasGT", "status": "Completed", "total_tasks": 6,
          "total_predictions": 3, "total_correct_predictions": 2, "completed_at": at(50)},
    "B": {"version_id": 2, "project_subset": "HasGT", "status": "Completed", "total_tasks": 6,
          "total_predictions": 5, "total_correct_predictions": 3, "completed_at": at(60)},
    "C": {"version_id": 1, "project_subset": "All", "status": "Failed", "total_tasks": 9,
          "total_predictions": 3, "total_correct_predictions": 1, "completed_at": at(70)},
    "E": {"version_id": 2, "project_subset": "Sample", "status": "Pending", "total_tasks": 0,
          "total_predictions": 0, "total_correct_predictions": 0, "sample_subset_size": 2},
}  # fmt: skip
# (run, task index, label, correct, score, created second, tokens, USD prompt/completion/total)
PREDICTIONS = [
    ("A", 1, "Positive", True, 0.9, 10, (11, 3), (0.1234567891, 0.000000003, 0.5)),
    ("A", 2, "Negative", True, 0.8, 10, (12, 3), (0.0000000004, 0.000000003, 0.25)),
    ("A", 3, "Positive", False, 0.7, 10, (13, 4), (0.0, 0.000000003, 0.125000004)),
    ("B", 1, "Positive", True, None, 20, (None, None), (None, None, None)),
    ("B", 2, "Positive", False, None, 20, (None, None), (None, None, None)),
    ("B", 3, "Neutral", True, None, 20, (None, None), (None, None, None)),
    ("B", 4, "Negative", False, None, 20, (None, None), (None, None, None)),
    ("B", 6, "Neutral", True, None, 20, (None, None), (None, None, None)),
    ("C", 4, "Positive", True, 0.6, 30, (1, 1), (0.0, 0.0, 0.0)),
    ("C", 7, "Neutral", None, 0.7, 30, (1, 1), (0.0, 0.0, 0.0)),
    ("C", 9, "Positive", None, 0.2, 30, (1, 1), (0.0, 0.0, 0.0)),
]
# (run, task index, error type, message, created second)
FAILURES = [
    ("A", 4, "RateLimitError", "Rate limit reached for gpt-4o-mini.", 10),
    ("A", 5, "APITimeoutError", "Request to OpenAI timed out.", 10),
    ("C", 1, "APITimeoutError", "Request to OpenAI timed out.", 30),
    ("C", 2, "InternalServerError", "OpenAI answered 500.", 10),
    ("C", 8, "RateLimitError", "Rate limit reached for gpt-4o-mini.", 30),
]


class Seeded:
    """The seeded database: its engine, the runs' ids by letter, task ids by index (from 1)."""

    def __init__(self, engine: Any, runs: dict[str, int], tasks: list[int]) -> None:
        self.engine, self.runs, self.tasks = engine, runs, tasks

    def t(self, *indexes: int) -> list[int]:
        return [self.tasks[i - 1] for i in indexes]

    def run(self, session: Session, letter: str) -> ModelRun:
        found = session.get(ModelRun, self.runs[letter])
        assert found is not None
        return found


def seed(url: str, directory: Path) -> Seeded:
    seed_file = directory / "seed.json"
    seed_file.write_text(json.dumps(SEED))
    settings = Settings(
        database_url=url, seed_file=seed_file, sample_subset_size=4, queue_delay_seconds=5
    )
    engine = make_engine(settings.sqlalchemy_url())
    prepare_database(engine, settings, Clock(wall=lambda: T0))
    with Session(engine) as session:
        tasks = list(
            session.exec(select(Task.id).where(Task.project_id == 1).order_by(Task.id)).all()
        )
        runs = {}
        for letter, fields in [*RUNS.items(), ("H", {"version_id": 3, "project_id": 3,
                                                     "prompt_id": 2, "organization_id": 2})]:  # fmt: skip
            version = session.get(PromptVersion, fields["version_id"])
            run = ModelRun(**{"organization_id": 1, "project_id": 1, "prompt_id": version.prompt_id,
                              "created_by_id": 1, "created_at": T0, **fields})  # fmt: skip
            session.add(run)
            session.flush()
            runs[letter] = run.id
        for letter, index, label, correct, score, second, tokens, usd in PREDICTIONS:
            session.add(Prediction(
                run_id=runs[letter], task_id=tasks[index - 1], project_id=1,
                version_id=RUNS[letter]["version_id"], correct=correct, score=score,
                result=choice(label), created_at=at(second), prompt_tokens=tokens[0],
                completion_tokens=tokens[1], prompt_cost_usd=usd[0], completion_cost_usd=usd[1],
                total_cost_usd=usd[2],
            ))  # fmt: skip
        for letter, index, error_type, message, second in FAILURES:
            session.add(FailedPrediction(
                run_id=runs[letter], task_id=tasks[index - 1], error_type=error_type,
                version_id=RUNS[letter]["version_id"], message=message, created_at=at(second),
            ))  # fmt: skip
        session.commit()
    return Seeded(engine, runs, tasks)


@pytest.fixture(scope="module", params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    directory = tmp_path_factory.mktemp("results")
    if request.param == "sqlite":
        copy_sqlite_schema(directory / "emulator.sqlite3")
        seeded = seed(f"sqlite:///{directory / 'emulator.sqlite3'}", directory)
        yield seeded
        seeded.engine.dispose()
    else:
        with postgres_database(schema=True) as url:
            seeded = seed(url, directory)
            yield seeded
            seeded.engine.dispose()


@pytest.fixture
def session(db: Seeded) -> Iterator[Session]:
    with Session(db.engine) as session:
        yield session


def user(session: Session, user_id: int = 1) -> User:
    found = session.get(User, user_id)
    assert found is not None
    return found


def field_errors(error: pytest.ExceptionInfo[APIError]) -> dict[str, list[str]] | None:
    return error.value.validation_errors


# --- key indicators ---------------------------------------------------------------------------


def test_indicators_of_a_run_are_counted_and_summed_from_its_rows(db, session):
    found = results.indicators(session, [db.run(session, "A")])
    assert found == {db.runs["A"]: {
        "accuracy": {"title": "Accuracy", "values": {
            "accuracy": 0.666667, "correct_predictions": 2, "judged_predictions": 3}},
        "predictions": {"title": "Predictions", "values": {
            "total_tasks": 6, "predictions": 3, "failed_predictions": 2, "remaining": 1}},
        "failures": {"title": "Failed predictions", "values": {
            "failed_predictions": 2, "failure_rate": 0.4}},
        "cost": {"title": "Cost", "values": {
            "total_cost_usd": 0.875, "prompt_cost_usd": 0.12345679,
            "completion_cost_usd": 0.00000001, "prompt_tokens": 36, "completion_tokens": 10}},
    }}  # fmt: skip
    assert list(found[db.runs["A"]]) == ["accuracy", "predictions", "failures", "cost"]


def test_indicators_of_several_runs_each_count_only_their_own_rows(db, session):
    runs = [db.run(session, letter) for letter in "BCE"]
    found = results.indicators(session, runs)
    values = {letter: {key: v["values"] for key, v in found[db.runs[letter]].items()}
              for letter in "BCE"}  # fmt: skip
    # Nothing reported a cost: zeros, not nulls.
    assert values["B"] == {
        "accuracy": {"accuracy": 0.6, "correct_predictions": 3, "judged_predictions": 5},
        "predictions": {"total_tasks": 6, "predictions": 5, "failed_predictions": 0,
                        "remaining": 1},
        "failures": {"failed_predictions": 0, "failure_rate": 0.0},
        "cost": {"total_cost_usd": 0.0, "prompt_cost_usd": 0.0, "completion_cost_usd": 0.0,
                 "prompt_tokens": 0, "completion_tokens": 0},
    }  # fmt: skip
    # An All run shows no accuracy, though one of its predictions was judged.
    assert values["C"]["accuracy"] == {
        "accuracy": None, "correct_predictions": 1, "judged_predictions": 1}  # fmt: skip
    assert values["C"]["predictions"] == {
        "total_tasks": 9, "predictions": 3, "failed_predictions": 3, "remaining": 3}  # fmt: skip
    assert values["C"]["failures"] == {"failed_predictions": 3, "failure_rate": 0.5}
    assert values["C"]["cost"]["prompt_tokens"] == 3
    # A run that made nothing yet: no rate to show, nothing remaining of no known total.
    assert values["E"] == {
        "accuracy": {"accuracy": None, "correct_predictions": 0, "judged_predictions": 0},
        "predictions": {"total_tasks": 0, "predictions": 0, "failed_predictions": 0,
                        "remaining": 0},
        "failures": {"failed_predictions": 0, "failure_rate": None},
        "cost": {"total_cost_usd": 0.0, "prompt_cost_usd": 0.0, "completion_cost_usd": 0.0,
                 "prompt_tokens": 0, "completion_tokens": 0},
    }  # fmt: skip
    assert all(type(values[x]["cost"]["total_cost_usd"]) is float for x in "BCE")
    assert all(type(values[x]["cost"]["prompt_tokens"]) is int for x in "BCE")


def test_remaining_never_goes_below_zero_and_an_unknown_total_counts_as_none(db, session):
    run = db.run(session, "A")
    session.expunge(run)
    run.total_tasks = 4  # fewer than the 5 tasks attempted
    found = results.indicators(session, [run])[run.id]["predictions"]["values"]
    assert (found["total_tasks"], found["remaining"]) == (4, 0)
    run.total_tasks = None
    found = results.indicators(session, [run])[run.id]["predictions"]["values"]
    assert (found["total_tasks"], found["remaining"]) == (0, 0)


def test_one_indicator_by_key_and_an_unknown_key_is_404(db, session):
    run = db.run(session, "A")
    assert results.indicator(session, run, "failures") == {
        "title": "Failed predictions",
        "values": {"failed_predictions": 2, "failure_rate": 0.4},
    }
    with pytest.raises(NotFound) as error:
        results.indicator(session, run, "Accuracy")
    assert error.value.detail == "No KeyIndicator matches the given query."


def test_a_run_is_found_only_in_its_own_organization(db, session):
    assert results.own_run(session, user(session), db.runs["A"]).id == db.runs["A"]
    for run_id in (db.runs["H"], 0, -1, MAX_ID + 1, 999_999):
        with pytest.raises(NotFound) as error:
            results.own_run(session, user(session), run_id)
        assert error.value.detail == "No ModelRun matches the given query."
    assert results.own_run(session, user(session, 2), db.runs["H"]).id == db.runs["H"]


# --- bulk indicators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ids"),
    [("7", [7]), ("3,1,2", [3, 1, 2]), (" 4 , 5 ", [4, 5]), ("2,2,1,2", [2, 1]),
     (str(MAX_ID), [MAX_ID]), (",".join(["9"] * 30), [9]),
     (",".join(str(i) for i in range(1, 21)), list(range(1, 21)))],
)  # fmt: skip
def test_run_ids_are_read_each_once_in_the_order_given(raw, ids):
    assert results.parse_ids("run_ids", raw, 20) == ids


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "This field is required."),
        ("", "This field is required."),
        ("  ", "This field is required."),
        ("1,x", '"x" is not a valid run id.'),
        ("0", '"0" is not a valid run id.'),
        ("-3", '"-3" is not a valid run id.'),
        ("1.5", '"1.5" is not a valid run id.'),
        ("1,,2", '"" is not a valid run id.'),
        (str(MAX_ID + 1), f'"{MAX_ID + 1}" is not a valid run id.'),
        (",".join(str(i) for i in range(1, 22)), "Ensure this field has no more than 20 elements."),
    ],
)
def test_run_ids_that_are_refused(raw, message):
    with pytest.raises(ValidationFailed) as error:
        results.parse_ids("run_ids", raw, 20)
    assert field_errors(error) == {"run_ids": [message]}


def test_bulk_indicators_describe_each_run_in_the_order_asked(db, session):
    asked = [db.runs["E"], db.runs["H"], 999_999, db.runs["A"]]
    found = results.bulk_indicators(session, user(session), asked)
    assert [r["run_id"] for r in found] == [db.runs["E"], db.runs["A"]]
    pending, completed = found
    assert {k: v for k, v in completed.items() if k != "indicators"} == {
        "run_id": db.runs["A"],
        "model_version_id": 1,
        "model_version_title": "baseline",
        "model_display_name": "gpt-4o-mini",
        "project_subset": "HasGT",
        "status": "Completed",
        "created_at": "2026-01-01T12:00:00Z",
        "completed_at": "2026-01-01T12:00:50Z",
        "total_tasks": 6,
        "total_predictions": 3,
        "total_correct_predictions": 2,
    }
    assert completed["indicators"]["accuracy"]["values"]["accuracy"] == 0.666667
    assert completed["indicators"]["cost"]["values"]["total_cost_usd"] == 0.875
    assert (pending["model_version_title"], pending["model_display_name"]) == ("few-shot", "gpt-4o")
    assert (pending["project_subset"], pending["status"]) == ("Sample", "Pending")
    assert (pending["completed_at"], pending["total_tasks"]) == (None, 0)
    assert pending["indicators"]["predictions"]["values"]["total_tasks"] == 0
    assert results.bulk_indicators(session, user(session, 2), asked)[0]["run_id"] == db.runs["H"]


# --- regressions -----------------------------------------------------------------------------


def prediction_ids(session: Session, db: Seeded, letter: str) -> dict[int, int]:
    rows = session.exec(select(Prediction).where(Prediction.run_id == db.runs[letter])).all()
    return {db.tasks.index(p.task_id) + 1: p.id for p in rows}


def test_outcomes_of_a_run_cover_its_ground_truth_tasks_failed_ones_as_incorrect(db, session):
    c = prediction_ids(session, db, "C")
    # t7 and t9 have no ground truth (not judged); t8's failure is on a task without it.
    assert results.outcomes(session, db.run(session, "C")) == {
        db.tasks[0]: (None, False),
        db.tasks[1]: (None, False),
        db.tasks[3]: (c[4], True),
    }


def test_regressions_sort_each_ground_truth_task_by_how_it_moved(db, session):
    a, b = prediction_ids(session, db, "A"), prediction_ids(session, db, "B")
    t = db.tasks

    def item(i: int, in_a: tuple[int | None, bool] | None, in_b: tuple[int | None, bool] | None):
        return {"task_id": t[i - 1],
                "prediction_a": in_a[0] if in_a else None, "correct_a": in_a[1] if in_a else None,
                "prediction_b": in_b[0] if in_b else None, "correct_b": in_b[1] if in_b else None}  # fmt: skip

    found = results.regressions(session, db.run(session, "A"), db.run(session, "B"))
    assert found == {
        "run_a": db.runs["A"],
        "run_b": db.runs["B"],
        "improvements": [item(3, (a[3], False), (b[3], True))],
        "regressions": [item(2, (a[2], True), (b[2], False))],
        "new": [item(6, None, (b[6], True))],
        "removed": [item(5, (None, False), None)],
        "stable_correct": [item(1, (a[1], True), (b[1], True))],
        "stable_incorrect": [item(4, (None, False), (b[4], False))],
        "summary": {"improvements": 1, "regressions": 1, "new": 1, "removed": 1,
                    "stable_correct": 1, "stable_incorrect": 1},
    }  # fmt: skip
    assert list(found) == ["run_a", "run_b", *results.REGRESSION_KEYS, "summary"]


def test_regressions_list_several_tasks_of_a_group_in_task_order(db, session):
    found = results.regressions(session, db.run(session, "B"), db.run(session, "C"))
    assert {key: [i["task_id"] for i in found[key]] for key in results.REGRESSION_KEYS} == {
        "improvements": db.t(4),
        "regressions": db.t(1),
        "new": [],
        "removed": db.t(3, 6),
        "stable_correct": [],
        "stable_incorrect": db.t(2),
    }


# --- re-evaluation -----------------------------------------------------------------------------


def re_evaluate(
    session: Session, body: dict[str, Any], user_id: int = 1
) -> tuple[ModelRun, list[int]]:
    return results.re_evaluate(session, user(session, user_id), body, Clock(wall=lambda: T0))


@pytest.mark.parametrize(
    ("mode", "extra", "picked"),
    [("failed", {}, (4, 5)), ("incorrect", {}, (3,)), ("regressions", {"run_b_id": "B"}, (2,))],
)
def test_re_evaluation_of_a_run_picks_its_failed_incorrect_or_regressed_tasks(
    db, session, mode, extra, picked
):
    body = {"mode": mode, "model_version_id": 2, "source_model_run_id": db.runs["A"],
            **{name: db.runs[letter] for name, letter in extra.items()}}  # fmt: skip
    run, task_ids = re_evaluate(session, body)
    assert task_ids == db.t(*picked)
    stored = session.get(ModelRun, run.id)
    assert (stored.task_ids, stored.source_model_run_id, stored.project_subset) == (
        db.t(*picked), db.runs["A"], "HasGT")  # fmt: skip
    assert (stored.organization_id, stored.project_id, stored.prompt_id, stored.version_id) == (
        1, 1, 1, 2)  # fmt: skip
    assert (stored.created_by_id, stored.status, stored.sample_subset_size) == (1, "Pending", None)
    assert stored.created_at.replace(tzinfo=UTC) == T0
    # Queued for the policy's delay (5 s), as a run created through the API.
    assert stored.next_due_at.replace(tzinfo=UTC) == at(5)


def test_re_evaluation_of_chosen_tasks_runs_each_once_in_the_order_given(db, session):
    run, task_ids = re_evaluate(
        session, {"mode": "custom", "model_version_id": 1, "task_ids": db.t(3, 1, 3, 9)}
    )
    assert task_ids == db.t(3, 1, 9)
    stored = session.get(ModelRun, run.id)
    assert (stored.project_subset, stored.project_id, stored.source_model_run_id) == (
        "All",
        1,
        None,
    )
    assert (stored.sample_subset_size, stored.filters_json) == (None, None)
    assert results.subset_task_ids(
        session, session.get(Project, 1), "All", run=stored, policy=Policy.load(session)
    ) == db.t(1, 3, 9)


def test_re_evaluation_keeps_the_sample_and_filters_of_its_source(db, session):
    filters = {"conjunction": "and", "items": [{"filter": "filter:tasks:ground_truth",
                                                "operator": "equal", "type": "Boolean",
                                                "value": False}]}  # fmt: skip
    source = ModelRun(organization_id=1, project_id=1, prompt_id=1, version_id=2,
                      created_by_id=1, created_at=T0, project_subset="Custom",
                      filters_json=filters, sample_subset_size=3, status="Completed")  # fmt: skip
    session.add(source)
    session.flush()
    session.add(FailedPrediction(run_id=source.id, task_id=db.tasks[7], version_id=2,
                                 created_at=at(40)))  # fmt: skip
    session.commit()
    run, task_ids = re_evaluate(
        session, {"mode": "failed", "model_version_id": 1, "source_model_run_id": source.id}
    )
    assert task_ids == db.t(8)
    stored = session.get(ModelRun, run.id)
    assert (stored.project_subset, stored.filters_json, stored.sample_subset_size) == (
        "Custom", filters, 3)  # fmt: skip
    # The tasks listed for the new run are the ones it runs over.
    listed = results.subset_tasks(session, user(session), session.get(Project, 1),
                                  {"model_run": str(run.id)})  # fmt: skip
    assert [i["id"] for i in listed] == db.t(8)
    # Chosen tasks with a source run take its sample and filters too.
    run, _ = re_evaluate(session, {"mode": "custom", "model_version_id": 1,
                                   "task_ids": db.t(2), "source_model_run_id": source.id})  # fmt: skip
    stored = session.get(ModelRun, run.id)
    assert (stored.project_subset, stored.source_model_run_id) == ("All", source.id)
    assert (stored.filters_json, stored.sample_subset_size) == (filters, 3)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"mode": "custom", "task_ids": []}, {"task_ids": ["This list may not be empty."]}),
        ({"mode": "custom"}, {"task_ids": ["This list may not be empty."]}),
        ({"mode": "custom", "task_ids": "two projects"},
         {"task_ids": ["The tasks must belong to one project."]}),
        ({"mode": "failed"}, {"source_model_run_id": ["This field is required."]}),
        ({"mode": "failed", "source_model_run_id": "H"},
         {"source_model_run_id": ['Invalid pk "H" - object does not exist.']}),
        ({"mode": "failed", "source_model_run_id": 999_999},
         {"source_model_run_id": ['Invalid pk "999999" - object does not exist.']}),
        ({"mode": "custom", "task_ids": "t1", "source_model_run_id": "H"},
         {"source_model_run_id": ['Invalid pk "H" - object does not exist.']}),
        ({"mode": "regressions", "source_model_run_id": "A"},
         {"run_b_id": ["This field is required."]}),
        ({"mode": "failed", "source_model_run_id": "B"},
         {"mode": ['The "failed" mode selects no task to re-run.']}),
        ({"mode": "incorrect", "source_model_run_id": "E"},
         {"mode": ['The "incorrect" mode selects no task to re-run.']}),
        ({"mode": "regressions", "source_model_run_id": "A", "run_b_id": "A"},
         {"mode": ['The "regressions" mode selects no task to re-run.']}),
    ],
)  # fmt: skip
def test_re_evaluation_that_is_refused(db, session, body, errors):
    body = dict(body, model_version_id=1)
    for name in ("source_model_run_id", "run_b_id"):
        if isinstance(body.get(name), str):
            body[name] = db.runs[body[name]]
    # Tasks of two projects, or t1 alone.
    if body.get("task_ids") == "two projects":
        other = session.exec(select(Task.id).where(Task.project_id == 2)).one()
        body["task_ids"] = [db.tasks[0], other]
    elif body.get("task_ids") == "t1":
        body["task_ids"] = db.t(1)
    for name, messages in errors.items():
        errors[name] = [m.replace('"H"', f'"{db.runs["H"]}"') for m in messages]
    before = session.exec(select(ModelRun.id)).all()
    with pytest.raises(ValidationFailed) as error:
        re_evaluate(session, body)
    assert field_errors(error) == errors
    session.rollback()
    assert session.exec(select(ModelRun.id)).all() == before


def test_versions_and_tasks_of_the_organization(db, session):
    resolve = results.own_version(session, user(session))
    assert [resolve(pk) for pk in (1, 2, 3, 4, 99_999)] == [True, True, False, True, False]
    hank = results.own_version(session, user(session, 2))
    assert [hank(pk) for pk in (1, 3)] == [False, True]
    hanks_task = session.exec(select(Task.id).where(Task.project_id == 3)).one()
    asked = [db.tasks[1], hanks_task, 0, MAX_ID + 1, db.tasks[0], 999_999]
    assert results.own_task_ids(session, user(session), asked) == [hanks_task, 0, MAX_ID + 1,
                                                                  999_999]  # fmt: skip
    assert results.own_task_ids(session, user(session), db.t(1, 2)) == []


# --- the labels a result chooses, and how a prediction aligns with the ground truth --------------


def region(from_name: str, **value: Any) -> dict[str, Any]:
    return {"from_name": from_name, "value": value}


@pytest.mark.parametrize(
    ("result", "from_name", "labels"),
    [
        ([region("c", choices=["A", "B"])], None, {"A", "B"}),
        ([region("c", labels=["PER"], start=0, end=1), region("d", rectanglelabels=["Car"]),
          region("e", polygonlabels=["Road"])], None, {"PER", "Car", "Road"}),
        ([region("c", taxonomy=[["Bugs", "UI"], ["Billing"]])], None, {"Bugs/UI", "Billing"}),
        ([region("c", choices=[1])], None, {"1"}),
        ([region("c", choices=["A"]), region("d", choices=["B"])], "d", {"B"}),
        ([region("c", choices=["A"])], "d", set()),
        ([region("c", text=["free text"], choices=None)], None, set()),
        ([{"from_name": "c", "value": ["A"]}, "region", {"from_name": "c"}], None, set()),
        ({"choices": ["A"]}, None, set()),
        (None, None, set()),
    ],
)  # fmt: skip
def test_the_labels_a_result_chooses(result, from_name, labels):
    assert results.chosen_labels(result, from_name) == labels


def item(predicted: list[str] | None, expected: list[str] | None, correct=None) -> dict[str, Any]:
    made: dict[str, Any] = {"id": 1}
    if predicted is not None:
        made["prediction"] = {"result": [region("c", choices=predicted)], "correct": correct}
    if expected is not None:
        made["ground_truth"] = {"result": [region("c", choices=expected)]}
    return made


@pytest.mark.parametrize(
    ("task", "label", "outcomes"),
    [
        (item(["A"], ["A"], correct=True), None, {"true_positive"}),
        (item(["A"], ["A"]), None, {"true_positive"}),  # not judged, but the same labels
        (item(["B"], ["A"], correct=True), None, {"true_positive"}),  # judged right
        (item(["A", "B"], ["A"], correct=False), None, {"false_positive"}),
        (item(["A"], ["A", "B"], correct=False), None, {"false_negative"}),
        (item(["B"], ["A"], correct=False), None, {"false_positive", "false_negative"}),
        (item([], [], correct=False), None, {"false_positive"}),  # wrong, with no label to blame
        (item(["A"], None), None, set()),
        (item(None, ["A"]), None, set()),
        (item(["A"], ["A"]), "A", {"true_positive"}),
        (item(["A"], ["B"]), "A", {"false_positive"}),
        (item(["B"], ["A"]), "A", {"false_negative"}),
        (item(["B"], ["B"]), "A", set()),
        (item(["A"], None), "A", set()),
    ],
)  # fmt: skip
def test_alignment_of_a_prediction_with_the_ground_truth(task, label, outcomes):
    assert results.alignment(task, label, None) == outcomes
    # Of another control, nothing is chosen on either side.
    other = results.alignment(task, label, "elsewhere")
    assert other == (set() if label or "prediction" not in task or "ground_truth" not in task
                     else ({"true_positive"} if task["prediction"]["correct"] else {"false_positive"}))  # fmt: skip


# --- the tasks of a subset with their predictions ---------------------------------------------


def listed(db: Seeded, session: Session, user_id: int = 1, project_id: int = 1, **params: Any):
    """subset_tasks' items as (task index, what it shows, score): "p<run><index>" for a
    prediction, the error type for a failure, "-" for neither."""
    names = {pid: f"p{letter}{index}" for letter in "ABC"
             for index, pid in prediction_ids(session, db, letter).items()}  # fmt: skip
    params = {k: str(db.runs[v]) if k == "model_run" else str(v) for k, v in params.items()}
    project = session.get(Project, project_id)
    found = results.subset_tasks(session, user(session, user_id), project, params)
    return [
        (db.tasks.index(i["id"]) + 1,
         names[i["prediction"]["id"]] if "prediction" in i else i.get("error", {}).get("error_type", "-"),
         i["score"])
        for i in found
    ]  # fmt: skip


def test_subset_tasks_of_a_run_show_its_prediction_or_failure_of_each_task(db, session):
    assert listed(db, session, model_run="A") == [
        (1, "pA1", 1.0), (2, "pA2", 1.0), (3, "pA3", 0.0),
        (4, "RateLimitError", None), (5, "APITimeoutError", None), (6, "-", None),
    ]  # fmt: skip
    # An All run: tasks without ground truth keep the prediction's own score.
    assert listed(db, session, model_run="C") == [
        (1, "APITimeoutError", None), (2, "InternalServerError", None), (3, "-", None),
        (4, "pC4", 1.0), (5, "-", None), (6, "-", None), (7, "pC7", 0.7),
        (8, "RateLimitError", None), (9, "pC9", 0.2),
    ]  # fmt: skip


def test_a_subset_task_item_shows_the_task_its_ground_truth_and_the_judged_prediction(db, session):
    project = session.get(Project, 1)
    items = results.subset_tasks(
        session, user(session), project, {"model_run": str(db.runs["A"]), "project_subset": "HasGT"}
    )
    first, failed, untouched = items[0], items[3], items[5]
    prediction = session.exec(
        select(Prediction).where(
            Prediction.run_id == db.runs["A"], Prediction.task_id == db.tasks[0]
        )
    ).one()
    truth = session.exec(select(Annotation).where(Annotation.task_id == db.tasks[0])).one()
    assert first == {
        "id": db.tasks[0],
        "data": {"text": "abcd"},
        "ground_truth": {
            "id": truth.id, "result": choice("Positive"), "created_username": "", "created_ago": "",
            "completed_by": truth.completed_by_id, "was_cancelled": False, "ground_truth": True,
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
            "draft_created_at": None, "lead_time": None, "import_id": None, "last_action": None,
            "bulk_created": False, "task": db.tasks[0], "project": 1,
            "updated_by": truth.completed_by_id, "parent_prediction": None,
            "parent_annotation": None, "last_created_by": None,
        },
        "prediction": {
            "id": prediction.id, "result": choice("Positive"), "model_version": "",
            "created_ago": "", "score": 0.9, "cluster": None, "neighbors": None,
            "mislabeling": 0.0, "created_at": "2026-01-01T12:00:10Z",
            "updated_at": "2026-01-01T12:00:10Z", "model": None, "model_run": db.runs["A"],
            "task": db.tasks[0], "project": 1, "correct": True,
        },
        "score": 1.0,
    }  # fmt: skip
    assert failed == {
        "id": db.tasks[3], "data": {"text": "a"}, "ground_truth": failed["ground_truth"],
        "error": {"message": "Rate limit reached for gpt-4o-mini.", "error_type": "RateLimitError"},
        "score": None,
    }  # fmt: skip
    assert set(untouched) == {"id", "data", "ground_truth", "score"}


def test_subset_tasks_of_a_version_or_a_prompt_show_the_latest_outcome_of_each_task(db, session):
    # t1 failed after its prediction, t2 at the same instant: the failure shows; t4's
    # prediction came after its failure.
    assert listed(db, session, parent_model=1, model_version=1) == [
        (1, "APITimeoutError", None), (2, "InternalServerError", None), (3, "pA3", 0.0),
        (4, "pC4", 1.0), (5, "APITimeoutError", None), (6, "-", None),
    ]  # fmt: skip
    # Over every version of the prompt, version 2's later predictions of t1..t3 and t6 count.
    assert listed(db, session, parent_model=1) == [
        (1, "APITimeoutError", None), (2, "pB2", 0.0), (3, "pB3", 1.0),
        (4, "pC4", 1.0), (5, "APITimeoutError", None), (6, "pB6", 1.0),
    ]  # fmt: skip
    # A version filter is ignored when a run is named.
    assert listed(db, session, model_run="B", model_version=1, parent_model=2)[:2] == [
        (1, "pB1", 1.0), (2, "pB2", 0.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "indexes"),
    [
        ({"model_run": "A", "project_subset": "All"}, range(1, 10)),
        ({"parent_model": 1}, range(1, 7)),
        ({"parent_model": 1, "project_subset": "Sample"}, range(1, 5)),  # the policy's 4
        ({"model_run": "E"}, range(1, 3)),  # the run's own sample of 2
        ({"model_run": "E", "project_subset": "HasGT"}, range(1, 7)),
        ({"model_run": "A", "project_subset": ""}, range(1, 7)),
    ],
)  # fmt: skip
def test_subset_tasks_list_the_subset_asked_or_the_runs_own(db, session, params, indexes):
    assert [i for i, _, _ in listed(db, session, **params)] == list(indexes)


@pytest.mark.parametrize(
    ("ordering", "indexes"),
    [
        ("score", [3, 1, 2, 4, 5, 6]),  # lowest first, ties by id, no score last
        ("-score", [6, 5, 4, 2, 1, 3]),  # no score first, as PostgreSQL orders NULLs
        (" -score ", [6, 5, 4, 2, 1, 3]),
        ("-id", [6, 5, 4, 3, 2, 1]),
        ("id", [1, 2, 3, 4, 5, 6]),
        ("data", [1, 2, 3, 4, 5, 6]),
        ("--id", [1, 2, 3, 4, 5, 6]),
    ],
)
def test_subset_tasks_ordering(db, session, ordering, indexes):
    assert [i for i, _, _ in listed(db, session, model_run="A", ordering=ordering)] == indexes


@pytest.mark.parametrize(
    ("params", "indexes"),
    [
        ({"output_class": "Positive"}, [1, 3]),
        ({"output_class": "Positive", "output_from_name": "sentiment"}, [1, 3]),
        ({"output_class": "Positive", "output_from_name": "elsewhere"}, []),
        ({"output_class": "Neutral"}, []),
        ({"output_class": ""}, [1, 2, 3, 4, 5, 6]),
        ({"alignment_outcome": "true_positive"}, [1, 2]),
        ({"alignment_outcome": "false_positive"}, [3]),
        ({"alignment_outcome": "false_negative"}, [3]),
        ({"alignment_outcome": "all"}, [1, 2, 3]),
        ({"alignment_outcome": ""}, [1, 2, 3, 4, 5, 6]),
        ({"alignment_class": "Neutral"}, [3]),
        ({"alignment_class": "Positive"}, [1, 3]),
        ({"alignment_class": "Positive", "alignment_outcome": "false_positive"}, [3]),
        ({"alignment_class": "Positive", "alignment_outcome": "all"}, [1, 3]),
        ({"alignment_class": "Positive", "alignment_from_name": "elsewhere"}, []),
        ({"alignment_class": "Positive", "alignment_from_name": "sentiment"}, [1, 3]),
        ({"alignment_class": "Positive", "output_from_name": "elsewhere"}, [1, 3]),
    ],
)  # fmt: skip
def test_subset_tasks_filtered_by_output_class_and_alignment(db, session, params, indexes):
    assert [i for i, _, _ in listed(db, session, model_run="A", **params)] == indexes


@pytest.mark.parametrize(
    ("versions", "indexes"),
    [("2", [1, 2, 3, 4, 6]), ("1,2", [1, 2, 3, 4]), ("2, x", [1, 2, 3, 4, 6]), (" 1", [1, 2, 3, 4]),
     ("3", []), ("", [1, 2, 3, 4, 5, 6])],
)  # fmt: skip
def test_subset_tasks_keep_the_tasks_each_listed_version_predicted(db, session, versions, indexes):
    found = listed(db, session, parent_model=1, prediction_version_ids=versions)
    assert [i for i, _, _ in found] == indexes


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({}, {"parent_model": ["This field is required."]}),
        ({"model_run": "", "parent_model": ""}, {"parent_model": ["This field is required."]}),
        ({"model_run": "1x", "model_version": "v", "parent_model": "-"},
         {name: ["A valid integer is required."]
          for name in ("model_run", "model_version", "parent_model")}),
        ({"parent_model": "1", "alignment_outcome": "tp"},
         {"alignment_outcome": ["Select a valid choice. tp is not one of the available choices."]}),
        ({"parent_model": "1", "project_subset": "hasgt"},
         {"project_subset": ["Select a valid choice. hasgt is not one of the available choices."]}),
        ({"parent_model": "1", "project_subset": "Custom"},
         {"project_subset": ["The Custom subset is only known through a run (model_run)."]}),
    ],
)  # fmt: skip
def test_subset_tasks_parameters_that_are_refused(db, session, params, errors):
    with pytest.raises(ValidationFailed) as error:
        results.subset_tasks(session, user(session), session.get(Project, 1), params)
    assert field_errors(error) == errors


@pytest.mark.parametrize(
    ("project_id", "params", "model"),
    [
        (2, {"model_run": "A"}, "ModelRun"),  # a run of another project
        (1, {"model_run": "H"}, "ModelRun"),
        (1, {"model_run": "0"}, "ModelRun"),
        (1, {"parent_model": "2"}, "ModelInterface"),
        (1, {"parent_model": "0"}, "ModelInterface"),
        (1, {"parent_model": "999999"}, "ModelInterface"),
        (1, {"parent_model": str(MAX_ID + 1)}, "ModelInterface"),
    ],
)
def test_subset_tasks_of_runs_and_prompts_out_of_reach_are_404(
    db, session, project_id, params, model
):
    params = {k: str(db.runs[v]) if v in db.runs else v for k, v in params.items()}
    with pytest.raises(NotFound) as error:
        results.subset_tasks(session, user(session), session.get(Project, project_id), params)
    assert error.value.detail == f"No {model} matches the given query."


# --- cost estimate -----------------------------------------------------------------------------


def estimate(session: Session, prompt_id: int, version_id: int, **params: str) -> dict[str, Any]:
    prompt, version = session.get(Prompt, prompt_id), session.get(PromptVersion, version_id)
    return results.estimate_cost(session, prompt, version, params)


def priced(prompt_usd: str, completion_usd: str, total_usd: str) -> dict[str, Any]:
    return {"prompt_cost_usd": prompt_usd, "completion_cost_usd": completion_usd,
            "total_cost_usd": total_usd, "is_error": False, "error_type": None,
            "error_message": None}  # fmt: skip


# Per task: the prompt filled with its text in tokens of 4 characters, rounded up; the longest
# label ("Positive", "Negative": 2 tokens) as the completion. "Label: " is 7 characters, so the
# HasGT tasks t1..t6 (4, 8, 3, 1, 2, 5 characters) take 3+4+3+2+3+3 = 18 prompt tokens and
# 6 x 2 = 12 completion tokens; gpt-4o-mini costs $0.00015 and $0.0006 per 1,000.
@pytest.mark.parametrize(
    ("prompt_id", "version_id", "params", "expected"),
    [
        (1, 1, {}, priced("0.00000270", "0.00000720", "0.00000990")),
        (1, 1, {"project": "1", "project_subset": "HasGT"},
         priced("0.00000270", "0.00000720", "0.00000990")),
        # The first 4 tasks: 3+4+3+2 = 12 and 4 x 2 = 8 tokens.
        (1, 1, {"project_subset": "Sample"}, priced("0.00000180", "0.00000480", "0.00000660")),
        # gpt-4o ($0.0025, $0.01) over all nine tasks, "Say: " being 5 characters:
        # 3+4+2+2+2+3+2+2+2 = 22 and 9 x 2 = 18 tokens.
        (1, 2, {"project_subset": "All"}, priced("0.00005500", "0.00018000", "0.00023500")),
        # The prompt's own classes: "Absolutely" is 3 tokens; o1 ($0.015, $0.06); "Q " is 2
        # characters: 2+3+2+1+1+2 = 11 and 6 x 3 = 18 tokens.
        (3, 4, {"project": "1"}, priced("0.00016500", "0.00108000", "0.00124500")),
        # Project 2's one task "zz": "Label: zz", 3 tokens, and 2 for the answer.
        (1, 1, {"project": "2", "project_subset": "All"},
         priced("0.00000045", "0.00000120", "0.00000165")),
        # No task with ground truth there: nothing to pay.
        (1, 1, {"project": "2"}, priced("0.00000000", "0.00000000", "0.00000000")),
    ],
)  # fmt: skip
def test_cost_estimate_prices_each_tasks_prompt_and_longest_answer(
    db, session, prompt_id, version_id, params, expected
):
    assert estimate(session, prompt_id, version_id, **params) == expected


def test_cost_estimate_of_a_project_without_labels_counts_one_completion_token(db, session):
    session.get(Project, 2).label_config = '<View><Text name="text" value="$text"/></View>'
    # "Label: zz": 3 tokens; an answer is at least 1 token.
    assert estimate(session, 1, 1, project="2", project_subset="All") == priced(
        "0.00000045", "0.00000060", "0.00000105"
    )
    session.rollback()
    assert estimate(session, 1, 1, project="") == estimate(session, 1, 1)


def test_cost_estimate_of_a_prompt_without_a_project_is_an_error_answer(db, session):
    assert estimate(session, 3, 4) == {
        "prompt_cost_usd": None, "completion_cost_usd": None, "total_cost_usd": None,
        "is_error": True, "error_type": "ValidationError",
        "error_message": "The prompt has no associated project to estimate.",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"project": "x"}, {"project": ["A valid integer is required."]}),
        ({"project": "-1"}, {"project": ["A valid integer is required."]}),
        ({"project": "3"}, {"project": ['Invalid pk "3" - object does not exist.']}),
        ({"project": "0"}, {"project": ['Invalid pk "0" - object does not exist.']}),
        ({"project": "99"}, {"project": ['Invalid pk "99" - object does not exist.']}),
        ({"project": str(MAX_ID + 1)},
         {"project": [f'Invalid pk "{MAX_ID + 1}" - object does not exist.']}),
        ({"project_subset": "Custom"},
         {"project_subset": ["Select a valid choice. Custom is not one of the available choices."]}),
        ({"project_subset": "all"},
         {"project_subset": ["Select a valid choice. all is not one of the available choices."]}),
    ],
)  # fmt: skip
def test_cost_estimate_parameters_that_are_refused(db, session, params, errors):
    with pytest.raises(ValidationFailed) as error:
        estimate(session, 1, 1, **params)
    assert field_errors(error) == errors


# --- prompt refinement ---------------------------------------------------------------------------

HINT = ("Before answering, compare the task with the labelled examples{} and pick the label of "
        "the most similar one; never answer anything else.")  # fmt: skip
REFINED_V1 = (
    "Q {text}\n\nAnswer with exactly one of these labels: Yes, Absolutely.\n" + HINT.format("")
)


@pytest.mark.parametrize(
    ("old", "labels", "examples", "text"),
    [
        ("Q {text}", ["Yes", "Absolutely"], 0, REFINED_V1),
        ("  \n", [], 2, "Classify the task.\n" + HINT.format(" (2 given)")),
        ("Rate it. \n", ["1"], 1,
         "Rate it.\n\nAnswer with exactly one of these labels: 1.\n" + HINT.format(" (1 given)")),
    ],
)  # fmt: skip
def test_the_teachers_rewrite_names_the_labels_and_the_examples(old, labels, examples, text):
    assert refine.refined_text(old, labels, examples) == text


def test_the_labels_a_prompt_chooses_from(db, session):
    assert refine.labels_of(session, session.get(Prompt, 3), 1) == ["Yes", "Absolutely"]
    assert refine.labels_of(session, session.get(Prompt, 1), 1) == [
        "Positive", "Negative", "Neutral"]  # fmt: skip
    assert refine.labels_of(session, session.get(Prompt, 1), 99_999) == []
    project = session.get(Project, 2)
    project.label_config = "<View><Choices"  # unreadable: no labels, not an error
    assert refine.labels_of(session, session.get(Prompt, 1), 2) == []
    session.rollback()


@pytest.fixture
def jobs(db: Seeded) -> Iterator[None]:
    """Refinement jobs, and the versions they save, removed after the test."""
    yield
    with Session(db.engine) as session:
        for job in session.exec(select(RefineJob)).all():
            if job.refined_version_id is not None:
                session.delete(session.get(PromptVersion, job.refined_version_id))
            session.delete(job)
        session.commit()


def refinement(session: Session, version_id: int, wait: bool, teacher: str = "gpt-4o"):
    version = session.get(PromptVersion, version_id)
    prompt = session.get(Prompt, version.prompt_id)
    values = {"project_id": 1, "teacher_model_name": teacher,
              "teacher_model_provider_connection_id": 7}  # fmt: skip
    clock = Clock(wall=lambda: T0)
    return refine.start_refinement(session, user(session), prompt, version, values, clock, wait)


def test_a_refinement_waits_in_the_queue_then_works_for_ten_seconds(db, session, jobs):
    job = refinement(session, 4, wait=False)
    job_id = job.id
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    stored = session.get(RefineJob, job_id)
    assert (stored.status, stored.organization_id, stored.prompt_id, stored.version_id) == (
        "Pending", 1, 3, 4)  # fmt: skip
    assert (stored.project_id, stored.created_by_id, stored.teacher_model_name) == (1, 1, "gpt-4o")
    assert (stored.teacher_connection_id, stored.refined_version_id) == (7, None)
    assert stored.created_at.replace(tzinfo=UTC) == T0
    assert stored.next_due_at.replace(tzinfo=UTC) == at(5)
    session.close()
    assert refine.settle_due(db.engine, at(4.999)) == 0
    assert refine.settle_due(db.engine, at(5)) == 1
    with Session(db.engine) as fresh:
        moved = fresh.get(RefineJob, job_id)
        assert moved.status == "InProgress" and moved.next_due_at.replace(tzinfo=UTC) == at(15)
    assert refine.settle_due(db.engine, at(14.999)) == 0
    assert refine.settle_due(db.engine, at(100)) == 1
    with Session(db.engine) as fresh:
        done = fresh.get(RefineJob, job_id)
        # Stamped with the instant it was due, not the instant it was applied.
        assert done.status == "Completed" and done.completed_at.replace(tzinfo=UTC) == at(15)
        assert done.next_due_at is None
        new = fresh.get(PromptVersion, done.refined_version_id)
        assert new.title == "v1 (refined)" and new.created_at.replace(tzinfo=UTC) == at(15)


def test_the_lifecycle_settles_a_refinement_step_due_at_the_instant_it_reaches(db, session, jobs):
    job_id = refinement(session, 4, wait=False).id
    session.close()
    clock = Clock(wall=lambda: T0)
    machine.settle(db.engine, clock, until=at(4.999))
    with Session(db.engine) as fresh:
        assert fresh.get(RefineJob, job_id).status == "Pending"
    machine.settle(db.engine, clock, until=at(5))
    with Session(db.engine) as fresh:
        assert fresh.get(RefineJob, job_id).status == "InProgress"


def test_a_refinement_applies_each_due_step_of_several_jobs_in_one_pass(db, session, jobs):
    first, second = refinement(session, 4, wait=False).id, refinement(session, 4, wait=False).id
    assert first != second  # same version, same instant: still two ids
    session.close()
    assert refine.settle_due(db.engine, at(20)) == 4
    with Session(db.engine) as fresh:
        done = [fresh.get(RefineJob, job_id) for job_id in (first, second)]
        titles = sorted(fresh.get(PromptVersion, j.refined_version_id).title for j in done)
        assert titles == ["v1 (refined)", "v1 (refined) (2)"]


def test_a_waited_refinement_saves_the_rewrite_as_a_new_version(db, session, jobs):
    job = refinement(session, 4, wait=True)
    assert (job.status, job.next_due_at) == ("Completed", None)
    assert job.completed_at.replace(tzinfo=UTC) == at(15)
    new = session.get(PromptVersion, job.refined_version_id)
    old = session.get(PromptVersion, 4)
    assert (new.prompt_id, new.organization_id, new.created_by_id) == (3, old.organization_id, 1)
    assert (new.title, new.prompt) == ("v1 (refined)", REFINED_V1)
    assert (new.provider, new.provider_model_id) == ("OpenAI", "o1")
    assert new.accuracy == pytest.approx(0.85)
    assert new.created_at.replace(tzinfo=UTC) == new.updated_at.replace(tzinfo=UTC) == at(15)
    # gpt-4o reads "Q {text}" (2 tokens at $0.0025 per 1,000) and writes the 201 characters
    # of the rewrite (51 tokens at $0.01 per 1,000).
    assert job.total_cost_usd == 0.000515
    assert job.reasoning == (
        "Listed the labels the project accepts (Yes, Absolutely) and asked for one of them only, "
        "comparing with labelled examples first."
    )
    again = refinement(session, 4, wait=True, teacher="unknown-model")
    # A teacher the price table does not list is priced as gpt-4o-mini ($0.00015, $0.0006).
    assert again.total_cost_usd == 0.0000309
    assert session.get(PromptVersion, again.refined_version_id).title == "v1 (refined) (2)"


@pytest.mark.parametrize(
    ("version_id", "accuracy", "failure_rate", "provider", "few_shot"),
    [(5, 0.98, 0.25, "Custom", 3), (6, 0.99, 0.0, "OpenAI", None)],
)
def test_a_refined_version_is_a_little_more_accurate_up_to_a_cap(
    db, session, jobs, version_id, accuracy, failure_rate, provider, few_shot
):
    new = session.get(PromptVersion, refinement(session, version_id, wait=True).refined_version_id)
    assert (new.accuracy, new.failure_rate, new.provider) == (accuracy, failure_rate, provider)
    assert new.max_few_shot_examples == few_shot


def test_a_refinement_title_stays_within_500_characters_with_its_number(db, session):
    # "<498 t> (refined)" is cut to 500 characters: "<498 t> (".
    session.add(PromptVersion(id=90, prompt_id=3, title="t" * 498 + " ("))
    session.commit()
    assert refine._free_title(session, 3, "t" * 498 + " (refined)") == "t" * 496 + " (2)"
    assert refine._free_title(session, 3, "t" * 497 + " (refined)") == "t" * 497 + " (r"
    session.delete(session.get(PromptVersion, 90))
    session.commit()


def test_a_refinement_job_is_found_only_for_its_own_version(db, session, jobs):
    job = refinement(session, 4, wait=False)
    version = session.get(PromptVersion, 4)
    assert refine.own_job(session, version, job.id).id == job.id
    for other, job_id in ((session.get(PromptVersion, 5), job.id), (version, "nope")):
        with pytest.raises(NotFound) as error:
            refine.own_job(session, other, job_id)
        assert error.value.detail == "No RefinementJob matches the given query."
    with pytest.raises(ValidationFailed) as error:
        refine.own_job(session, version, None)
    assert field_errors(error) == {"refinement_job_id": ["This field is required."]}
