"""Predictions through the API: create, change, delete (runs make theirs in app.lifecycle)."""

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select
from sqlmodel import Session, col

from app.db import driver_rows, get_by_id
from app.errors import NotFound, ValidationFailed
from app.lookups import own_project, own_task_id
from app.models import ModelRun, Prediction, Project, Task, User, table_of
from app.render import PREDICTION_COLUMNS, prediction_rows_json, read_column
from app.validation import (
    CharField,
    DictField,
    Field,
    FloatField,
    IntegerField,
    JSONField,
    ListField,
    PrimaryKeyField,
)

UNIQUE_RUN_TASK = "The fields model_run, task must make a unique set."


def prediction_fields(session: Session, user: User, partial: bool = False) -> dict[str, Field]:
    """PredictionRequest (PatchedPredictionRequest when partial) with DRF's rules; related
    ids resolve within the user's organization."""

    def run_in_org(pk: int) -> bool:
        run = session.get(ModelRun, pk)
        return run is not None and run.organization_id == user.organization_id

    return {
        "result": ListField(child=DictField(), required=not partial),
        "task": PrimaryKeyField(required=not partial, resolve=own_task_id(session, user)),
        "project": PrimaryKeyField(allow_null=True, resolve=own_project(session, user)),
        "score": FloatField(allow_null=True),
        "model_version": CharField(allow_blank=True),
        "cluster": IntegerField(allow_null=True),
        "neighbors": JSONField(allow_null=True),
        "mislabeling": FloatField(),
        # No ML backend exists in the emulator: any id names nothing.
        "model": PrimaryKeyField(allow_null=True, resolve=lambda pk: False),
        "model_run": PrimaryKeyField(allow_null=True, resolve=run_in_org),
    }


def own_prediction(session: Session, user: User, prediction_id: int) -> Prediction:
    """A prediction of a project of the user's organization, or Label Studio's 404."""
    prediction = get_by_id(session, Prediction, prediction_id)
    if prediction is not None and prediction.project_id is not None:
        project = session.get(Project, prediction.project_id)
        if project is not None and project.organization_id == user.organization_id:
            return prediction
    raise NotFound("Prediction")


def _apply(session: Session, prediction: Prediction, values: dict[str, Any]) -> None:
    """Copy validated values onto a prediction; a named run makes it a prediction of the run's
    version, unique per (run, task) as runs' predictions are."""
    # Nothing is flushed meanwhile: a changed row would break the unique (run, task) index
    # before the check below could refuse it with Label Studio's 400.
    with session.no_autoflush:
        if "task" in values:
            prediction.task_id = values["task"]
            if "project" not in values or values["project"] is None:
                task = session.get(Task, values["task"])
                assert task is not None
                prediction.project_id = task.project_id
        if values.get("project") is not None:
            prediction.project_id = values["project"]
        for name in ("result", "score", "model_version", "cluster", "neighbors", "mislabeling"):
            if name in values:
                setattr(prediction, name, values[name])
        if "model_run" in values:
            run = session.get(ModelRun, values["model_run"]) if values["model_run"] else None
            prediction.run_id = run.id if run else None
            prediction.version_id = run.version_id if run else None
        if prediction.run_id is not None:
            clash = session.execute(
                select(col(Prediction.id)).where(
                    col(Prediction.run_id) == prediction.run_id,
                    col(Prediction.task_id) == prediction.task_id,
                    col(Prediction.id) != (prediction.id or 0),
                )
            ).first()
            if clash is not None:
                raise ValidationFailed({"non_field_errors": [UNIQUE_RUN_TASK]})


def create_prediction(session: Session, values: dict[str, Any], now: datetime) -> Prediction:
    """A prediction from a validated PredictionRequest body."""
    prediction = Prediction(task_id=values["task"], created_at=now, updated_at=now)
    _apply(session, prediction, values)
    session.add(prediction)
    session.commit()
    return prediction


def update_prediction(
    session: Session, user: User, prediction_id: int, values: dict[str, Any], now: datetime
) -> Prediction:
    """Change a prediction (PUT: every required field given; PATCH: some)."""
    prediction = own_prediction(session, user, prediction_id)
    _apply(session, prediction, values)
    prediction.updated_at = now
    session.add(prediction)
    session.commit()
    return prediction


