"""Tasks of a project: list (paginated), create, get, update, delete; and imports of tasks."""

import json
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, and_, asc, bindparam, desc, exists, false, func, not_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from app.db import get_by_id
from app.deps import BodyDep, CallerDep, ClockDep, CurrentUserDep, SessionDep
from app.errors import APIError, BadRequest, NotFound
from app.lifecycle.subsets import FilterError, filter_condition
from app.lookups import own_project
from app.models import MAX_ID, Annotation, Prediction, Project, Task, User, table_of
from app.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.render import project_import_json, read_column, task_json
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.validation import (
    BooleanField,
    DictField,
    Field,
    IntegerField,
    JSONField,
    PrimaryKeyField,
    validate,
)
from app.workspace.tasks import (
    MAX_IMPORT_TASKS,
    create_task,
    delete_task,
    find_import,
    import_tasks,
    own_task,
    task_counts,
    update_task,
)

router = APIRouter(route_class=DeferredRoute, default_response_class=JSONResponse)
INT64 = {"min_value": -(2**63), "max_value": 2**63 - 1}
# Data Manager ordering keys (``query={"ordering": [...]}``) the emulator can sort by.
TASK_ORDERING = {
    "tasks:id": col(Task.id),
    "tasks:inner_id": col(Task.inner_id),
    "tasks:created_at": col(Task.created_at),
    "tasks:updated_at": col(Task.updated_at),
    "tasks:ground_truth": col(Task.has_ground_truth),
}


def task_fields(session: Session, user: User, partial: bool) -> dict[str, Field]:
    """LseTaskRequest (PatchedLseTaskRequest when partial): the writable fields the emulator
    stores; the counters Label Studio computes are read-only here and ignored when sent."""
    return {
        "data": DictField(required=not partial),
        "project": PrimaryKeyField(required=not partial, resolve=own_project(session, user)),
        "meta": JSONField(allow_null=True),
        "allow_skip": BooleanField(allow_null=True),
        "inner_id": IntegerField(allow_null=not partial, **INT64),
    }


def task_id_of(raw: str) -> int:
    """The task id of a URL (a string in the contract): anything but an id names no task."""
    try:
        value = int(raw)
    except ValueError:
        raise NotFound("Task") from None
    if not 0 < value <= MAX_ID:
        raise NotFound("Task")
    return value


def render_tasks(session: Session, tasks: Sequence[Any], nested: bool) -> list[dict[str, Any]]:
    ids = [task.id for task in tasks if task.id is not None]
    annotations, predictions = task_counts(session, ids, whole=nested)
    return [
        task_json(task, annotations[task.id or 0], predictions[task.id or 0], nested)
        for task in tasks
    ]


def _query_document(raw: str | None) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise BadRequest(
            "query must be a JSON object: {filters, selectedItems, ordering}"
        ) from None
    if not isinstance(document, dict):
        raise BadRequest("query must be a JSON object: {filters, selectedItems, ordering}")
    return document


def _selected(items: Any) -> ColumnElement[bool] | None:
    """selectedItems: {"all": false, "included": [ids]} or {"all": true, "excluded": [ids]}."""
    if items is None:
        return None
    if not isinstance(items, dict) or not isinstance(items.get("all"), bool):
        raise BadRequest('selectedItems must be {"all": false, "included": [...]} or '
                         '{"all": true, "excluded": [...]}')  # fmt: skip
    key = "excluded" if items["all"] else "included"
    ids = items.get(key, [])
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                            for i in ids):  # fmt: skip
        raise BadRequest(f"selectedItems.{key} must be a list of task ids")
    ids = [i for i in ids if 0 < i <= MAX_ID]
    if items["all"]:
        return not_(col(Task.id).in_(ids)) if ids else true()
    return col(Task.id).in_(ids) if ids else false()


