"""The lifecycle with a fixed clock: every step happens at the instant it is due."""

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from conftest import BACKENDS, copy_sqlite_schema, postgres_database
from sqlalchemy import Engine, event, func, text
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine, mark_seed_changed, write_session
from app.errors import BadRequest, ValidationFailed
from app.lifecycle import external
from app.lifecycle import machine as lifecycle
from app.lifecycle.clock import EARLIEST, LATEST, Clock
from app.lifecycle.inference import PROVIDER_ERRORS
from app.lifecycle.model import try_task
from app.lifecycle.policy import Policy
from app.lifecycle.runs import change_clock, create_run
from app.lifecycle.snapshot import reset_state
from app.lifecycle.subsets import (
    FilterError,
    count,
    filter_condition,
    subset_counts,
    subset_query,
)
from app.lifecycle.worker import Worker
from app.lookups import prompt_version
from app.main import prepare_database
from app.models import (
    ACTIVE_STATUSES,
    FailedPrediction,
    ModelRun,
    Prediction,
    Project,
    Prompt,
    PromptVersion,
    RunEvent,
    RunStatus,
    RunTask,
    Task,
    User,
)
from app.workspace.tasks import delete_task

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = {
    "queue_delay_seconds": 5,
    "tasks_per_second": 10,
    "batch_size": 10,
    "sample_subset_size": 25,
}


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    """A database with the demo seed per backend, made once for the module."""
    with postgres_database(schema=True) if request.param == "postgresql" else nullcontext() as url:
        if url is None:
            path = tmp_path_factory.mktemp("engine") / "emulator.sqlite3"
            copy_sqlite_schema(path)
            url = f"sqlite:///{path}"
        settings = Settings(database_url=url, **POLICY)
        engine = make_engine(settings.sqlalchemy_url())
        prepare_database(engine, settings, Clock(wall=lambda: T0))
        yield engine, settings
        engine.dispose()


@pytest.fixture
def db(seeded: tuple[Engine, Settings]) -> tuple[Engine, Clock]:
    """The module's database back in its boot state, with a clock on T0."""
    engine, settings = seeded
    clock = Clock(wall=lambda: T0)
    reset_state(engine, settings, clock)
    return engine, clock


def create(engine, clock, **fields) -> int:
    """A run of prompt 1 / version 1 on project 1 (300 tasks, 90 ground truth) created at T0
    by Ada, from the validated fields of a create body."""
    values = {"project": 1, "project_subset": "HasGT", "only_missing_predictions": False} | fields
    with write_session(engine) as session:
        user = session.get(User, 1)
        prompt, version = prompt_version(session, user, 1, 1)
        return create_run(session, user, prompt, version, values, None, clock).id


def get(engine, run_id) -> ModelRun:
    with Session(engine) as session:
        return session.get(ModelRun, run_id)


def set_failure_rate(engine: Engine, rate: float) -> None:
    """Version 1 fails that share of its predictions (the next reset reloads the seed)."""
    with write_session(engine) as session:
        session.get(PromptVersion, 1).failure_rate = rate
        mark_seed_changed(session)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@contextmanager
def statements_sent(engine: Engine, kind: str) -> Iterator[list[str]]:
    """The statements of a kind (SELECT, DELETE) sent meanwhile, whitespace collapsed."""
    sent: list[str] = []

    def capture(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(kind):
            sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


@contextmanager
def statements_holding(engine: Engine, part: str) -> Iterator[list[tuple[str, object]]]:
    """The statements holding ``part`` sent meanwhile, as sent, with their parameters."""
    sent: list[tuple[str, object]] = []

    def capture(connection, cursor, statement, parameters, context, executemany) -> None:
        if part in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def plan_of(engine: Engine, statement: str, parameters: object) -> str:
    """The database's plan of a statement sent with these parameters."""
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        return str(connection.exec_driver_sql(explain + statement, parameters).all())


def test_run_stays_pending_until_its_queue_delay_has_passed(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(4.999))
    assert get(engine, run_id).status == RunStatus.PENDING
    lifecycle.settle(engine, clock, until=at(5))
    run = get(engine, run_id)
    assert (run.status, run.triggered_at, run.total_tasks) == (RunStatus.IN_PROGRESS, at(5), 300)
    assert run.total_predictions == 0 and run.predictions_updated_at is None


def test_each_batch_moves_the_totals_at_its_due_instant(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5 + 3.5))  # 3 batches of 10 at 1 s each
    run = get(engine, run_id)
    assert (run.total_predictions, run.predictions_updated_at) == (30, at(8))
    assert run.status == RunStatus.IN_PROGRESS


def test_run_completes_when_every_task_is_predicted_with_exact_totals(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5 + 30))
    run = get(engine, run_id)
    assert (run.status, run.completed_at, run.predictions_updated_at) == (
        RunStatus.COMPLETED, at(35), at(35))  # fmt: skip
    assert run.total_tasks == run.total_predictions == 300
    with Session(engine) as session:
        correct = session.exec(
            select(func.count()).select_from(Prediction)
            .where(Prediction.run_id == run_id, Prediction.correct == True)  # noqa: E712
        ).one()  # fmt: skip
        left = session.exec(select(func.count()).select_from(RunTask)).one()
    assert run.total_correct_predictions == correct
    assert left == 0


def test_a_step_reads_and_deletes_the_runs_tasks_after_the_last_one_it_consumed(db):
    """PostgreSQL keeps the index entries of deleted rows until a vacuum: a step that read the
    run's queue from the start of its range walked through every task consumed before."""
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5 + 3.5))
    assert get(engine, run_id).tasks_done_through == 30  # project 1's tasks are 1 to 300
    with statements_holding(engine, "run_task") as statements:
        lifecycle.settle(engine, clock, until=at(5 + 4.5))
    assert get(engine, run_id).total_predictions == 40
    assert len(statements) == 2  # the read of the next tasks and the delete of those predicted
    for statement, parameters in statements:
        plan = plan_of(engine, statement, parameters)
        assert re.search(r"task_id ?>", plan), plan


def test_a_step_reads_the_next_start_with_its_claim_and_its_tasks_in_one_statement(db):
    """Each statement of a step is a round trip on PostgreSQL: the next start of a Pending run
    (how far the step may go) comes with the run's claim, and the run's next tasks with their
    data in one statement."""
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5 + 3.5))
    with statements_sent(engine, "SELECT") as selects:
        lifecycle.settle(engine, clock, until=at(5 + 4.5))
    assert get(engine, run_id).total_predictions == 40
    assert not [s for s in selects if s.startswith("SELECT min(model_run.next_due_at)")], selects
    claims = [s for s in selects if "FROM model_run" in s and "LIMIT" in s]
    assert claims and all("next_start" in s for s in claims), claims
    tasks = [s for s in selects if "run_task" in s]
    assert len(tasks) == 1 and "JOIN task" in tasks[0], tasks


def test_a_claim_reads_the_first_due_run_in_index_order_without_sorting_the_queue(db):
    """A claim reads ix_model_run_due_order from its first entry: indexed by status then due
    instant, the Pending and InProgress runs were two ranges, which each claim read whole and
    sorted, so that every step cost as much as the queue was long."""
    engine, clock = db
    first = create(engine, clock, project_subset="Sample", sample_size=1)
    for _ in range(30):
        create(engine, clock, project_subset="Sample", sample_size=1)
    with statements_holding(engine, "next_start") as claims:
        lifecycle.settle(engine, clock, until=at(5))
    assert get(engine, first).status == RunStatus.IN_PROGRESS
    plan = plan_of(engine, *claims[0])
    assert "ix_model_run_due_order" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_run_is_active_until_it_reaches_one_of_the_final_statuses():
    """The claim finds the runs not ended as ``status NOT IN`` the final statuses: the same
    runs as ``IN`` the active ones only while every status is one or the other."""
    assert set(RunStatus) == set(lifecycle.FINAL_STATUSES) | set(ACTIVE_STATUSES)
    assert not set(lifecycle.FINAL_STATUSES) & set(ACTIVE_STATUSES)


def test_a_runs_last_step_deletes_its_queue_once(db):
    """The step that predicts a run's last tasks ends it, and the end deletes the run's whole
    queue: no DELETE of the tasks just consumed before it (a round trip on PostgreSQL)."""
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5 + 29.5))
    assert get(engine, run_id).total_predictions == 290
    with statements_sent(engine, "DELETE") as sent:
        lifecycle.settle(engine, clock, until=at(5 + 30))
    deletes = [statement for statement in sent if "run_task" in statement]
    run = get(engine, run_id)
    assert (run.status, run.total_predictions) == (RunStatus.COMPLETED, 300)
    assert len(deletes) == 1 and "task_id" not in deletes[0], deletes
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(RunTask)).one() == 0


def test_steps_that_can_be_made_run_without_a_savepoint(db):
    """A SAVEPOINT and its RELEASE are two round trips a step on PostgreSQL: only the step of a
    run whose step failed gets one (test_data's run whose step cannot be made)."""
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    with statements_sent(engine, "SAVEPOINT") as savepoints:
        lifecycle.settle(engine, clock, until=at(5 + 4.5))
    assert get(engine, run_id).total_predictions == 40
    assert savepoints == []


def test_hasgt_subset_counts_only_ground_truth_tasks(db):
    engine, clock = db
    run_id = create(engine, clock)  # the default subset is HasGT
    lifecycle.settle(engine, clock, until=at(100))
    run = get(engine, run_id)
    assert run.project_subset == "HasGT" and run.total_tasks == 90
    with Session(engine) as session:
        non_gt = session.exec(
            select(func.count()).select_from(Prediction).join(Task, Task.id == Prediction.task_id)
            .where(Prediction.run_id == run_id, Task.has_ground_truth == False)  # noqa: E712
        ).one()  # fmt: skip
    assert non_gt == 0
    # accuracy 0.72 of version 1, counted on ground truth only
    assert 0.5 * 90 < run.total_correct_predictions < 0.9 * 90


def test_correctness_is_counted_on_ground_truth_tasks_only(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    with Session(engine) as session:
        rows = session.exec(
            select(Prediction.correct, Task.has_ground_truth)
            .join(Task, Task.id == Prediction.task_id).where(Prediction.run_id == run_id)
        ).all()  # fmt: skip
    assert all((correct is None) == (not has_gt) for correct, has_gt in rows)
    assert get(engine, run_id).total_correct_predictions == sum(bool(c) for c, _ in rows)


def test_same_run_twice_gives_the_same_totals(db):
    engine, clock = db
    first = create(engine, clock, project_subset="All")
    second = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    a, b = get(engine, first), get(engine, second)
    assert (a.total_tasks, a.total_predictions, a.total_correct_predictions) == (
        b.total_tasks, b.total_predictions, b.total_correct_predictions)  # fmt: skip


def test_sample_subset_is_the_first_tasks_by_id_of_the_run_size_or_the_policy_default(db):
    engine, clock = db
    sized = create(engine, clock, project_subset="Sample", sample_subset_size=40)
    default = create(engine, clock, project_subset="Sample")
    lifecycle.settle(engine, clock, until=at(100))
    assert get(engine, sized).total_tasks == 40
    assert get(engine, default).total_tasks == 25
    with Session(engine) as session:
        picked = set(session.exec(select(Prediction.task_id).where(Prediction.run_id == default)))
        first = list(session.exec(select(Task.id).where(Task.project_id == 1).order_by(Task.id)))
        again = set(session.exec(subset_query(1, "Sample", sample_size=25)))
    assert picked == again == set(first[:25])


def test_custom_subset_applies_task_id_filters(db):
    engine, clock = db
    with Session(engine) as session:
        first = session.exec(select(func.min(Task.id)).where(Task.project_id == 1)).one()
    filters = {"conjunction": "and", "items": [
        {"filter": "filter:tasks:id", "operator": "in", "type": "Number",
         "value": {"min": first, "max": first + 9}},
        {"filter": "filter:tasks:id", "operator": "not_equal", "type": "Number", "value": first},
    ]}  # fmt: skip
    run_id = create(engine, clock, project_subset="Custom", filters_json=filters)
    lifecycle.settle(engine, clock, until=at(100))
    assert get(engine, run_id).total_tasks == 9


def test_only_missing_predictions_skips_tasks_already_predicted_by_the_version(db):
    engine, clock = db
    create(engine, clock, project_subset="HasGT")
    lifecycle.settle(engine, clock, until=at(100))
    with write_session(engine) as session:
        clock.set(session, at(100))
    again = create(engine, clock, project_subset="All", only_missing_predictions=True)
    lifecycle.settle(engine, clock, until=at(200))
    assert get(engine, again).total_tasks == 300 - 90


def test_a_step_makes_no_batch_due_at_or_after_another_runs_start(db):
    """One settle makes a run's due batches together, up to the next start of a Pending run
    (read with the run's claim): the later run's subset counts the predictions made before
    its start, and none after."""
    engine, clock = db
    first = create(engine, clock, project_subset="All")
    with write_session(engine) as session:
        clock.set(session, at(10.5))
    later = create(engine, clock, project_subset="All", only_missing_predictions=True)
    lifecycle.settle(engine, clock, until=at(100))
    # The first run starts at 5 and predicts 10 tasks a second from 6: 100 by 15.5.
    assert get(engine, later).total_tasks == 300 - 100
    assert get(engine, first).total_predictions == 300


def test_failure_rate_above_the_threshold_ends_the_run_failed(db):
    engine, clock = db
    set_failure_rate(engine, 0.9)
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    run = get(engine, run_id)
    assert run.status == RunStatus.FAILED and run.completed_at == at(35)
    with Session(engine) as session:
        failed = session.exec(
            select(func.count())
            .select_from(FailedPrediction)
            .where(FailedPrediction.run_id == run_id)
        ).one()
    assert failed + run.total_predictions == run.total_tasks == 300
    assert failed > 0.5 * 300


def test_a_run_predicts_with_its_version_as_stored_when_it_steps(db):
    """Models are kept for the process by what they are made of: a version changed after a
    run of it predicts differently for the next run."""
    engine, clock = db
    first = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    assert get(engine, first).total_failed == 0
    set_failure_rate(engine, 1.0)
    second = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(200))
    run = get(engine, second)
    assert (run.total_failed, run.total_predictions, run.status) == (300, 0, RunStatus.FAILED)


def test_canceled_run_makes_no_prediction_afterwards(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(7))
    with write_session(engine) as session:
        lifecycle.cancel(session, session.get(ModelRun, run_id), at(7))
    lifecycle.settle(engine, clock, until=at(100))
    run = get(engine, run_id)
    assert (run.status, run.total_predictions, run.completed_at) == (RunStatus.CANCELED, 20, at(7))
    with Session(engine) as session:
        made = session.exec(select(func.count()).select_from(Prediction)).one()
    assert made == 20