def delete_prediction(session: Session, user: User, prediction_id: int) -> None:
    prediction = own_prediction(session, user, prediction_id)
    session.delete(prediction)
    session.commit()


NOT_A_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def _filter_id(raw: str | None) -> int | None:
    """A filter's value as django-filter reads it: None when not given, 0 when no id."""
    if raw is None or raw == "":
        return None
    try:
        pk = int(raw)
    except ValueError:
        return 0
    return pk if 0 < pk <= 2**31 - 1 else 0


def filter_ids(resolve: Callable[[int], bool], name: str, raw: str | None) -> int | None:
    """A django-filter ModelChoiceFilter value: an id of an object the user can see, else 400."""
    pk = _filter_id(raw)
    if pk is None:
        return None
    if not pk or not resolve(pk):
        raise ValidationFailed({name: [NOT_A_CHOICE]})
    return pk


def list_predictions(
    connection: Connection,
    user: User,
    task: str | None,
    project: str | None,
    task_project: str | None,
) -> list[dict[str, Any]]:
    """The organization's predictions, by id, filtered as Label Studio's filterset does, as
    their JSON (read on the driver's cursor and converted a column at a time:
    ``prediction_rows_json``); a filter naming no object of the organization is a 400, the
    first of them in the filterset's order.

    One statement when predictions are found: it also reads the organizations of the task and
    of the task's project filtered by (a project filtered by is the organization's when any of
    its predictions is found). Else the filters are checked one by one, as they are when one
    is no id at all."""
    names = ("task", "project", "task_project")
    given = dict(zip(names, map(_filter_id, (task, project, task_project)), strict=True))
    rows: list[Any] = []
    if 0 not in given.values():
        values: dict[str, Any] = {name: pk for name, pk in given.items() if pk is not None}
        query = _predictions_query(*(pk is not None for pk in given.values()))
        values["organization"] = user.organization_id
        rows = driver_rows(connection, query, values)
    if not rows:
        projects = own_project(connection, user)
        filter_ids(own_task_id(connection, user), "task", task)
        filter_ids(projects, "project", project)
        filter_ids(projects, "task__project", task_project)
        return []
    shown = len(PREDICTION_COLUMNS)
    checks = iter(rows[0][shown:])
    for name, label in (("task", "task"), ("task_project", "task__project")):
        if given[name] is not None and next(checks) != user.organization_id:
            raise ValidationFailed({label: [NOT_A_CHOICE]})
    return prediction_rows_json(rows, connection.dialect.name)


_TASKS = table_of(Task)
_PROJECTS = table_of(Project)


@cache
def _predictions_query(task: bool, project: bool, task_project: bool) -> Select[Any]:
    """The list's statement for the filters given, built once with its values bound: building
    it, and the key under which SQLAlchemy finds it compiled, cost more than running it. After
    the PREDICTION_COLUMNS: the organization of the task filtered by, then that of the task's
    project filtered by (each given once: SQLite and PostgreSQL run such a subquery once)."""
    table = table_of(Prediction)
    org_projects = select(_PROJECTS.c.id).where(
        _PROJECTS.c.organization_id == bindparam("organization")
    )
    checks = []
    if task:
        checks.append(
            select(_PROJECTS.c.organization_id)
            .select_from(_TASKS.join(_PROJECTS, _PROJECTS.c.id == _TASKS.c.project_id))
            .where(_TASKS.c.id == bindparam("task"))
            .scalar_subquery()
        )
    if task_project:
        checks.append(
            select(_PROJECTS.c.organization_id)
            .where(_PROJECTS.c.id == bindparam("task_project"))
            .scalar_subquery()
        )
    query = select(*(read_column(table.c[name]) for name in PREDICTION_COLUMNS), *checks).where(
        table.c.project_id.in_(org_projects)
    )
    if task:
        query = query.where(table.c.task_id == bindparam("task"))
    if project:
        query = query.where(table.c.project_id == bindparam("project"))
    if task_project:
        tasks = select(_TASKS.c.id).where(_TASKS.c.project_id == bindparam("task_project"))
        query = query.where(table.c.task_id.in_(tasks))
    return query.order_by(table.c.id)
