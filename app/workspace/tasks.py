"""Tasks, their annotations and imports: create, change, delete, each stored whole or not at all.

``task.has_ground_truth`` (the HasGT subset) is kept in step with the task's annotations here:
every write of annotations goes through ``sync_ground_truth``."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, delete, exists, func, insert, select, true, update
from sqlmodel import Session, col

from app.db import driver_rows, get_by_id, mark_seed_changed
from app.errors import NotFound
from app.lifecycle.bulk import among_bound, ids_value
from app.lookups import own_project
from app.models import (
    ACTIVE_STATUSES,
    MAX_ID,
    Annotation,
    FailedPrediction,
    FewShotExample,
    ModelRun,
    Prediction,
    Project,
    ProjectImport,
    RunTask,
    Task,
    User,
    table_of,
)
from app.render import PREDICTION_COLUMNS, TaskPredictions, prediction_rows_json, read_column
from app.validation import (
    EMPTY,
    BooleanField,
    DictField,
    Field,
    FieldError,
    FloatField,
    IntegerField,
    JSONField,
    ListField,
    PrimaryKeyField,
)

IMPORT_CREATED, IMPORT_COMPLETED, IMPORT_FAILED = "created", "completed", "failed"
MAX_IMPORT_TASKS = 250_000  # Label Studio's limit for one import request


def own_task(session: Session, user: User, task_id: int, lock: bool = False) -> Task:
    """A task of a project of the user's organization, or Label Studio's 404."""
    task = get_by_id(session, Task, task_id, lock)
    if task is None or not own_project(session, user)(task.project_id):
        raise NotFound("Task")
    return task


def next_inner_id(session: Session, project_id: int) -> int:
    """The inner id the next task of a project gets (inner ids count from 1 per project)."""
    last = session.execute(
        select(func.coalesce(func.max(col(Task.inner_id)), 0)).where(
            col(Task.project_id) == project_id
        )
    ).scalar_one()
    return int(last) + 1


def sync_ground_truth(session: Session, task_ids: Iterable[int]) -> None:
    """Set has_ground_truth of tasks from their annotations (a non-cancelled ground-truth one)."""
    ids = list(task_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        has_gt = exists().where(
            col(Annotation.task_id) == col(Task.id),
            col(Annotation.ground_truth) == true(),
            col(Annotation.was_cancelled) == False,  # noqa: E712 (SQL comparison)
        )
        session.execute(update(Task).where(col(Task.id).in_(chunk)).values(has_ground_truth=has_gt))


# --- validation of tasks as a body or an import names them ---


def annotation_fields(session: Session, user: User) -> dict[str, Field]:
    """The AnnotationRequest fields an import or a seed may give for a task."""
    return {
        "result": ListField(child=DictField(), default=[]),
        "ground_truth": BooleanField(default=False),
        "was_cancelled": BooleanField(default=False),
        "completed_by": PrimaryKeyField(
            allow_null=True, resolve=lambda pk: _user_in_org(session, user, pk)
        ),
        "lead_time": FloatField(allow_null=True),
        "import_id": IntegerField(allow_null=True, min_value=-(2**63), max_value=2**63 - 1),
    }


def _user_in_org(session: Session, user: User, pk: int) -> bool:
    other = session.get(User, pk)
    return other is not None and other.organization_id == user.organization_id


def prediction_item_fields() -> dict[str, Field]:
    """The PredictionRequest fields an imported task's predictions may give."""
    return {
        "result": ListField(child=DictField(), required=True),
        "score": FloatField(allow_null=True),
        "model_version": _Text(),
        "cluster": IntegerField(allow_null=True),
        "neighbors": JSONField(allow_null=True),
        "mislabeling": FloatField(default=0.0),
    }


