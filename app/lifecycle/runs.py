"""What can be done to runs, one function each: create, cancel, move along the lifecycle graph,
move the clock. The Label Studio API, the control plane and the tests call these; each stores
its change whole or raises a domain error and stores nothing."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from app.db import (
    GROUP_INSERTS,
    GroupInserts,
    clock_and_policy,
    get_by_id,
    read_session,
    write_session,
)
from app.errors import BadRequest, NotFound, ValidationFailed
from app.lifecycle import external, machine
from app.lifecycle.clock import EARLIEST, LATEST, Clock
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import filter_condition
from app.lookups import prompt_version
from app.models import (
    ACTIVE_STATUSES,
    ModelRun,
    ProjectSubset,
    Prompt,
    PromptVersion,
    RunStatus,
    User,
    table_of,
)
from app.render import iso

# Outcomes a run's creator may force (with a header); "Stuck" stays InProgress.
OUTCOME_HEADER = "X-Emulator-Outcome"
ADMIN_HEADER = "X-Emulator-Admin-Token"  # what an ordinary user's forced outcome also needs
OUTCOMES = ("Completed", "Failed", "Stuck")
CANCELED = "Inference run canceled."


TOTALS = ("total_tasks", "total_predictions", "total_correct_predictions")


def check_totals(values: dict[str, Any]) -> None:
    """Totals sent on create must already hold 0 <= correct <= predictions <= tasks (null or
    missing counts as 0), so that no run is ever listed with impossible counts; the run's start
    replaces them anyway."""
    sent = {name: values.get(name) or 0 for name in TOTALS}
    negative = [name for name in TOTALS if sent[name] < 0]
    errors = {name: ["Ensure this value is greater than or equal to 0."] for name in negative}
    for name, bound in zip(TOTALS[1:], TOTALS[:-1], strict=True):
        if name not in negative and bound not in negative and sent[name] > sent[bound]:
            errors[name] = [f"Ensure this value is less than or equal to {bound} ({sent[bound]})."]
    if errors:
        raise ValidationFailed(errors)


def create_run(
    session: Session,
    user: User,
    prompt: Prompt,
    version: PromptVersion,
    values: dict[str, Any],
    outcome: str | None,
    clock: Clock,
    inference: str | None = None,
) -> ModelRun:
    """A Pending run of a version over a project subset, from a validated ModelRun body, the
    outcome its creator forces (None: the policy decides) and the inference mode it asks for
    (None: the policy's)."""
    assert prompt.id is not None and version.id is not None  # read from the database
    run = insert_run(session, user, prompt.id, version.id, values, outcome, clock, inference)
    session.commit()
    return run


_RUNS = table_of(ModelRun)
_INSERT_RUN = insert(_RUNS)
_RUN_COLUMNS = tuple(name for name in _RUNS.c.keys() if name != "id")


def insert_run(
    session: Session,
    user: User,
    prompt_id: int,
    version_id: int,
    values: dict[str, Any],
    outcome: str | None,
    clock: Clock,
    inference: str | None = None,
) -> ModelRun:
    """``create_run`` for a prompt and version known by id, without the commit: every check
    first (a refused run writes nothing), then one read of the clock and policy and one Core
    insert. The run answered is not in the session."""
    check_totals(values)
    if values["project_subset"] == ProjectSubset.CUSTOM:
        filter_condition(values.get("filters_json"))
    if outcome is not None:
        outcome = outcome.strip()
        if outcome not in OUTCOMES:
            raise BadRequest(
                f'Unknown {OUTCOME_HEADER} "{outcome}": use one of {", ".join(OUTCOMES)}.'
            )
    state = clock_and_policy(session)
    policy = Policy.shared(state.policy)
    mode = external.inference_mode(inference, policy)
    now = clock.read(state)
    run = ModelRun(
        organization_id=user.organization_id,
        project_id=values["project"],
        prompt_id=prompt_id,
        version_id=version_id,
        created_by_id=user.id,
        project_subset=values["project_subset"],
        sample_subset_size=values.get("sample_subset_size"),
        filters_json=values.get("filters_json"),
        job_id=values.get("job_id"),
        only_missing_predictions=values["only_missing_predictions"],
        total_tasks=values.get("total_tasks", 0),
        total_predictions=values.get("total_predictions", 0),
        total_correct_predictions=values.get("total_correct_predictions", 0),
        predictions_updated_at=values.get("predictions_updated_at"),
        created_at=now,
        outcome=outcome,
        inference_mode=mode,
    )
    machine.schedule_new(run, policy, now)
    row = {name: getattr(run, name) for name in _RUN_COLUMNS}
    group: GroupInserts | None = session.info.get(GROUP_INSERTS)
    if group is not None:
        # Inserted with the other runs of the group: its id is known once the group's jobs ran.
        group.add(_RUNS, row, lambda run_id: setattr(run, "id", run_id))
        return run
    inserted = session.connection().execute(_INSERT_RUN, row)
    key = inserted.inserted_primary_key
    assert key is not None  # an insert of one row
    run.id = key[0]
    return run


def cancel_run(
    session: Session, user: User, prompt_id: int, version_id: int, run_id: int, clock: Clock
) -> ModelRun:
    """Cancel a Pending or InProgress run of the user's version (again: no change)."""
    prompt_version(session, user, prompt_id, version_id)
    run = get_by_id(session, ModelRun, run_id, lock=True)
    if (
        run is None
        or run.version_id != version_id
        or run.prompt_id != prompt_id
        or run.organization_id != user.organization_id
    ):
        raise NotFound("ModelRun")
    if run.status == RunStatus.CANCELED:
        return run
    if run.status not in ACTIVE_STATUSES:
        raise BadRequest(
            f"Inference run {run.id} is already {run.status}; "
            "only Pending or InProgress runs can be canceled."
        )
    machine.cancel(session, run, clock.now(session), reason="canceled through the API")
    session.commit()
    return run


def find_run(session: Session, run_id: int, lock: bool = False) -> ModelRun:
    """Any run by id (the control plane sees every organization's)."""
    run = get_by_id(session, ModelRun, run_id, lock)
    if run is None:
        raise NotFound("ModelRun")
    return run


def move_run(session: Session, run_id: int, to: str, reason: str, clock: Clock) -> ModelRun:
    """Move a run along the lifecycle graph by hand; Completed makes its remaining predictions."""
    run = find_run(session, run_id, lock=True)
    if to not in machine.TRANSITIONS[run.status]:
        raise machine.IllegalTransition(run, to)
    now = clock.now(session)
    policy = Policy.load(session)
    reason = reason or "moved through the control plane"
    if to == RunStatus.IN_PROGRESS:
        machine.start(session, run, policy, now, "control")
    elif to == RunStatus.COMPLETED:
        machine.complete_now(session, run, policy, now, "control", reason)
    else:
        machine.transition(session, run, to, now, "control", reason)
    session.commit()
    return run


def change_clock(
    engine: Engine,
    clock: Clock,
    *,
    freeze: bool | None = None,
    instant: datetime | None = None,
    advance_seconds: float | None = None,
) -> list[int]:
    """Freeze, unfreeze, set or advance the clock (exactly one). Moving it forward applies every
    step that falls due, in time order; answers once all is stored, with the runs it changed."""
    with write_session(engine) as session:
        if freeze is True:
            clock.freeze(session)
        elif freeze is False:
            clock.unfreeze(session)
        else:
            field = "set" if instant is not None else "advance_seconds"
            target = instant or clock.now(session) + timedelta(seconds=advance_seconds or 0)
            if not EARLIEST <= target <= LATEST:
                raise ValidationFailed.field(
                    field,
                    f"The clock can show instants from {iso(EARLIEST)} to {iso(LATEST)}.",
                )
            clock.set(session, target)
        now = clock.now(session)
        # The runs this change moves, known before settling: the worker may take some steps.
        due = session.exec(
            select(ModelRun.id)
            .where(col(ModelRun.status).in_(ACTIVE_STATUSES), col(ModelRun.next_due_at) <= now)
            .order_by(col(ModelRun.next_due_at), col(ModelRun.id))
        ).all()
    settled = machine.settle(engine, clock, until=now)
    return list(dict.fromkeys([run_id for run_id in (*due, *settled) if run_id is not None]))


def runs_in_order(session: Session, run_ids: list[int]) -> list[ModelRun]:
    """Runs by id, in the order of the ids given."""
    runs = session.exec(select(ModelRun).where(col(ModelRun.id).in_(run_ids))).all()
    by_id = {run.id: run for run in runs}
    return [by_id[i] for i in run_ids if i in by_id]


def run_out_clock(engine: Engine, clock: Clock, max_moves: int = 100_000) -> list[int]:
    """Advance the clock until every run that can end has ended (a Stuck run never does):
    jump to the latest instant a step is due, apply everything due, again until none is.
    Answers the runs it changed."""
    changed: list[int] = []
    for _ in range(max_moves):
        with read_session(engine) as session:
            latest = session.exec(
                select(func.max(col(ModelRun.next_due_at))).where(
                    col(ModelRun.status).in_(ACTIVE_STATUSES),
                    col(ModelRun.next_due_at).is_not(None),
                )
            ).one()
            now = clock.now(session)
        if latest is None:
            break
        changed += change_clock(engine, clock, instant=max(latest, now))
    return list(dict.fromkeys(changed))