def test_transitions_outside_the_table_are_refused(db):
    engine, clock = db
    run_id = create(engine, clock)
    with write_session(engine) as session:
        run = session.get(ModelRun, run_id)
        with pytest.raises(lifecycle.IllegalTransition) as refused:
            lifecycle.transition(session, run, RunStatus.COMPLETED, at(1), "control")
        assert set(refused.value.allowed) == {RunStatus.IN_PROGRESS, RunStatus.CANCELED}


def test_a_forced_outcome_is_read_without_surrounding_spaces(db):
    engine, clock = db
    run_id = create_run_with_outcome(engine, clock, " Failed ")
    assert get(engine, run_id).outcome == "Failed"
    with pytest.raises(BadRequest) as refused:
        create_run_with_outcome(engine, clock, " failed ")
    assert refused.value.detail == (
        'Unknown X-Emulator-Outcome "failed": use one of Completed, Failed, Stuck.'
    )


def test_history_records_every_status_change_with_its_instant_and_cause(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    with Session(engine) as session:
        events = session.exec(
            select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)
        )
        history = [(e.from_status, e.to_status, e.at, e.cause) for e in events]
    assert history == [
        ("Pending", "InProgress", at(5), "schedule"),
        ("InProgress", "Completed", at(35), "schedule"),
    ]


def test_a_restart_is_noted_in_the_history_of_each_run_in_flight(seeded, db):
    engine, clock = db
    canceled = create(engine, clock, project_subset="All")
    started = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(5))  # both InProgress: the queue delay is 5 s
    with write_session(engine) as session:
        lifecycle.cancel(session, session.get(ModelRun, canceled), at(5))
    prepare_database(engine, seeded[1], clock)  # what a server does as it starts
    with Session(engine) as session:
        restarts = session.exec(select(RunEvent).where(RunEvent.cause == "restart")).all()
        noted = [(e.run_id, e.from_status, e.to_status, e.at, e.reason) for e in restarts]
    assert noted == [(started, "InProgress", "InProgress", T0, "server started")]


def test_subset_counts_match_what_a_run_selects(db):
    engine, clock = db
    with Session(engine) as session:
        counts = {c["subset"]: c["count"] for c in subset_counts(session, 1, 25)}
        assert counts == {"All": 300, "HasGT": 90, "Sample": 25}
        assert count(session, subset_query(1, "HasGT", sample_size=25)) == 90