class _Text(Field):
    """model_version: text, blank allowed (DRF CharField(allow_blank=True))."""

    def __init__(self) -> None:
        super().__init__(default="")

    def convert(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldError("Not a valid string.")
        return str(value)


def _check(fields: dict[str, Field], data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated values and DRF-style errors of one object (errors are collected, not raised)."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        return {}, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, field in fields.items():
        try:
            value = field.run(data.get(name, EMPTY))
        except FieldError as error:
            errors[name] = [error.message]
            continue
        if value is not EMPTY:
            values[name] = value
    return values, errors


def check_import_items(
    session: Session, user: User, items: Sequence[Any], preannotated: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Import items as tasks: an item without ``data`` is the data itself (as Label Studio reads
    them). Answers the tasks and, per item, its errors (an empty object when it is valid)."""
    tasks: list[dict[str, Any]] = []
    all_errors: list[Any] = []
    ann_fields, pred_fields = annotation_fields(session, user), prediction_item_fields()
    for item in items:
        if isinstance(item, dict) and "data" not in item:
            item = {"data": item}
        fields: dict[str, Field] = {
            "data": DictField(required=True),
            "meta": JSONField(allow_null=True, default={}),
            "allow_skip": BooleanField(allow_null=True, default=True),
            "annotations": ListField(child=JSONField(), default=[]),
            "predictions": ListField(child=JSONField(), default=[]),
        }
        values, errors = _check(fields, item)
        annotations: list[dict[str, Any]] = []
        predictions: list[dict[str, Any]] = []
        if not errors:
            data = values["data"]
            for name in preannotated:
                if name in data:
                    values["predictions"].append({"result": data.pop(name)})
            nested: dict[str, list[Any]] = {"annotations": [], "predictions": []}
            for key, kind_fields, out in (
                ("annotations", ann_fields, annotations),
                ("predictions", pred_fields, predictions),
            ):
                for entry in values[key]:
                    checked, entry_errors = _check(kind_fields, entry)
                    nested[key].append(entry_errors)
                    out.append(checked)
            for key, found in nested.items():
                if any(found):
                    errors[key] = found
        all_errors.append(errors)
        tasks.append(
            {
                "data": values.get("data"),
                "meta": values.get("meta"),
                "allow_skip": values.get("allow_skip", True),
                "annotations": annotations,
                "predictions": predictions,
            }
        )
    return tasks, all_errors


# --- writes ---


def insert_tasks(
    session: Session,
    project_id: int,
    tasks: Sequence[dict[str, Any]],
    now: datetime,
    user: User | None = None,
) -> tuple[list[int], int, int]:
    """Create tasks with their annotations and predictions (validated values); answers the new
    task ids and the numbers of annotations and predictions created."""
    inner = next_inner_id(session, project_id)
    rows = [
        Task(
            project_id=project_id,
            data=spec["data"],
            meta=spec.get("meta") if spec.get("meta") is not None else {},
            allow_skip=spec.get("allow_skip", True),
            inner_id=inner + offset,
            has_ground_truth=any(
                a.get("ground_truth") and not a.get("was_cancelled")
                for a in spec.get("annotations", [])
            ),
            created_at=now,
            updated_at=now,
        )
        for offset, spec in enumerate(tasks)
    ]
    session.add_all(rows)
    session.flush()  # one batched INSERT ... RETURNING gives every id
    ids = [task.id for task in rows if task.id is not None]
    annotations = [
        _annotation_row(task_id, project_id, spec, now, user)
        for task_id, task in zip(ids, tasks, strict=True)
        for spec in task.get("annotations", [])
    ]
    predictions = [
        _prediction_row(task_id, project_id, spec, now)
        for task_id, task in zip(ids, tasks, strict=True)
        for spec in task.get("predictions", [])
    ]
    if annotations:
        session.execute(insert(Annotation), annotations)
    if predictions:
        session.execute(insert(Prediction), predictions)
    return ids, len(annotations), len(predictions)


def _annotation_row(
    task_id: int, project_id: int, spec: dict[str, Any], now: datetime, user: User | None
) -> dict[str, Any]:
    completed_by = spec.get("completed_by")
    return {
        "task_id": task_id,
        "project_id": project_id,
        "result": spec.get("result", []),
        "ground_truth": spec.get("ground_truth", False),
        "was_cancelled": spec.get("was_cancelled", False),
        "completed_by_id": completed_by if completed_by is not None else (user and user.id),
        "lead_time": spec.get("lead_time"),
        "import_id": spec.get("import_id"),
        "created_at": now,
        "updated_at": now,
    }


def _prediction_row(
    task_id: int, project_id: int, spec: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "project_id": project_id,
        "result": spec["result"],
        "score": spec.get("score"),
        "model_version": spec.get("model_version", ""),
        "cluster": spec.get("cluster"),
        "neighbors": spec.get("neighbors"),
        "mislabeling": spec.get("mislabeling", 0.0),
        "created_at": now,
        "updated_at": now,
    }


def import_tasks(
    session: Session,
    user: User,
    project: Project,
    items: Sequence[Any],
    options: dict[str, Any],
    now: datetime,
) -> ProjectImport:
    """Import tasks into a project. The import is done at once, in this transaction: its status
    is already final when the answer is sent. Data errors fail the import (nothing is created)
    and are reported by its status, as Label Studio Enterprise reports them."""
    preannotated = options.get("preannotated_from_fields") or []
    tasks, errors = check_import_items(session, user, items, preannotated)
    record = ProjectImport(
        project_id=project.id,
        status=IMPORT_CREATED,
        commit_to_project=options.get("commit_to_project", True),
        return_task_ids=options.get("return_task_ids", False),
        preannotated_from_fields=preannotated or None,
        created_at=now,
        updated_at=now,
    )
    if any(errors):
        problems = [f"Task {index}: {error}" for index, error in enumerate(errors) if error]
        record.status = IMPORT_FAILED
        record.error = "Validation error: " + "; ".join(problems[:20])
    else:
        if record.commit_to_project:
            ids, annotations, predictions = insert_tasks(session, project.id, tasks, now, user)
            mark_seed_changed(session)
        else:
            ids = []
            annotations = sum(len(t["annotations"]) for t in tasks)
            predictions = sum(len(t["predictions"]) for t in tasks)
        record.task_count = len(tasks)
        record.annotation_count = annotations
        record.prediction_count = predictions
        record.task_ids = ids
        record.status = IMPORT_COMPLETED
    record.finished_at = now
    record.updated_at = now
    session.add(record)
    session.commit()
    return record


def find_import(session: Session, user: User, project_id: int, import_id: int) -> ProjectImport:
    """An import of a project of the user's organization, or Label Studio's 404."""
    project = get_by_id(session, Project, project_id)
    if project is None or project.organization_id != user.organization_id:
        raise NotFound("Project")
    record = get_by_id(session, ProjectImport, import_id)
    if record is None or record.project_id != project.id:
        raise NotFound("ProjectImport")
    return record


def create_task(session: Session, user: User, values: dict[str, Any], now: datetime) -> Task:
    """One task from a validated LseTaskRequest body."""
    spec = {
        "data": values["data"],
        "meta": values.get("meta"),
        "allow_skip": values.get("allow_skip", True),
    }
    (task_id,), _, _ = insert_tasks(session, values["project"], [spec], now, user)
    if values.get("inner_id") is not None:
        session.execute(
            update(Task).where(col(Task.id) == task_id).values(inner_id=values["inner_id"])
        )
    mark_seed_changed(session)
    session.commit()
    task = session.get(Task, task_id)
    assert task is not None
    session.refresh(task)
    return task


def update_task(
    session: Session, user: User, task_id: int, values: dict[str, Any], now: datetime
) -> Task:
    """Change a task's fields (a validated PatchedLseTaskRequest body); moving it to another
    project of the organization moves its annotations and predictions along."""
    task = own_task(session, user, task_id, lock=True)
    for name in ("data", "meta", "allow_skip", "inner_id"):
        if name in values:
            setattr(task, name, values[name])
    project = values.get("project")
    if project is not None and project != task.project_id:
        task.project_id = project
        for model in (Annotation, Prediction):
            session.execute(
                update(model).where(col(model.task_id) == task.id).values(project_id=project)
            )
    task.updated_at = now
    session.add(task)
    mark_seed_changed(session)
    session.commit()
    return task


def delete_task(session: Session, user: User, task_id: int) -> None:
    """Delete a task with its annotations, predictions and run bookkeeping, in one transaction.

    A run still to predict the task drops it from its subset (``total_tasks`` one less), so its
    totals keep adding up; what runs already counted for it stays counted."""
    task = own_task(session, user, task_id)
    # Lock the runs that still hold the task before touching it, as a lifecycle step locks its
    # run before the run's tasks: a step under way finishes first, none starts meanwhile.
    holders = select(col(RunTask.run_id)).where(col(RunTask.task_id) == task.id)
    runs = session.execute(
        select(ModelRun)
        .where(col(ModelRun.id).in_(holders), col(ModelRun.status).in_(ACTIVE_STATUSES))
        .order_by(col(ModelRun.id))
        .with_for_update()
    ).scalars()
    for run in runs:
        left = session.execute(
            delete(RunTask).where(col(RunTask.run_id) == run.id, col(RunTask.task_id) == task.id)
        )
        if getattr(left, "rowcount", 0):
            run.total_tasks = max((run.total_tasks or 0) - 1, 0)
            session.add(run)
    session.execute(delete(RunTask).where(col(RunTask.task_id) == task.id))
    for model in (Prediction, FailedPrediction, Annotation, FewShotExample):
        session.execute(delete(model).where(col(model.task_id) == task.id))
    session.execute(delete(Task).where(col(Task.id) == task.id))
    mark_seed_changed(session)
    session.commit()


# What a task's counters read of its annotations and predictions when they are not shown whole.
ANNOTATION_SUMMARY = (
    "id",
    "task_id",
    "was_cancelled",
    "completed_by_id",
    "lead_time",
    "created_at",
)
PREDICTION_SUMMARY = ("task_id", "score", "model_version")
PREDICTION_TASK, PREDICTION_SCORE, PREDICTION_VERSION = (
    PREDICTION_COLUMNS.index(name) for name in PREDICTION_SUMMARY
)


def task_counts(
    session: Session, task_ids: Sequence[int], whole: bool = True
) -> tuple[dict[int, list[Any]], dict[int, TaskPredictions]]:
    """The annotations and predictions of tasks, by task id, oldest first (one query each):
    annotations as rows of their table (the columns their JSON shows when ``whole``, else
    only those the counters read), predictions gathered as their JSON shows them (whole when
    ``whole``)."""
    annotations: dict[int, list[Any]] = {i: [] for i in task_ids}
    predictions = {i: TaskPredictions() for i in task_ids}
    if not task_ids:
        return annotations, predictions
    connection = session.connection()
    dialect = connection.dialect.name
    ids = {"tasks": ids_value(dialect, task_ids)}
    for row in connection.execute(_annotations_query(whole, dialect), ids).all():
        annotations[row.task_id].append(row)
    # The driver's own rows, without a Row and its processors for each of a page's thousands
    # of predictions: the counters' three columns need no conversion, the whole ones are
    # converted a column at a time.
    rows = driver_rows(connection, _predictions_query(whole, dialect), ids)
    task, score, version = map(
        itemgetter, (PREDICTION_TASK, PREDICTION_SCORE, PREDICTION_VERSION) if whole else (0, 1, 2)
    )
    shown = iter(prediction_rows_json(rows, dialect) if whole else ())
    # In task order (the index's): each task's rows gathered at once, as TaskPredictions.add
    # would gather them one by one (the scores not null, the versions not blank, each once).
    for task_id, group in groupby(rows, task):
        entry = predictions[task_id]
        found = list(group)
        entry.count = len(found)
        entry.scores = list(map(score, found))
        if None in entry.scores:
            entry.scores = [value for value in entry.scores if value is not None]
        versions: dict[Any, None] = dict.fromkeys(map(version, found))
        versions.pop("", None)
        versions.pop(None, None)
        entry.versions = versions
        if whole:
            entry.shown = list(islice(shown, entry.count))
    return annotations, predictions


@cache
def _annotations_query(whole: bool, dialect: str) -> Select[Any]:
    """A page's annotations, built once (the tasks bound when it runs, as one parameter: an IN
    list of a page's ids costs SQLAlchemy more to render than the statement's own work);
    task_json compares their datetimes: those are read as datetimes."""
    table = table_of(Annotation)
    names = table.columns.keys() if whole else ANNOTATION_SUMMARY
    return (
        select(*(read_column(table.c[name], datetimes=True) for name in names))
        .where(among_bound(dialect, table.c.task_id, "tasks"))
        .order_by(table.c.task_id, table.c.id)  # in the index's order: nothing to sort
    )


@cache
def _predictions_query(whole: bool, dialect: str) -> Select[Any]:
    """A page's predictions (their JSON's columns when ``whole``, else those the counters
    read), built once (the tasks bound when it runs, as ``_annotations_query``'s)."""
    table = table_of(Prediction)
    return (
        select(
            *(
                read_column(table.c[name])
                for name in (PREDICTION_COLUMNS if whole else PREDICTION_SUMMARY)
            )
        )
        .where(among_bound(dialect, table.c.task_id, "tasks"))
        .order_by(table.c.task_id, table.c.id)
    )


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID
