"""The external-worker mode: a run whose predictions an inference service posts.

An external run starts as any run does (its subset frozen into ``run_task``) and then waits. The
batch endpoints hand their items here: each batch is checked whole (the run is the caller's
organization's, external and InProgress; every task is one the run still waits for, once; every
output fits the label config), stored whole in one transaction that holds the run's row lock, and
counted into the totals. When no task is left, the run ends through ``machine.finish`` as a
simulated one does. No HTTP here.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, bindparam, delete, func
from sqlalchemy import select as select_
from sqlmodel import Session, SQLModel, col, select

from app.db import clock_and_policy, driver_rows, get_by_id
from app.errors import BadRequest, NotFound, ValidationFailed
from app.lifecycle import machine
from app.lifecycle.bulk import Built, Encoded, among_bound, ids_value, insert_columns, insert_rows
from app.lifecycle.clock import Clock
from app.lifecycle.model import decoded, first_ground_truth, run_model, task_texts
from app.lifecycle.outputs import OutputError, chosen, to_result
from app.lifecycle.policy import Policy
from app.models import (
    MAX_ID,
    FailedPrediction,
    ModelRun,
    Prediction,
    RunStatus,
    RunTask,
    Task,
    User,
    table_of,
)

SIMULATED = "simulated"
EXTERNAL = "external"
INFERENCE_MODES = (SIMULATED, EXTERNAL)
INFERENCE_HEADER = "X-Emulator-Inference"
MAX_BATCH_ITEMS = 10_000
ITEM = re.compile(r"\w+\[(\d+)\]")
COUNTS = ("prompt_tokens", "completion_tokens")
MAX_COUNT = MAX_ID
AMOUNTS = ("prompt_cost_usd", "completion_cost_usd", "total_cost_usd", "inference_time")
# Each number an item may carry, the types it may have (a bool, though an int, is neither) and
# the largest value it may have.
NUMBERS = (
    *((name, (int,), MAX_COUNT) for name in COUNTS),
    *((name, (int, float), 2**53) for name in AMOUNTS),
)

NUMBER_NAMES = tuple(name for name, _, _ in NUMBERS)


def inference_mode(header: str | None, policy: Policy) -> str:
    """The mode of a new run: the header's, else the policy's."""
    if header is None:
        return policy.inference_mode
    mode = header.strip().lower()
    if mode not in INFERENCE_MODES:
        raise BadRequest(
            f'Unknown {INFERENCE_HEADER} "{header.strip()}": use one of {", ".join(INFERENCE_MODES)}.'
        )
    return mode


def waiting_run(session: Session, user: User, run_id: int) -> ModelRun:
    """The caller's external run that waits for predictions, its row locked for this
    transaction (replicas posting batches for one run take turns)."""
    run = get_by_id(session, ModelRun, run_id, lock=True)
    if run is None or run.organization_id != user.organization_id:
        raise NotFound("ModelRun")
    if run.inference_mode != EXTERNAL:
        raise BadRequest(
            f"Inference run {run.id} is simulated: the emulator makes its predictions. "
            f"Create the run with {INFERENCE_HEADER}: external to post them."
        )
    if run.status != RunStatus.IN_PROGRESS:
        raise BadRequest(
            f"Inference run {run.id} is {run.status}; predictions are accepted only while "
            "it is InProgress."
        )
    return run


def in_item_order(errors: list[str]) -> list[str]:
    """Messages ordered by the item they name (``results[3]...``), stably."""
    return sorted(errors, key=lambda message: int(ITEM.match(message).group(1)))  # type: ignore[union-attr]


def _task_id(where: str, item: Any) -> int | str:
    """The item's task id, or the message saying why it has none."""
    if not isinstance(item, dict):
        return f"{where}: expected an object with a task_id, got {type(item).__name__}."
    task_id = item.get("task_id")
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        return f"{where}.task_id: a whole number is required."
    return task_id


def _of_run_among(dialect: str, model: type[SQLModel]) -> Select[tuple[int]]:
    """The task ids of a table's rows of the run (``run_id``) among the ids ``ids``."""
    table = table_of(model)
    return select_(table.c.task_id).where(
        table.c.run_id == bindparam("run_id"), among_bound(dialect, table.c.task_id, "ids")
    )


_RUN_TASKS = table_of(RunTask)
_TASKS = table_of(Task)


