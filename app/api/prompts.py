"""Prompt versions: how many tasks of a subset already have predictions."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.inference_runs import QUERY_SUBSETS
from app.deps import CurrentUserDep, SessionDep
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import count, subset_query
from app.lookups import own_project, prompt_version
from app.models import ProjectSubset
from app.validation import ChoiceField, IntegerField, PrimaryKeyField, validate

router = APIRouter(tags=["Prompts"])


@router.get(
    "/api/prompts/{prompt_id}/versions/{version_id}/prediction-count",
    summary="✨ Get prediction count for a prompt version",
)
def prediction_count(
    prompt_id: int, version_id: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Return how many tasks in a subset already have predictions for a given version."""
    _, version = prompt_version(session, user, prompt_id, version_id)

    params = validate(
        {
            "project": PrimaryKeyField(required=True, resolve=own_project(session, user)),
            "project_subset": ChoiceField(
                choices=QUERY_SUBSETS, default=ProjectSubset.HAS_GT.value
            ),
            "sample_subset_size": IntegerField(min_value=0, allow_null=True),
        },
        dict(request.query_params),
        form=True,
    )
    policy = Policy.load(session)
    size = params.get("sample_subset_size")
    selection: dict[str, Any] = {
        "sample_size": policy.sample_subset_size if size is None else size,
    }
    subset = (params["project"], params["project_subset"])
    total = count(session, subset_query(*subset, **selection))
    missing = count(session, subset_query(*subset, **selection, missing_for_version=version.id))
    return JSONResponse(
        {"existing_predictions": total - missing, "tasks_to_run": missing, "total_tasks": total}
    )
