"""The run lifecycle: a transition table, one function that applies it, and the due steps.

A run is Pending until its queue delay has passed; then it starts (InProgress): its subset is
frozen into ``run_task`` and ``total_tasks`` set. Every ``batch_size / tasks_per_second`` seconds
one batch of tasks is predicted and the totals move. When no task is left the run ends
Completed, or Failed when its failed predictions pass the policy's threshold. Each step is one
transaction, stamped with the instant it was due, so replaying the same steps gives the same
timestamps whatever the wall time.
"""

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Engine,
    Insert,
    Integer,
    Select,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    update,
)
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import clock_and_policy, single_read, write_session
from app.errors import APIError, ValidationFailed
from app.lifecycle import refine
from app.lifecycle.bulk import Built, Encoded, among_bound, ids_value, insert_columns
from app.lifecycle.clock import Clock
from app.lifecycle.inference import Made
from app.lifecycle.model import next_inputs, run_model
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import subset_query
from app.models import (
    ACTIVE_STATUSES,
    EmulatorState,
    FailedPrediction,
    ModelRun,
    Prediction,
    ProjectSubset,
    RefineJob,
    RunEvent,
    RunStatus,
    RunTask,
    table_of,
)

log = logging.getLogger("lse_emulator.worker")
S = RunStatus
# How long one transaction of the worker may hold the write lock: a commit costs about what a
# run's step of 250 predictions does (pages of the indexes written again), so steps share it.
STEPS_BUDGET_SECONDS = 0.05
# The most tasks one step predicts at once, so that a run of any size streams through memory.
MAX_STEP_TASKS = 2000
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.PENDING: (S.IN_PROGRESS, S.CANCELED),
    S.IN_PROGRESS: (S.COMPLETED, S.FAILED, S.CANCELED),
    S.COMPLETED: (),
    S.FAILED: (),
    S.CANCELED: (),
}
FINAL_STATUSES = (S.COMPLETED, S.FAILED, S.CANCELED)


class IllegalTransition(ValidationFailed):
    """A move the lifecycle graph does not have; the message names the moves it has."""

    def __init__(self, run: ModelRun, to: str) -> None:
        self.allowed = TRANSITIONS[run.status]
        allowed = ", ".join(self.allowed) or "none (the run has ended)"
        super().__init__({"to": [f"Run {run.id} is {run.status}; it can move to: {allowed}."]})


_INSERT_EVENT = insert(table_of(RunEvent))
# A run's statements of every step, built once: building a statement and its cache key cost
# more than SQLAlchemy's execution of it from its compiled form. They go to the session's
# connection as Core statements (run_task rows are never entities of the session).
_RUN_TASKS = table_of(RunTask)
_DELETE_RUN_TASKS = delete(_RUN_TASKS).where(_RUN_TASKS.c.run_id == bindparam("run_id"))
# The tasks of a step (after the last one done, if any, through the step's last one).
_DELETE_CONSUMED = _DELETE_RUN_TASKS.where(_RUN_TASKS.c.task_id <= bindparam("through"))
_DELETE_CONSUMED_AFTER = _DELETE_CONSUMED.where(_RUN_TASKS.c.task_id > bindparam("after"))
_DELETE_GONE = Built(
    lambda dialect: _DELETE_RUN_TASKS.where(among_bound(dialect, _RUN_TASKS.c.task_id, "ids"))
)
# What a step may change of its run (transition, start, predict_batches, _schedule_next), all
# written by one UPDATE built once: the ORM's unit of work found the changes, built and sent
# the UPDATE for every step, at about the cost of the step's other statements together.
LIFECYCLE_COLUMNS = (
    "status", "triggered_at", "completed_at", "next_due_at", "total_tasks", "total_predictions",
    "total_correct_predictions", "total_failed", "tasks_done_through", "predictions_updated_at",
)  # fmt: skip
_UPDATE_RUN = (
    update(table_of(ModelRun))
    .where(table_of(ModelRun).c.id == bindparam("run_id"))
    .values({name: bindparam(f"new_{name}") for name in LIFECYCLE_COLUMNS})
)