def _page(params: dict[str, str]) -> tuple[int, int]:
    size_raw = params.get("page_size")
    try:
        size = int(size_raw) if size_raw is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    size = min(size if size > 0 else DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        raise APIError(404, "Invalid page.") from None
    if page < 1:
        raise APIError(404, "Invalid page.")
    return page, size


def _task_queries(
    condition: ColumnElement[bool], terms: Sequence[Any]
) -> tuple[Select[Any], Select[Any]]:
    """The task list's statements: the three counts in one (one round trip), then a page of
    rows of the table, not ORM objects (a page is read, never changed); the project, limit and
    offset bound when they run."""
    ids = select(col(Task.id)).where(condition)
    counts = select(
        select(func.count()).select_from(ids.subquery()).scalar_subquery(),
        # count(*), not of the ids (never null): SQLite then reads no column of the index
        # entries it counts (the predictions' count of 20,000: 1.35 to 0.85 ms).
        select(func.count())
        .select_from(table_of(Annotation))
        .where(col(Annotation.task_id).in_(ids), col(Annotation.was_cancelled) == false())
        .scalar_subquery(),
        select(func.count())
        .select_from(table_of(Prediction))
        .where(col(Prediction.task_id).in_(ids))
        .scalar_subquery(),
    )
    rows = (
        select(*(read_column(column) for column in table_of(Task).columns))
        .where(condition)
        .order_by(*terms, col(Task.id))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return counts, rows


@cache
def _project_task_queries() -> tuple[Select[Any], Select[Any]]:
    """``_task_queries`` of a project's tasks in id order, built once: building them and the
    keys under which SQLAlchemy finds them compiled cost more than their execution."""
    return _task_queries(col(Task.project_id) == bindparam("project"), ())


def _tasks_page(session: Session, user: User, params: dict[str, str]) -> JSONResponse:
    """A page of a project's tasks, as the route's query (``params``) asks."""
    project, view = params.get("project"), params.get("view")
    if project in (None, "", "0"):
        if view not in (None, "", "0"):
            raise NotFound("View")  # the emulator has no Data Manager views
        raise APIError(404, "Neither project nor view id specified")
    try:
        project_id = int(project)
    except ValueError:
        raise BadRequest(f"Incorrect value for project={project}") from None
    if not 0 < project_id <= MAX_ID or not own_project(session, user)(project_id):
        raise NotFound("Project")
    page, size = _page(params)
    document = _query_document(params.get("query"))
    condition: ColumnElement[bool] = col(Task.project_id) == bindparam("project")
    filtered = False
    try:
        if document.get("filters"):
            condition = and_(condition, filter_condition(document["filters"]))
            filtered = True
    except FilterError as error:
        raise BadRequest(str(error)) from None
    chosen = _selected(
        document.get("selectedItems")
        if params.get("selectedItems") is None
        else _query_document(params["selectedItems"]) or None
    )
    if chosen is not None:
        condition = and_(condition, chosen)
        filtered = True
    if params.get("only_annotated") in ("true", "True", "1"):
        condition = and_(
            condition,
            exists().where(
                col(Annotation.task_id) == col(Task.id), col(Annotation.was_cancelled) == false()
            ),
        )
        filtered = True
    ordering = document.get("ordering") or []
    terms = []
    if isinstance(ordering, list):
        for term in ordering[:1]:  # Label Studio sorts by one field
            if isinstance(term, str) and term.lstrip("-") in TASK_ORDERING:
                column = TASK_ORDERING[term.lstrip("-")]
                terms.append(desc(column) if term.startswith("-") else asc(column))
    counts, rows = _task_queries(condition, terms) if filtered or terms else _project_task_queries()
    connection = session.connection()
    values = {"project": project_id, "limit": size, "offset": (page - 1) * size}
    total, total_annotations, total_predictions = connection.execute(counts, values).one()
    tasks = connection.execute(rows, values).all()
    return JSONResponse(
        {
            "total_annotations": total_annotations,
            "total_predictions": total_predictions,
            "total": total,
            "tasks": render_tasks(session, tasks, nested=params.get("fields") == "all"),
        }
    )


@router.get("/api/tasks/", tags=["Tasks"], summary="List tasks")
async def list_tasks(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    project: Annotated[str | None, Query()] = None,
    view: Annotated[str | None, Query()] = None,
    fields: Annotated[str | None, Query(json_schema_extra={"enum": ["all", "task_only"]})] = None,
    only_annotated: Annotated[str | None, Query()] = None,
    query: Annotated[str | None, Query()] = None,
    selectedItems: Annotated[str | None, Query()] = None,  # noqa: N803 (the contract's name)
) -> Response:
    """Retrieve a paginated list of tasks of a project."""
    # The parameters above declare the query for the API document; _tasks_page reads them.
    # A page is long to read (several ms, with fields=all tens): in a thread on SQLite too.
    params = dict(request.query_params)
    return await caller.answer(session, lambda _, user: _tasks_page(session, user, params), True)


@router.post("/api/tasks/", status_code=201, tags=["Tasks"], summary="Create a new task")
def create_task_route(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a new task"""
    values = validate(task_fields(session, user, partial=False), body.data, form=body.form)
    task = create_task(session, user, values, clock.now(session))
    return JSONResponse(render_tasks(session, [task], nested=True)[0], status_code=201)


@router.get("/api/tasks/{id}/", tags=["Tasks"], summary="Get task")
def get_task(id: str, user: CurrentUserDep, session: SessionDep) -> JSONResponse:  # noqa: A002
    """Get task data, metadata, annotations and other attributes for a specific labeling task."""
    task = own_task(session, user, task_id_of(id))
    return JSONResponse(render_tasks(session, [task], nested=True)[0])


@router.patch("/api/tasks/{id}/", tags=["Tasks"], summary="Update task")
def patch_task(
    id: str,  # noqa: A002
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Update the attributes of an existing labeling task."""
    task_id = task_id_of(id)
    own_task(session, user, task_id)
    values = validate(task_fields(session, user, partial=True), body.data, form=body.form)
    task = update_task(session, user, task_id, values, clock.now(session))
    return JSONResponse(render_tasks(session, [task], nested=True)[0])


@router.delete("/api/tasks/{id}/", status_code=204, tags=["Tasks"], summary="Delete task")
def delete_task_route(id: str, user: CurrentUserDep, session: SessionDep) -> Response:  # noqa: A002
    """Delete a task in Label Studio. This action cannot be undone!"""
    delete_task(session, user, task_id_of(id))
    return Response(status_code=204)


def _flag(raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on", "t", "y")


@router.post("/api/projects/{id}/import", status_code=201, tags=["Import"], summary="Import tasks")
def import_tasks_route(
    id: int,  # noqa: A002
    request: Request,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
    commit_to_project: Annotated[str | None, Query()] = None,
    return_task_ids: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Import data as labeling tasks in bulk; answers {"import": id} to poll."""
    project = get_by_id(session, Project, id)
    if project is None or project.organization_id != user.organization_id:
        raise NotFound("Project")
    items = body.data
    if body.form:
        raise BadRequest("Only JSON tasks can be posted to the emulator: send a JSON list.")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise BadRequest(
            f"Incorrect task data: expected a list of tasks, but got {type(items).__name__}."
        )
    if not items:
        raise BadRequest("No tasks found in the request.")
    if len(items) > MAX_IMPORT_TASKS:
        raise BadRequest(f"Too many tasks in one request: at most {MAX_IMPORT_TASKS}.")
    options = {
        "commit_to_project": _flag(commit_to_project, True),
        "return_task_ids": _flag(return_task_ids, False),
        "preannotated_from_fields": request.query_params.getlist("preannotated_from_fields"),
    }
    record = import_tasks(session, user, project, items, options, clock.now(session))
    return JSONResponse({"import": record.id}, status_code=201)


@router.get(
    "/api/projects/{id}/imports/{import_pk}/",
    tags=["Projects"],
    summary="Get project import status ",
)
def get_import(
    id: int,  # noqa: A002
    import_pk: int,
    user: CurrentUserDep,
    session: SessionDep,
) -> JSONResponse:
    """Poll the status of a project import."""
    return JSONResponse(project_import_json(find_import(session, user, id, import_pk)))