def _waiting_among(dialect: str) -> Select[tuple[int, int | None, str | None]]:
    """The tasks the run (``run_id``) waits for among the ids ``ids``, each with its task's id
    (null for a task deleted since the run started) and the result of its ground truth."""
    return (
        select_(_RUN_TASKS.c.task_id, _TASKS.c.id, first_ground_truth(_RUN_TASKS.c.task_id))
        .select_from(_RUN_TASKS.outerjoin(_TASKS, _TASKS.c.id == _RUN_TASKS.c.task_id))
        .where(
            _RUN_TASKS.c.run_id == bindparam("run_id"),
            among_bound(dialect, _RUN_TASKS.c.task_id, "ids"),
        )
    )


# The statements of every batch, built once per dialect.
_WAITING_AMONG = Built(_waiting_among)
_MADE_AMONG = Built(
    lambda dialect: [_of_run_among(dialect, model) for model in (Prediction, FailedPrediction)]
)
_DELETE_DONE = Built(
    lambda dialect: delete(_RUN_TASKS).where(
        _RUN_TASKS.c.run_id == bindparam("run_id"),
        among_bound(dialect, _RUN_TASKS.c.task_id, "ids"),
    )
)


def _check_tasks(
    session: Session,
    run: ModelRun,
    items: Sequence[Any],
    field: str,
    errors: list[str],
) -> tuple[dict[int, int], dict[int, Any]]:
    """Item index -> task id for the items naming a task the run waits for, once (the others'
    messages go to ``errors``), and the row of each task the run waits for among them: (task
    id, its task's id or None, the result of its ground truth or None)."""
    # The usual batch first, objects each with a whole task id, checked by whole lists; the
    # place of an item's text is written only for a message.
    task_ids = [item.get("task_id") if type(item) is dict else None for item in items]
    found: dict[int, int]
    if set(map(type, task_ids)) <= {int}:
        found = dict(enumerate(cast(list[int], task_ids)))
    else:
        found = {}
        for index, item in enumerate(items):
            task_id = _task_id(f"{field}[{index}]", item)
            if isinstance(task_id, str):
                errors.append(task_id)
            else:
                found[index] = task_id
    # An id no task column can hold names no task: it is not looked up (a driver refuses it).
    ids = set(found.values())
    if ids and (min(ids) < -(2**63) or max(ids) >= 2**63):
        ids = {task_id for task_id in ids if -(2**63) <= task_id < 2**63}
    connection = session.connection()
    dialect = connection.dialect.name
    params = {"run_id": run.id, "ids": ids_value(dialect, ids)}
    # The driver's own rows, fetched at once (SQLAlchemy's Row cost about what reading one does).
    rows = driver_rows(connection, _WAITING_AMONG(dialect), params)
    waiting: dict[int, Any] = {row[0]: row for row in rows}
    done = ids - waiting.keys()
    made = set()
    if done:
        params["ids"] = ids_value(dialect, done)
        for statement in _MADE_AMONG(dialect):
            made |= set(connection.execute(statement, params).scalars().all())
    if len(ids) == len(found) and not done:
        return found, waiting  # each item names a different task the run waits for
    seen: dict[int, int] = {}
    good: dict[int, int] = {}
    for index, task_id in found.items():
        if task_id in waiting and task_id not in seen:
            good[index] = task_id
            seen[task_id] = index
            continue
        where = f"{field}[{index}].task_id"
        if task_id in seen:
            errors.append(f"{where}: task {task_id} is also {field}[{seen[task_id]}].")
        elif task_id in made:
            errors.append(f"{where}: task {task_id} already has a result in run {run.id}.")
        else:
            errors.append(f"{where}: task {task_id} is not in the subset of run {run.id}.")
        seen.setdefault(task_id, index)
    return good, waiting


def _number_columns(
    field: str, indexes: Sequence[int], items: Sequence[dict[str, Any]], errors: list[str]
) -> list[list[Any]]:
    """The token counts and costs of the items (``items[i]`` is item ``indexes[i]`` of
    ``field``), a column for each of NUMBERS: null where not sent, and where refused (the
    refusal's message goes to ``errors``). Read column by column, which costs a third of
    reading them item by item."""
    columns = []
    for name, kinds, limit in NUMBERS:
        column = [item.get(name) for item in items]
        # NaN fails both comparisons, an infinity the second.
        refused = [
            i
            for i, value in enumerate(column)
            if value is not None and not (type(value) in kinds and 0 <= value <= limit)
        ]
        for i in refused:
            where = f"{field}[{indexes[i]}].{name}"
            errors.append(_number_error(where, column[i], name in COUNTS))
            column[i] = None
        columns.append(column)
    return columns


def _number_error(where: str, value: Any, whole: bool) -> str:
    if whole and type(value) is int and 0 <= value <= 2**53:
        # The count columns are 32-bit integers (as Label Studio's are on PostgreSQL).
        return f"{where}: Ensure this value is less than or equal to {MAX_COUNT}."
    return f"{where}: {'a whole number' if whole else 'a number'} >= 0 or null is required."


def _text(where: str, item: dict[str, Any], name: str, errors: list[str]) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(f"{where}.{name}: a string or null is required.")
        return ""
    return value


def record_predictions(
    session: Session, user: User, run_id: int, results: Sequence[Any], clock: Clock
) -> ModelRun:
    """Store a batch of an inference service's results (Adala's LSEBatchItem) for an external
    run, whole or not at all; an item flagged ``error`` is recorded as a failed prediction."""
    run = waiting_run(session, user, run_id)
    errors: list[str] = []
    tasks, waiting = _check_tasks(session, run, results, "results", errors)
    model = run_model(session, run)
    shape = model.shape
    # The tasks' data is read only for an output that to_result reads (the answer kept for an
    # output needs none): most of a batch's tasks have data of their own, read for nothing.
    data: dict[int, str] | None = None
    now = clock.read(clock_and_policy(session))
    # What every row has is read once (the run's attributes are the ORM's, a call each).
    run_id_, version_id = run.id, run.version_id
    assert run_id_ is not None  # a stored run
    # The items naming a task that still exists, and that task's ground truth.
    indexes: list[int] = []
    truth_texts: list[str | None] = []
    for index, task_id in tasks.items():
        _, exists, truth_text = waiting[task_id]
        if exists is None:
            errors.append(f"results[{index}].task_id: task {task_id} no longer exists.")
        else:
            indexes.append(index)
            truth_texts.append(truth_text)
    items = [results[index] for index in indexes]
    numbers = _number_columns("results", indexes, items, errors)
    # The predictions column by column (at the positions ``kept`` of the items, all of them
    # unless some failed); the failures as rows (few).
    task_ids: list[int] = []
    results_: list[Any] = []
    corrects: list[bool | None] = []
    kept: list[int] = []
    failed: list[dict[str, Any]] = []
    correct = 0
    answer_of, truth_chosen_of, control = shape.answer, shape.truth_chosen, shape.control
    for position, (index, item, truth_text) in enumerate(
        zip(indexes, items, truth_texts, strict=True)
    ):
        task_id = tasks[index]
        if item.get("error") is True:
            where = f"results[{index}]"
            error_type = _text(where, item, "message", errors) or "Error"
            message = _text(where, item, "details", errors)
            row = [column[position] for column in numbers]
            failed.append(_failure(run, task_id, now, row, error_type, message))
            continue
        output = item.get("output")
        # The same output on another task gave the same regions but for their ids: the
        # answer kept for it writes them and their JSON at once (to_result words a refusal).
        answer = answer_of(output) if isinstance(output, dict) else None
        try:
            if answer is None or answer.error is not None:
                if data is None:
                    data = task_texts(session, list(tasks.values()))
                task_data = decoded(session, data.get(task_id))
                result: Any = to_result(
                    shape.config, output, task_data, (run_id_, task_id), f"results[{index}].output"
                )
                chose = chosen(result, control)
            else:
                result, chose = Encoded(answer.text((run_id_, task_id))), answer.chosen
        except OutputError as error:
            errors.append(str(error))
            continue
        if truth_text is None:
            is_correct = None
        else:
            truth_chosen = truth_chosen_of(decoded(session, truth_text))
            is_correct = truth_chosen is not None and chose == truth_chosen
        correct += bool(is_correct)
        task_ids.append(task_id)
        results_.append(result)
        corrects.append(is_correct)
        kept.append(position)
    if errors:
        session.rollback()
        raise ValidationFailed({"results": in_item_order(errors)})
    constants = {"run_id": run_id_, "version_id": version_id, "created_at": now,
                 "updated_at": now, "project_id": run.project_id, "score": None,
                 "model_version": model.version.title}  # fmt: skip
    if len(kept) < len(items):
        numbers = [[column[position] for position in kept] for column in numbers]
    made = {"task_id": task_ids, "result": results_, "correct": corrects,
            **dict(zip(NUMBER_NAMES, numbers, strict=True))}  # fmt: skip
    _store(session, run, (made, constants), failed, correct, now)
    return run