def delete_run_tasks() -> Delete:
    """A DELETE of run_task rows, which are never loaded as entities: the session has none to
    synchronize, so it need not have the deleted rows returned (which it does by default
    where the database can, one row back per task)."""
    return delete(RunTask).execution_options(synchronize_session=False)


def transition(
    session: Session, run: ModelRun, to: str, at: datetime, cause: str, reason: str = ""
) -> None:
    """Move a run to another status, stamping its timestamps and recording the change."""
    if to not in TRANSITIONS[run.status]:
        raise IllegalTransition(run, to)
    assert run.id is not None  # a run is stored before it moves
    # A plain INSERT: the event is never read back as an entity in the session.
    session.connection().execute(_INSERT_EVENT, {
        "run_id": run.id, "from_status": run.status, "to_status": to, "at": at, "cause": cause,
        "reason": reason,
    })  # fmt: skip
    run.status = to
    if to == S.IN_PROGRESS:
        run.triggered_at = at
    if to in FINAL_STATUSES:
        run.completed_at = at
        run.next_due_at = None
        session.connection().execute(_DELETE_RUN_TASKS, {"run_id": run.id})
    session.add(run)


def _freeze(query: Select[Any], run_id: ColumnElement[int]) -> Insert:
    """The INSERT of a subset's tasks into run_task for a run."""
    return (
        insert(RunTask)
        .from_select(["run_id", "task_id"], select(run_id, query.subquery().c.id))
        .execution_options(preserve_rowcount=True)
    )


# The subsets chosen by their name alone (not Custom), whose freezing INSERT is built once.
NAMED_SUBSETS = (ProjectSubset.ALL, ProjectSubset.HAS_GT, ProjectSubset.SAMPLE)


@cache
def _freeze_named(subset: str, missing: bool) -> Insert:
    """The INSERT freezing a named subset, with or without only_missing_predictions, its values
    as parameters, built at its first use: building the statement and its cache key cost
    about what SQLite's execution of it does."""
    query = subset_query(
        bindparam("project_id"),
        subset,
        sample_size=bindparam("sample_size"),
        missing_for_version=bindparam("version_id") if missing else None,
    )
    return _freeze(query, bindparam("run_id", type_=Integer))


def start(session: Session, run: ModelRun, policy: Policy, at: datetime, cause: str) -> None:
    """Freeze the run's subset and move it to InProgress."""
    task_ids = run.task_ids if isinstance(run.task_ids, list) else None
    sample_size = _sample_size(run, policy)
    # The subset's size is the INSERT's row count (a plain execute, whose count both drivers
    # give, kept by SQLAlchemy when asked), not a count of the rows it wrote: a statement, and
    # a round trip, less.
    if run.project_subset in NAMED_SUBSETS and task_ids is None:
        named = _freeze_named(run.project_subset, bool(run.only_missing_predictions))
        frozen = session.connection().execute(named, {
            "run_id": run.id, "project_id": run.project_id, "sample_size": sample_size,
            "version_id": run.version_id,
        })  # fmt: skip
    else:
        query = subset_query(
            run.project_id,
            run.project_subset,
            sample_size=sample_size,
            filters=run.filters_json,
            missing_for_version=run.version_id if run.only_missing_predictions else None,
            task_ids=task_ids,
        )
        frozen = session.connection().execute(_freeze(query, literal(run.id)))
    run.total_tasks = frozen.rowcount
    run.total_predictions = 0
    run.total_correct_predictions = 0
    run.total_failed = 0
    run.tasks_done_through = None
    transition(session, run, S.IN_PROGRESS, at, cause)
    _schedule_next(session, run, policy, at)


def _sample_size(run: ModelRun, policy: Policy) -> int:
    return (
        run.sample_subset_size if run.sample_subset_size is not None else policy.sample_subset_size
    )


def remaining(run: ModelRun) -> int:
    return (run.total_tasks or 0) - (run.total_predictions or 0) - run.total_failed


def predict_batch(session: Session, run: ModelRun, policy: Policy, at: datetime, size: int) -> int:
    """Predict the next ``size`` tasks of the run (in task-id order) at one instant, update its
    totals, and answer how many tasks were processed."""
    return predict_batches(session, run, policy, [(at, size)])


