"""Projects: list, create, read, change, delete, and the subsets a prompt can run on."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.db import get_by_id
from app.deps import BodyDep, ClockDep, CurrentUserDep, SessionDep
from app.errors import NotFound
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import subset_counts
from app.models import Project
from app.pagination import paginate
from app.render import project
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.workspace.projects import (
    COUNT_FIELDS,
    DEFAULTS,
    create_project,
    delete_project,
    get_project,
    project_facts,
    project_query,
    read_filters,
    update_project,
)

router = APIRouter(
    route_class=DeferredRoute, tags=["Projects"], default_response_class=JSONResponse
)
# Label Studio's ProjectListPagination.
PAGE_SIZE = 30


def _one(session: SessionDep, row: Project, shape: str = "detail") -> JSONResponse:
    facts = project_facts(session, [row])[row.id]
    return JSONResponse(
        project(row, facts, DEFAULTS, shape), status_code=201 if shape == "create" else 200
    )


@router.get("/api/projects/", summary="List projects")
def list_projects(request: Request, user: CurrentUserDep, session: SessionDep) -> JSONResponse:
    """Retrieve a list of projects."""
    params = dict(request.query_params)
    filters = read_filters(params)
    include = None
    if params.get("include"):
        include = {f.strip() for f in params["include"].split(",")} & set(COUNT_FIELDS)

    def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        facts = project_facts(session, list(rows))
        return [project(r, facts[r.id], DEFAULTS, "list", include) for r in rows]

    url = str(request.url.replace(query=""))
    page = paginate(session, project_query(user, filters), url, params, render, PAGE_SIZE)
    return JSONResponse(page)


@router.post("/api/projects/", status_code=201, summary="Create a project")
def create(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a project and set up its settings."""
    return _one(session, create_project(session, user, body.data, body.form, clock), "create")


@router.get("/api/projects/{id}/", summary="Get project by ID")
def get(
    id: int,
    user: CurrentUserDep,
    session: SessionDep,
    members_limit: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    """Retrieve information about a project by project ID."""
    return _one(session, get_project(session, user, id))


@router.patch("/api/projects/{id}/", summary="Update project details")
def patch(
    id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    members_limit: Annotated[int | None, Query()] = None,
) -> JSONResponse:
    """Update the details of a specific project."""
    return _one(session, update_project(session, user, id, body.data, body.form))


@router.delete("/api/projects/{id}/", status_code=204, summary="Delete project")
def delete(id: int, user: CurrentUserDep, session: SessionDep) -> Response:
    """Delete a project by specified project ID."""
    delete_project(session, user, id)
    return Response(status_code=204)


@router.get(
    "/api/projects/{project_pk}/subsets",
    summary="✨ Get available subsets of a project (for prompts usage)",
)
def list_project_subsets(
    project_pk: int,
    user: CurrentUserDep,
    session: SessionDep,
    ordering: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Provides list of available subsets for a project along with count of tasks in each subset"""
    project_row = get_by_id(session, Project, project_pk)
    if project_row is None or project_row.organization_id != user.organization_id:
        raise NotFound("Project")
    sample = Policy.load(session).sample_subset_size
    return JSONResponse(subset_counts(session, project_row.id, sample))
