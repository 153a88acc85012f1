"""Model provider connections: the credentials prompts use to reach a model provider."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.deps import BodyDep, ClockDep, CurrentUserDep, SessionDep
from app.render import connections
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.workspace.connections import (
    PROVIDERS,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
    update_connection,
)

router = APIRouter(
    route_class=DeferredRoute,
    tags=["Model Provider Connection"],
    default_response_class=JSONResponse,
)
BASE = "/api/model-provider-connections/"


@router.get(BASE, summary="List model provider connections")
def list_model_provider_connections(
    user: CurrentUserDep, session: SessionDep, ordering: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """List all model provider connections."""
    return JSONResponse(connections(session, list_connections(session, user, ordering)))


@router.post(BASE, status_code=201, summary="Create model provider connection")
def create_model_provider_connection(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a new model provider connection."""
    row = create_connection(session, user, body.data, body.form, clock)
    return JSONResponse(connections(session, [row])[0], status_code=201)


@router.get(BASE + "provider-choices", summary="List model provider choices")
def list_model_provider_choices(user: CurrentUserDep) -> JSONResponse:
    """List all possible model provider choices"""
    return JSONResponse({"provider_choices": PROVIDERS})


@router.get(BASE + "{id}/", summary="Get model provider connection")
def get_model_provider_connection(
    id: int, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Retrieve a specific model provider connection."""
    return JSONResponse(connections(session, [get_connection(session, user, id)])[0])


@router.patch(BASE + "{id}/", summary="Update model provider connection")
def patch_model_provider_connection(
    id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Update a specific model provider connection by ID."""
    row = update_connection(session, user, id, body.data, body.form, clock)
    return JSONResponse(connections(session, [row])[0])


@router.put(BASE + "{id}/", summary="Put model provider connection")
def put_model_provider_connection(
    id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Overwrite a specific model provider connection by ID."""
    row = update_connection(session, user, id, body.data, body.form, clock)
    return JSONResponse(connections(session, [row])[0])


@router.delete(BASE + "{id}/", status_code=204, summary="Delete model provider connection")
def delete_model_provider_connection(
    id: int, user: CurrentUserDep, session: SessionDep
) -> Response:
    """Delete a model provider connection by ID"""
    delete_connection(session, user, id)
    return Response(status_code=204)