def predict_batches(
    session: Session, run: ModelRun, policy: Policy, batches: list[tuple[datetime, int]]
) -> int:
    """Predict the run's next tasks (in task-id order) batch after batch, each stamped with its
    own instant, in one round of queries; update the totals and answer how many were processed."""
    assert run.id is not None  # a stored run
    after = run.tasks_done_through
    found = next_inputs(session, run.id, sum(size for _, size in batches), after)
    if not found:
        return 0
    # A task deleted after the run's start is dropped from its subset: it is not predicted and
    # no longer counts in total_tasks, so the totals still add up.
    gone = [one.task_id for one in found if not one.exists]
    connection = session.connection()
    dialect = connection.dialect.name
    if gone:
        connection.execute(
            _DELETE_GONE(dialect), {"run_id": run.id, "ids": ids_value(dialect, gone)}
        )
        run.total_tasks = max((run.total_tasks or 0) - len(gone), 0)
    inputs = [one for one in found if one.exists]
    if not inputs:
        session.add(run)
        return len(found)
    model = run_model(session, run)
    title = model.version.title
    seed = policy.random_seed
    made: list[tuple[Made, datetime]] = []
    failed: list[tuple[Made, datetime]] = []
    instants = [at for at, size in batches for _ in range(size)]
    for one, at in zip(inputs, instants, strict=False):
        made_one = model.predict(
            seed, one.task_id, one.data, one.ground_truth if one.has_ground_truth else None, False
        )
        (made if made_one.error_type is None else failed).append((made_one, at))
    # Stored column by column: what every row of the run has is given once.
    run_columns = {"run_id": run.id, "version_id": run.version_id}
    if made:
        stamps = [at for _, at in made]
        insert_columns(session, table_of(Prediction), {
            "task_id": [m.task_id for m, _ in made], "created_at": stamps, "updated_at": stamps,
            "prompt_tokens": [m.prompt_tokens for m, _ in made],
            "completion_tokens": [m.completion_tokens for m, _ in made],
            "total_cost_usd": [m.total_cost_usd for m, _ in made],
            "result": [m.result if m.encoded is None else Encoded(m.encoded) for m, _ in made],
            "score": [m.score for m, _ in made], "correct": [m.correct for m, _ in made],
            "prompt_cost_usd": [m.prompt_cost_usd for m, _ in made],
            "completion_cost_usd": [m.completion_cost_usd for m, _ in made],
            "inference_time": [m.inference_time for m, _ in made],
        }, {**run_columns, "project_id": run.project_id, "model_version": title})  # fmt: skip
    if failed:
        insert_columns(session, table_of(FailedPrediction), {
            "task_id": [m.task_id for m, _ in failed], "created_at": [at for _, at in failed],
            "prompt_tokens": [m.prompt_tokens for m, _ in failed],
            "completion_tokens": [m.completion_tokens for m, _ in failed],
            "total_cost_usd": [m.total_cost_usd for m, _ in failed],
            "error_type": [m.error_type for m, _ in failed],
            "message": [m.message for m, _ in failed],
        }, run_columns)  # fmt: skip
    correct_count = sum(bool(m.correct) for m, _ in made)
    run.tasks_done_through = found[-1].task_id
    run.total_predictions = (run.total_predictions or 0) + len(made)
    run.total_correct_predictions = (run.total_correct_predictions or 0) + correct_count
    run.total_failed += len(failed)
    run.predictions_updated_at = instants[len(inputs) - 1]
    # With nothing left, the run ends in this transaction (step and complete_now end it), and
    # its end deletes its whole queue: a DELETE of the tasks consumed would be one statement,
    # and one round trip, more. Until then the next read starts after tasks_done_through.
    if remaining(run) > 0:
        consumed = {"run_id": run.id, "through": found[-1].task_id}
        if after is None:
            connection.execute(_DELETE_CONSUMED, consumed)
        else:
            connection.execute(_DELETE_CONSUMED_AFTER, {**consumed, "after": after})
    session.add(run)
    return len(found)