def record_failures(
    session: Session, user: User, run_id: int, failures: Sequence[Any], clock: Clock
) -> ModelRun:
    """Store a batch of failed predictions ({task_id, message, error_type}) for an external
    run, whole or not at all."""
    run = waiting_run(session, user, run_id)
    errors: list[str] = []
    tasks, _ = _check_tasks(session, run, failures, "failed_predictions", errors)
    now = clock.read(clock_and_policy(session))
    indexes = list(tasks)
    items = [failures[index] for index in indexes]
    numbers = _number_columns("failed_predictions", indexes, items, errors)
    failed: list[dict[str, Any]] = []
    for position, (index, item) in enumerate(zip(indexes, items, strict=True)):
        where = f"failed_predictions[{index}]"
        error_type = _text(where, item, "error_type", errors) or "Error"
        message = _text(where, item, "message", errors)
        row = [column[position] for column in numbers]
        failed.append(_failure(run, tasks[index], now, row, error_type, message))
    if errors:
        session.rollback()
        raise ValidationFailed({"failed_predictions": in_item_order(errors)})
    _store(session, run, None, failed, 0, now)
    return run


def _failure(
    run: ModelRun,
    task_id: int,
    now: datetime,
    numbers: list[Any],
    error_type: str,
    message: str,
) -> dict[str, Any]:
    """A failed prediction's row, with the numbers of its item (in the order of NUMBERS)."""
    prompt_tokens, completion_tokens, _, _, total_cost_usd, _ = numbers
    return {"run_id": run.id, "task_id": task_id, "version_id": run.version_id,
            "created_at": now, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "total_cost_usd": total_cost_usd,
            "error_type": error_type, "message": message}  # fmt: skip


def _store(
    session: Session,
    run: ModelRun,
    predictions: tuple[dict[str, list[Any]], dict[str, Any]] | None,
    failed: list[dict[str, Any]],
    correct: int,
    now: datetime,
) -> None:
    """Store a checked batch: its predictions (columns, and what every row has) and failures."""
    made = predictions[0]["task_id"] if predictions is not None else []
    done = [*made, *(row["task_id"] for row in failed)]
    if predictions is not None and made:
        insert_columns(session, table_of(Prediction), *predictions)
    if failed:
        insert_rows(session, table_of(FailedPrediction), failed)
    if done:
        connection = session.connection()
        dialect = connection.dialect.name
        connection.execute(
            _DELETE_DONE(dialect), {"run_id": run.id, "ids": ids_value(dialect, done)}
        )
    run.total_predictions = (run.total_predictions or 0) + len(made)
    run.total_correct_predictions = (run.total_correct_predictions or 0) + correct
    run.total_failed += len(failed)
    if made:
        run.predictions_updated_at = now
    # Whether any task the run waits for still exists: the first one found answers (counting
    # them all made each batch cost more the larger the run).
    if not session.connection().execute(_ANY_WAITING, {"run_id": run.id}).scalar_one():
        # Tasks deleted since the run started leave its subset, as in the simulated mode.
        gone = session.exec(
            select(func.count()).select_from(RunTask).where(RunTask.run_id == run.id)
        ).one()
        if gone:
            session.execute(machine.delete_run_tasks().where(col(RunTask.run_id) == run.id))
            run.total_tasks = max((run.total_tasks or 0) - gone, 0)
        machine.finish(session, run, Policy.load(session), now, "external")
    # One Core UPDATE of what changed of the run (the ORM's flush of it cost several times more).
    machine.write_run(session, run)
    session.commit()


# Whether any task the run (``run_id``) waits for still exists (a task deleted since the run
# started may have left a row behind).
_ANY_WAITING = select_(
    select_(_RUN_TASKS.c.task_id)
    .join(table_of(Task), table_of(Task).c.id == _RUN_TASKS.c.task_id)
    .where(_RUN_TASKS.c.run_id == bindparam("run_id"))
    .exists()
)


def pending_tasks(session: Session, run: ModelRun) -> list[int]:
    """The tasks an InProgress run still waits for, in id order (empty once it has ended)."""
    return list(
        session.exec(
            select(RunTask.task_id).where(RunTask.run_id == run.id).order_by(col(RunTask.task_id))
        ).all()
    )
