"""Projects: the subsets a prompt can run on."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.db import get_by_id
from app.deps import CurrentUserDep, SessionDep
from app.errors import NotFound
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import subset_counts
from app.models import Project

router = APIRouter(tags=["Projects"])


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
    project = get_by_id(session, Project, project_pk)
    if project is None or project.organization_id != user.organization_id:
        raise NotFound("Project")
    sample = Policy.load(session).sample_subset_size
    return JSONResponse(subset_counts(session, project.id, sample))