def finish(session: Session, run: ModelRun, policy: Policy, at: datetime, cause: str) -> None:
    """End a run with no task left: Completed, or Failed by its forced outcome or by the threshold."""
    if run.outcome == S.FAILED:
        transition(session, run, S.FAILED, at, "outcome", "outcome chosen at creation")
        return
    share = run.total_failed / run.total_tasks if run.total_tasks else 0.0
    if run.outcome != S.COMPLETED and share > policy.failure_threshold:
        reason = f"{share:.0%} of predictions failed, above the threshold of {policy.failure_threshold:.0%}"
        transition(session, run, S.FAILED, at, cause, reason)
        return
    transition(session, run, S.COMPLETED, at, cause)


def _batch_seconds(policy: Policy, left: int) -> timedelta:
    return timedelta(seconds=min(policy.batch_size, left) / policy.tasks_per_second)


def _schedule_next(session: Session, run: ModelRun, policy: Policy, at: datetime) -> None:
    left = remaining(run)
    if left <= 0:
        finish(session, run, policy, at, "schedule")
    elif run.outcome == "Stuck" or run.inference_mode == "external":
        # An external run waits for its worker's batches (app.lifecycle.external).
        run.next_due_at = None
        session.add(run)
    else:
        run.next_due_at = at + _batch_seconds(policy, left)
        session.add(run)


def due_batches(
    run: ModelRun, policy: Policy, before: datetime | None
) -> list[tuple[datetime, int]]:
    """The batches of an InProgress run due from its next step on: that one, and the following
    ones that fall due before ``before`` (all of them at once cost what one does), up to
    MAX_STEP_TASKS tasks."""
    due, left = run.next_due_at, remaining(run)
    assert due is not None  # an InProgress run always has its next step
    batches: list[tuple[datetime, int]] = []
    tasks = 0
    while left > 0:
        size = min(policy.batch_size, left)
        batches.append((due, size))
        left -= size
        tasks += size
        if before is None or left <= 0 or tasks + min(policy.batch_size, left) > MAX_STEP_TASKS:
            break
        due = due + _batch_seconds(policy, left)
        if due >= before:
            break
    return batches


def step(
    session: Session,
    run: ModelRun,
    policy: Policy,
    horizon: datetime | None = None,
    next_start: datetime | None = None,
) -> None:
    """Apply the step of a run due at ``run.next_due_at``. With a horizon, the run's following
    batches due by then are made too, up to ``next_start``, the next start of another run (read
    with the run's claim): a start selects tasks by the predictions made before it
    (only_missing_predictions), so none may be made ahead of it."""
    at = run.next_due_at
    assert at is not None  # only a due run is stepped
    if run.status == S.PENDING:
        start(session, run, policy, at, "schedule")
    elif run.status == S.IN_PROGRESS:
        before = None
        if horizon is not None:
            before = min(horizon + timedelta(microseconds=1), next_start or horizon + timedelta(1))
        batches = due_batches(run, policy, before)
        if batches:
            predict_batches(session, run, policy, batches)
        _schedule_next(session, run, policy, batches[-1][0] if batches else at)


def complete_now(
    session: Session, run: ModelRun, policy: Policy, at: datetime, cause: str, reason: str = ""
) -> None:
    """Make every remaining prediction at ``at`` and end the run (a run forced to finish)."""
    while predict_batch(session, run, policy, at, max(policy.batch_size, 1000)):
        pass
    transition(session, run, S.COMPLETED, at, cause, reason)


# The runs not ended, with a parameter a status (an IN of a list is one expanding parameter,
# whose SQL SQLAlchemy writes again at every execution). ``_ACTIVE``: the statuses a run is
# in until it ends, which ix_model_run_due serves a range each. ``_NOT_ENDED``: the same runs
# (a status is one of those or a final one) as ``status NOT IN`` the final statuses, which no
# index serves: where the first due runs are wanted in order, both databases then read
# ix_model_run_due_order in its order, where with ``_ACTIVE`` they read ix_model_run_due's
# ranges whole and sorted them (revision 0014).
_ACTIVE = col(ModelRun.status).in_([literal(status) for status in ACTIVE_STATUSES])
_NOT_ENDED = col(ModelRun.status).not_in([literal(status) for status in FINAL_STATUSES])


def _due_runs(horizon: datetime) -> SelectOfScalar[ModelRun]:
    return select(ModelRun).where(_NOT_ENDED, col(ModelRun.next_due_at) <= horizon)