@pytest.mark.parametrize("value", [10**23, float("nan"), True, "5"])
def test_custom_filter_values_no_column_can_hold_are_refused(value):
    item = {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": value}
    with pytest.raises(FilterError):
        filter_condition({"conjunction": "and", "items": [item]})


def test_subset_counts_of_a_project_without_tasks_are_zero(db):
    engine, _ = db
    with Session(engine) as session:
        assert subset_counts(session, 999, 25) == [
            {"subset": "All", "count": 0},
            {"subset": "HasGT", "count": 0},
            {"subset": "Sample", "count": 0},
        ]
        assert subset_counts(session, 3, 25) == [  # the demo seed's project 3: 50 tasks, 20 GT
            {"subset": "All", "count": 50},
            {"subset": "HasGT", "count": 20},
            {"subset": "Sample", "count": 25},
        ]
        assert subset_counts(session, 3, 60)[2] == {"subset": "Sample", "count": 50}


def test_custom_subset_keeps_to_its_project(db):
    engine, _ = db
    every_task = {"items": [{"filter": "filter:tasks:id", "operator": "greater", "value": 0}]}
    with Session(engine) as session:
        selected = set(session.exec(subset_query(2, "Custom", sample_size=25,
                                                 filters=every_task)))  # fmt: skip
        project_2 = set(session.exec(select(Task.id).where(Task.project_id == 2)))
    assert len(selected) == 120 and selected == project_2  # the demo seed's project 2


def test_sample_subset_is_the_first_tasks_by_id(db):
    engine, _ = db
    with Session(engine) as session:
        ids = list(session.exec(select(Task.id).where(Task.project_id == 1)))
        sample = list(session.exec(subset_query(1, "Sample", sample_size=5)))
    assert sample == sorted(ids)[:5]


def test_missing_predictions_are_counted_per_version(db):
    engine, clock = db
    create(engine, clock)  # version 1 over the 90 ground-truth tasks of project 1
    lifecycle.settle(engine, clock, until=at(100))
    with Session(engine) as session:
        missing = {
            version: count(session, subset_query(1, "All", sample_size=25,
                                                 missing_for_version=version))
            for version in (1, 2)
        }  # fmt: skip
    assert missing == {1: 300 - 90, 2: 300}


def test_each_failed_prediction_names_the_provider_and_the_task_at_its_batch_instant(db):
    engine, clock = db
    set_failure_rate(engine, 1.0)
    run_id = create(engine, clock, project_subset="Sample", sample_subset_size=12)
    lifecycle.settle(engine, clock, until=at(100))
    with Session(engine) as session:
        picked = list(session.exec(subset_query(1, "Sample", sample_size=12)))
        failed = session.exec(
            select(FailedPrediction).where(FailedPrediction.run_id == run_id)
            .order_by(FailedPrediction.task_id)
        ).all()  # fmt: skip
    # Version 1 is OpenAI's gpt-4o-mini: each failure is one of the provider's errors.
    errors = {(kind, text.format(model="gpt-4o-mini", provider="OpenAI"))
              for kind, text in PROVIDER_ERRORS}  # fmt: skip
    assert [(f.task_id, f.version_id, f.created_at) for f in failed] == [
        (task_id, 1, at(6) if index < 10 else at(6.2))
        for index, task_id in enumerate(sorted(picked))
    ]
    assert {(f.error_type, f.message) for f in failed} <= errors
    run = get(engine, run_id)
    assert (run.status, run.total_tasks, run.total_predictions, run.completed_at) == (
        RunStatus.FAILED, 12, 0, at(6.2))  # fmt: skip


def due(total: int, done: int = 0, failed: int = 0, batch: int = 10, per_second: float = 10,
        before: float | None = 3600) -> list[tuple[float, int]]:  # fmt: skip
    """The batches ``due_batches`` makes of a run whose next step is due at T0, as (seconds
    after T0, tasks)."""
    run = ModelRun(total_tasks=total, total_predictions=done, total_failed=failed, next_due_at=T0)
    policy = Policy(batch_size=batch, tasks_per_second=per_second)
    made = lifecycle.due_batches(run, policy, None if before is None else at(before))
    return [((when - T0).total_seconds(), size) for when, size in made]


@pytest.mark.parametrize(
    ("run", "batches"),
    [
        # Without a horizon, only the batch due now.
        ({"total": 300, "before": None}, [(0, 10)]),
        # Each batch comes the time its own tasks take after the one before; the last holds
        # what is left.
        ({"total": 25}, [(0, 10), (1, 10), (1.5, 5)]),
        ({"total": 15}, [(0, 10), (0.5, 5)]),
        ({"total": 25, "per_second": 20}, [(0, 10), (0.5, 10), (0.75, 5)]),
        # Tasks predicted or failed already are not due again.
        ({"total": 40, "done": 10, "failed": 5}, [(0, 10), (1, 10), (1.5, 5)]),
        # A batch due at the horizon itself is not made yet.
        ({"total": 300, "before": 2}, [(0, 10), (1, 10)]),
        ({"total": 300, "before": 2.001}, [(0, 10), (1, 10), (2, 10)]),
        ({"total": 10, "done": 10}, []),
    ],
)
def test_due_batches_are_those_due_before_the_horizon(run, batches):
    assert due(**run) == batches


def test_one_step_makes_at_most_two_thousand_tasks():
    batches = due(5000)
    assert len(batches) == 200 and sum(size for _, size in batches) == 2000
    assert batches[-1] == (199, 10)
    # Batches of 300: a seventh would pass 2,000.
    assert [size for _, size in due(5000, batch=300, per_second=300)] == [300] * 6
    # One batch larger than the limit is still made whole.
    assert due(5000, batch=2500, per_second=2500) == [(0, 2500)]


def external_run(engine, clock, size: int) -> tuple[int, list[int]]:
    """An external Sample run of ``size`` tasks, started at T0 + 5 s (the clock set there), and
    the tasks it waits for."""
    values = {"project": 1, "project_subset": "Sample", "sample_subset_size": size,
              "only_missing_predictions": False}  # fmt: skip
    with write_session(engine) as session:
        user = session.get(User, 1)
        prompt, version = prompt_version(session, user, 1, 1)
        run_id = create_run(session, user, prompt, version, values, None, clock, "external").id
        clock.set(session, at(5))
    lifecycle.settle(engine, clock, until=at(5))
    with Session(engine) as session:
        return run_id, external.pending_tasks(session, session.get(ModelRun, run_id))


def test_an_external_items_error_is_stored_as_a_failed_prediction_with_its_message(db):
    engine, clock = db
    run_id, (first, second, third) = external_run(engine, clock, 3)
    results = [
        {"task_id": first, "error": True, "message": "RateLimitError",
         "details": "429 from the provider", "prompt_tokens": 5, "completion_tokens": 0,
         "total_cost_usd": 0.25},
        {"task_id": second, "error": True},
        {"task_id": third, "output": {"sentiment": "Positive"}, "prompt_tokens": 7,
         "completion_tokens": 2, "prompt_cost_usd": 0.5, "completion_cost_usd": 0.25,
         "total_cost_usd": 0.75, "inference_time": 1.5},
    ]  # fmt: skip
    with write_session(engine) as session:
        external.record_predictions(session, session.get(User, 1), run_id, results, clock)
    with Session(engine) as session:
        failed = session.exec(select(FailedPrediction).order_by(FailedPrediction.task_id)).all()
        (made,) = session.exec(select(Prediction)).all()
        events = session.exec(select(RunEvent).where(RunEvent.run_id == run_id)).all()
    assert [(f.task_id, f.error_type, f.message, f.prompt_tokens, f.completion_tokens,
             f.total_cost_usd, f.created_at) for f in failed] == [
        (first, "RateLimitError", "429 from the provider", 5, 0, 0.25, at(5)),
        (second, "Error", "", None, None, None, at(5)),
    ]  # fmt: skip
    # The prediction carries the version's title (the demo seed's version 1: "baseline").
    assert (made.task_id, made.result[0]["value"], made.score, made.model_version) == (
        third, {"choices": ["Positive"]}, None, "baseline")  # fmt: skip
    assert (made.prompt_tokens, made.completion_tokens, made.prompt_cost_usd,
            made.completion_cost_usd, made.total_cost_usd, made.inference_time) == (
        7, 2, 0.5, 0.25, 0.75, 1.5)  # fmt: skip
    # Two of three failed: above the policy's threshold of a half.
    run = get(engine, run_id)
    assert (run.status, run.completed_at, run.predictions_updated_at) == (
        RunStatus.FAILED, at(5), at(5))  # fmt: skip
    assert (run.total_tasks, run.total_predictions, run.total_failed) == (3, 1, 2)
    assert [(e.to_status, e.cause, e.reason) for e in events][-1] == (
        "Failed", "external", "67% of predictions failed, above the threshold of 50%")  # fmt: skip


def test_the_clock_can_show_its_first_and_last_instants_and_nothing_beyond(db):
    engine, clock = db
    tick = timedelta(microseconds=1)
    for instant in (EARLIEST, LATEST):
        assert change_clock(engine, clock, instant=instant) == []
        with Session(engine) as session:
            assert clock.now(session) == instant
    for instant in (EARLIEST - tick, LATEST + tick):
        with pytest.raises(ValidationFailed) as refused:
            change_clock(engine, clock, instant=instant)
        assert refused.value.validation_errors == {"set": [
            "The clock can show instants from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z."]}  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        change_clock(engine, clock, advance_seconds=1e-6)
    assert list(refused.value.validation_errors) == ["advance_seconds"]


def try_on(engine, task_ids, prompt_override=None) -> list[dict]:
    with Session(engine) as session:
        prompt, version = prompt_version(session, session.get(User, 1), 1, 1)
        return [try_task(session, prompt, version, 1, task_id, 0, prompt_override)
                for task_id in task_ids]  # fmt: skip


def tasks_without_ground_truth(engine, how_many: int) -> list[int]:
    with Session(engine) as session:
        return list(session.exec(
            select(Task.id).where(Task.project_id == 1, Task.has_ground_truth == False)  # noqa: E712
            .order_by(Task.id).limit(how_many)
        ))  # fmt: skip


def test_a_runs_predictions_are_priced_from_the_task_text_sent(db):
    engine, clock = db
    run_id = create(engine, clock, project_subset="All")
    lifecycle.settle(engine, clock, until=at(100))
    with Session(engine) as session:
        made = session.exec(
            select(Prediction)
            .where(Prediction.run_id == run_id)
            .order_by(Prediction.task_id)
            .limit(5)
        ).all()
        rows = [
            (p.task_id, p.prompt_tokens, p.total_cost_usd, p.prompt_cost_usd, p.completion_cost_usd)
            for p in made
        ]
    # The tokens sent are the prompt and the task's text, as trying the task alone counts them.
    alone = try_on(engine, [task_id for task_id, *_ in rows])
    assert [tokens for _, tokens, *_ in rows] == [a["usage"]["prompt_tokens"] for a in alone]
    for _, _, total, prompt_usd, completion_usd in rows:
        assert completion_usd > 0 and total == pytest.approx(prompt_usd + completion_usd)


def test_a_prompt_naming_some_of_the_configs_labels_answers_only_those(db):
    engine, _ = db
    tasks = tasks_without_ground_truth(engine, 12)
    every_label = {answer["parsed_result"]["sentiment"] for answer in try_on(engine, tasks)}
    assert every_label == {"Positive", "Negative", "Neutral"}
    with write_session(engine) as session:
        session.get(Prompt, 1).output_classes = ["NEGATIVE"]  # named in another case
        mark_seed_changed(session)  # the next reset reloads the seed
    answers = try_on(engine, tasks)
    assert {answer["parsed_result"]["sentiment"] for answer in answers} == {"Negative"}


def test_a_prompt_override_changes_only_what_is_sent(db):
    engine, _ = db
    tasks = tasks_without_ground_truth(engine, 3)
    with Session(engine) as session:
        template = session.get(PromptVersion, 1).prompt
    plain = try_on(engine, tasks)
    assert try_on(engine, tasks, template) == try_on(engine, tasks, "") == plain
    longer = try_on(engine, tasks, template + " Think about the customer's tone first.")
    for one, other in zip(plain, longer, strict=True):
        assert other["usage"]["prompt_tokens"] > one["usage"]["prompt_tokens"]
        assert other["parsed_result"] == one["parsed_result"]
    # A version that always fails answers the provider's error with what was sent and spent.
    set_failure_rate(engine, 1.0)
    (failed,) = try_on(engine, tasks[:1])
    errors = {(kind, text.format(model="gpt-4o-mini", provider="OpenAI"))
              for kind, text in PROVIDER_ERRORS}  # fmt: skip
    assert set(failed) == {"task_id", "annotation_result", "parsed_result", "raw_response",
                           "usage", "error"}  # fmt: skip
    assert (failed["error"]["error_type"], failed["error"]["message"]) in errors
    assert set(failed["error"]) == {"error_type", "message"}
    assert (failed["annotation_result"], failed["raw_response"]) == ([], "")
    assert failed["usage"]["prompt_tokens"] == plain[0]["usage"]["prompt_tokens"]
    assert failed["usage"]["completion_tokens"] == 0


def test_task_ids_no_column_can_hold_are_not_in_the_subset(db):
    engine, clock = db
    run_id, tasks = external_run(engine, clock, 2)
    huge = [2**63, 10**20, -(2**63) - 1, 2**63 - 1, 2**31]
    items = [{"task_id": t, "output": {"sentiment": "Positive"}} for t in (*huge, tasks[0])]
    with write_session(engine) as session, pytest.raises(ValidationFailed) as refused:
        external.record_predictions(session, session.get(User, 1), run_id, items, clock)
    assert refused.value.validation_errors == {"results": [
        f"results[{i}].task_id: task {t} is not in the subset of run {run_id}."
        for i, t in enumerate(huge)]}  # fmt: skip


def test_a_batch_with_bad_items_is_refused_whole_naming_each_in_item_order(db):
    engine, clock = db
    run_id, tasks = external_run(engine, clock, 8)
    with write_session(engine) as session:
        delete_task(session, session.get(User, 1), tasks[7])
    limit = 2**53  # the largest whole number a JSON client is sure to read back exactly
    most = 2**31 - 1  # the most tokens a count column holds
    results = [
        "Positive",
        {"task_id": True},
        {"task_id": tasks[0], "output": {"sentiment": "Positive"}, "completion_tokens": 1.5},
        {"task_id": tasks[1], "output": {"sentiment": "Positive"}, "prompt_cost_usd": -0.01},
        {"task_id": tasks[2], "output": {"sentiment": "Positive"}, "total_cost_usd": limit + 1},
        {"task_id": tasks[3], "output": {"sentiment": "Positive"},
         "inference_time": float("inf"), "completion_cost_usd": float("nan")},
        {"task_id": tasks[4], "error": True, "message": 5, "details": ["x"]},
        {"task_id": tasks[5], "output": {"sentiment": "Positive"}, "prompt_tokens": most + 1,
         "total_cost_usd": limit, "inference_time": True, "completion_tokens": "3"},
        {"task_id": tasks[7], "output": {"sentiment": "Positive"}},
        {"task_id": tasks[6], "output": {"sentiment": "Positive"}, "prompt_tokens": 0,
         "completion_tokens": None, "prompt_cost_usd": 0, "completion_cost_usd": 0.5},
    ]  # fmt: skip
    with write_session(engine) as session, pytest.raises(ValidationFailed) as refused:
        external.record_predictions(session, session.get(User, 1), run_id, results, clock)
    assert refused.value.validation_errors == {"results": [
        "results[0]: expected an object with a task_id, got str.",
        "results[1].task_id: a whole number is required.",
        "results[2].completion_tokens: a whole number >= 0 or null is required.",
        "results[3].prompt_cost_usd: a number >= 0 or null is required.",
        "results[4].total_cost_usd: a number >= 0 or null is required.",
        "results[5].completion_cost_usd: a number >= 0 or null is required.",
        "results[5].inference_time: a number >= 0 or null is required.",
        "results[6].message: a string or null is required.",
        "results[6].details: a string or null is required.",
        "results[7].prompt_tokens: Ensure this value is less than or equal to 2147483647.",
        "results[7].completion_tokens: a whole number >= 0 or null is required.",
        "results[7].inference_time: a number >= 0 or null is required.",
        f"results[8].task_id: task {tasks[7]} is not in the subset of run {run_id}.",
    ]}  # fmt: skip
    failures = [
        {"task_id": tasks[0], "error_type": 3, "message": None, "prompt_tokens": -1},
        {
            "task_id": tasks[1],
            "message": {"text": "x"},
            "total_cost_usd": "1",
            "completion_tokens": limit + 1,
        },
        {"task_id": tasks[2], "error_type": None, "message": None, "completion_tokens": most},
    ]
    with write_session(engine) as session, pytest.raises(ValidationFailed) as refused:
        external.record_failures(session, session.get(User, 1), run_id, failures, clock)
    assert refused.value.validation_errors == {"failed_predictions": [
        "failed_predictions[0].prompt_tokens: a whole number >= 0 or null is required.",
        "failed_predictions[0].error_type: a string or null is required.",
        "failed_predictions[1].completion_tokens: a whole number >= 0 or null is required.",
        "failed_predictions[1].total_cost_usd: a number >= 0 or null is required.",
        "failed_predictions[1].message: a string or null is required.",
    ]}  # fmt: skip
    # Nothing of either batch was stored.
    with Session(engine) as session:
        run = session.get(ModelRun, run_id)
        assert external.pending_tasks(session, run) == tasks[:7]
        assert (run.status, run.total_predictions, run.total_failed) == ("InProgress", 0, 0)
    # The good items alone are taken, numbers up to their limits included; the deleted task has
    # left the run's subset.
    with write_session(engine) as session:
        external.record_failures(session, session.get(User, 1), run_id, failures[2:], clock)
        external.record_predictions(session, session.get(User, 1), run_id, [
            {"task_id": t, "output": {"sentiment": "Negative"}, "prompt_tokens": most,
             "total_cost_usd": limit} for t in (*tasks[:2], *tasks[3:7])], clock)  # fmt: skip
    run = get(engine, run_id)
    assert (run.status, run.total_tasks, run.total_predictions, run.total_failed) == (
        "Completed", 7, 6, 1)  # fmt: skip


def test_posted_spans_are_cut_from_each_tasks_text_and_a_vanished_task_is_named(db):
    engine, clock = db
    run_id, tasks = external_run(engine, clock, 3)
    ner = ('<View><Text name="text" value="$text"/><Labels name="entity" toName="text">'
           '<Label value="PER"/></Labels></View>')  # fmt: skip
    with write_session(engine) as session:
        session.get(Project, 1).label_config = ner
        mark_seed_changed(session)  # the next reset reloads the seed
        texts = {t: session.get(Task, t).data["text"] for t in tasks}
        # The third task's row goes, its place in the run's subset kept (as by a raw delete).
        for table in ("annotation", "prediction", "task"):
            column = "id" if table == "task" else "task_id"
            session.execute(text(f"DELETE FROM {table} WHERE {column} = :id"), {"id": tasks[2]})
    items = [{"task_id": t, "output": {"entity": [{"start": 0, "end": 4, "labels": ["PER"]}]}}
             for t in tasks]  # fmt: skip
    with write_session(engine) as session, pytest.raises(ValidationFailed) as refused:
        external.record_predictions(session, session.get(User, 1), run_id, items, clock)
    assert refused.value.validation_errors == {"results": [
        f"results[2].task_id: task {tasks[2]} no longer exists."]}  # fmt: skip
    with write_session(engine) as session:
        external.record_predictions(session, session.get(User, 1), run_id, items[:2], clock)
    with Session(engine) as session:
        made = session.exec(select(Prediction).where(Prediction.run_id == run_id)
                            .order_by(Prediction.task_id)).all()  # fmt: skip
    assert [(p.task_id, p.result[0]["value"]) for p in made] == [
        (t, {"start": 0, "end": 4, "text": texts[t][:4], "labels": ["PER"]}) for t in tasks[:2]
    ]


@pytest.mark.parametrize(
    ("header", "policy_mode", "mode"),
    [
        (None, "simulated", "simulated"),
        (None, "external", "external"),
        (" External ", "simulated", "external"),
        ("SIMULATED", "external", "simulated"),
    ],
)
def test_the_inference_mode_is_the_headers_in_any_case_else_the_policys(header, policy_mode, mode):
    assert external.inference_mode(header, Policy(inference_mode=policy_mode)) == mode


def test_an_unknown_inference_mode_is_refused_naming_the_known_ones():
    with pytest.raises(BadRequest) as refused:
        external.inference_mode("  psychic ", Policy())
    assert refused.value.detail == (
        'Unknown X-Emulator-Inference "psychic": use one of simulated, external.'
    )


def create_run_with_outcome(engine, clock, outcome: str) -> int:
    values = {"project": 1, "project_subset": "HasGT", "only_missing_predictions": False}
    with write_session(engine) as session:
        user = session.get(User, 1)
        prompt, version = prompt_version(session, user, 1, 1)
        return create_run(session, user, prompt, version, values, outcome, clock).id


def test_a_stored_policy_is_validated_once_and_each_document_gets_its_own():
    slow = Policy(tasks_per_second=1).model_dump()
    fast = Policy(tasks_per_second=100).model_dump()
    first = Policy.shared(slow)
    assert first.tasks_per_second == 1 and Policy.shared(dict(slow)) is first
    assert Policy.shared(fast).tasks_per_second == 100
    assert Policy.shared(slow).tasks_per_second == 1


def test_a_worker_not_started_is_not_alive_and_stops_at_once():
    worker = Worker(None, Clock(wall=lambda: T0), interval=0.1)  # type: ignore[arg-type]
    assert (worker.alive, worker.last_error) == (False, None)
    asyncio.run(worker.stop())
    assert not worker.alive