# The first due run, claimed, with the first due instant of a Pending run (the next start,
# which bounds how far a step may go): one statement, and one round trip, a step. Built once
# (its building and cache key cost about what its execution does, once a step).
_NEXT_START = (
    select(func.min(col(ModelRun.next_due_at)))
    .where(col(ModelRun.status) == S.PENDING)
    .scalar_subquery()
    .label("next_start")
)
_FIRST_DUE_RUN = (
    select(ModelRun, _NEXT_START)
    .where(_NOT_ENDED, col(ModelRun.next_due_at) <= bindparam("horizon"))
    .order_by(col(ModelRun.next_due_at), col(ModelRun.id))
    .limit(1)
    .with_for_update(skip_locked=True)
)
_RUNS = table_of(ModelRun)
_JOBS = table_of(RefineJob)
_STATE = table_of(EmulatorState)
# The worker's look, ten times a second in every process: the clock and the first due instants
# of runs and of refinement jobs, in one statement outside any transaction.
_FIRST_DUE = select(
    _STATE.c.clock_offset_seconds,
    _STATE.c.clock_frozen_at,
    select(func.min(_RUNS.c.next_due_at)).where(_ACTIVE).scalar_subquery().label("run_due"),
    select(func.min(_JOBS.c.next_due_at)).scalar_subquery().label("job_due"),
).where(_STATE.c.id == 1)


def settle(
    engine: Engine,
    clock: Clock,
    until: datetime | None = None,
    stopping: Callable[[], bool] = lambda: False,
    observe: Callable[[float, int, int], None] | None = None,
) -> list[int]:
    """Apply, in time order, every step due up to ``until`` (default: the clock's now).

    Each step claims its run with a row lock that other workers skip (where the database has
    row locks), so several workers share the work. Answers the ids of runs changed.
    """
    changed: list[int] = []
    # An idle look needs no write lock: read first, lock only when a step is due.
    with single_read(engine) as connection:
        look = connection.execute(_FIRST_DUE).one()
    horizon = until if until is not None else clock.read(look)
    # Refinement jobs follow the same clock (they touch no run, so their order is free).
    if look.job_due is not None and look.job_due <= horizon:
        refine.settle_due(engine, horizon)
    if look.run_due is None or look.run_due > horizon:
        return changed
    with _turn(engine, wait=until is not None) as mine:
        if mine:
            _settle_steps(engine, clock, until, stopping, observe, changed)
    return changed


# One lock per engine (per database) in this process; see _turn.
_settlers: "weakref.WeakKeyDictionary[Engine, threading.Lock]" = weakref.WeakKeyDictionary()


@contextmanager
def _turn(engine: Engine, wait: bool) -> Iterator[bool]:
    """Whether this thread may settle now. On SQLite, whose writers take turns anyway, one
    thread of the process settles at a time (two would only alternate transactions, each
    paying for its own set-up): the worker skips its tick, a clock change waits for it. On
    PostgreSQL, threads share the due runs through their row locks."""
    if engine.dialect.name != "sqlite":
        yield True
        return
    lock = _settlers.setdefault(engine, threading.Lock())
    mine = lock.acquire(blocking=wait)
    try:
        yield mine
    finally:
        if mine:
            lock.release()


def _settle_steps(
    engine: Engine,
    clock: Clock,
    until: datetime | None,
    stopping: Callable[[], bool],
    observe: Callable[[float, int, int], None] | None,
    changed: list[int],
) -> None:
    # Runs whose step failed: their next step runs in a savepoint of its own (see _step).
    careful: set[int] = set()
    while not stopping():
        # Steps are grouped into transactions of a few milliseconds: one commit per step costs
        # more than the step. A step lost to a crash of PostgreSQL itself is simply made again,
        # so these commits need not wait for the disk.
        observed: list[tuple[float, int, int]] = []
        with write_session(engine, durable=False) as session:
            # The policy as a plain row, validated once per distinct document (the ORM's state
            # entity and its validation cost a few percent of a settling transaction).
            policy = Policy.shared(clock_and_policy(session).policy)
            deadline = time.monotonic() + STEPS_BUDGET_SECONDS
            steps, again = 0, False
            while steps == 0 or (time.monotonic() < deadline and not stopping()):
                horizon = until if until is not None else clock.now(session)
                claimed = session.exec(_FIRST_DUE_RUN, params={"horizon": horizon}).first()
                if claimed is None:
                    break
                run, next_start = claimed
                due_at, started = run.next_due_at, run.status == S.IN_PROGRESS
                assert due_at is not None and run.id is not None  # a stored, due run
                made, failed = (run.total_predictions or 0, run.total_failed) if started else (0, 0)
                if not _step(session, run, policy, horizon, next_start, careful):
                    # The transaction's steps are made again in the next one, the failing
                    # run's in a savepoint.
                    session.rollback()
                    observed.clear()
                    again = True
                    break
                steps += 1
                if observe is not None:
                    lag = (clock.now(session) - due_at).total_seconds()
                    made, failed = (run.total_predictions or 0) - made, run.total_failed - failed
                    observed.append((lag, made, failed))  # the step's predictions and failures
                if run.id not in changed:
                    changed.append(run.id)
            if steps == 0 and not again:
                if until is None or not session.exec(select(_due_runs(horizon).exists())).one():
                    return
                # Another worker holds the due runs (PostgreSQL skipped them): a caller settling
                # up to an instant answers only once every step is stored, so it waits.
                time.sleep(0.01)
        if observe is not None:  # once the steps they count are stored
            for figures in observed:
                observe(*figures)


# What a step its stored data cannot make raises.
STEP_ERRORS = (APIError, ValueError, LookupError, TypeError)


def _step(
    session: Session,
    run: ModelRun,
    policy: Policy,
    horizon: datetime,
    next_start: datetime | None,
    careful: set[int],
) -> bool:
    """Make a claimed run's due step; False when it failed without a savepoint, and the
    transaction must be rolled back. A step's statements run without one (a SAVEPOINT and its
    RELEASE are two round trips a step on PostgreSQL): when a step fails, its transaction is
    rolled back, and made again with that run's step in a savepoint, so that a step its stored
    data cannot make (an imported selection that no longer applies) ends that run alone and
    the worker and the other runs go on."""
    assert run.id is not None
    if run.id not in careful:
        try:
            step(session, run, policy, horizon, next_start)
            write_run(session, run)
            return True
        except STEP_ERRORS:
            careful.add(run.id)
            return False
    careful.discard(run.id)
    due_at = run.next_due_at
    assert due_at is not None
    try:
        with session.begin_nested():
            step(session, run, policy, horizon, next_start)
            write_run(session, run)
    except STEP_ERRORS as error:
        log.exception("the due step of run %s cannot be made", run.id)
        session.refresh(run)
        end_unworkable(session, run, due_at, error)
    return True


def write_run(session: Session, run: ModelRun) -> None:
    """Store what a step changed of its run by one Core UPDATE of its lifecycle columns (the
    values the ORM would have written, and the others as they were read in this transaction),
    and take the run out of the session, which has nothing left to write of it. A change to
    another column is left to the ORM's flush."""
    state = inspect(run)
    if not set(state.committed_state) <= _LIFECYCLE_SET:
        return
    values = {f"new_{name}": getattr(run, name) for name in LIFECYCLE_COLUMNS}
    session.connection().execute(_UPDATE_RUN, {"run_id": run.id, **values})
    session.expunge(run)


_LIFECYCLE_SET = frozenset(LIFECYCLE_COLUMNS)


def end_unworkable(session: Session, run: ModelRun, at: datetime, error: Exception) -> None:
    """End a run whose step cannot be made: Failed once started, Canceled while Pending."""
    to = S.FAILED if run.status == S.IN_PROGRESS else S.CANCELED
    transition(session, run, to, at, "error", f"the step could not be made: {error}")


def schedule_new(run: ModelRun, policy: Policy, now: datetime) -> None:
    """Set a new run's first due step: the end of its queue delay."""
    run.next_due_at = now + timedelta(seconds=policy.queue_delay_seconds)


def cancel(
    session: Session, run: ModelRun, at: datetime, cause: str = "cancel", reason: str = ""
) -> None:
    transition(session, run, S.CANCELED, at, cause, reason)
