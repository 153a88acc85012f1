"""Predictions: list (filtered), create, get, update, overwrite, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.db import single_read
from app.deps import BodyDep, CallerDep, ClockDep, CurrentUserDep, EngineDep, SessionDep
from app.models import User
from app.render import prediction_json
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.validation import validate
from app.workspace.predictions import (
    create_prediction,
    delete_prediction,
    list_predictions,
    own_prediction,
    prediction_fields,
    update_prediction,
)

router = APIRouter(
    route_class=DeferredRoute, tags=["Predictions"], default_response_class=JSONResponse
)
ONE = "/api/predictions/{id}/"


@router.get("/api/predictions/", summary="List predictions")
async def list_predictions_route(
    caller: CallerDep,
    engine: EngineDep,
    task: Annotated[str | None, Query()] = None,
    project: Annotated[str | None, Query()] = None,
    task__project: Annotated[str | None, Query()] = None,
) -> Response:
    """List all predictions and their IDs."""

    def read(bind: Any, user: User) -> JSONResponse:
        with single_read(bind) as connection:  # no session, BEGIN nor ROLLBACK
            predictions = list_predictions(connection, user, task, project, task__project)
        return JSONResponse(predictions)

    return await caller.answer(engine, read)


@router.post("/api/predictions/", status_code=201, summary="Create prediction")
def create_prediction_route(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a prediction for a specific task."""
    values = validate(prediction_fields(session, user), body.data, form=body.form)
    prediction = create_prediction(session, values, clock.now(session))
    return JSONResponse(prediction_json(prediction), status_code=201)


@router.get(ONE, summary="Get prediction details")
def get_prediction(id: int, user: CurrentUserDep, session: SessionDep) -> JSONResponse:  # noqa: A002
    """Get details about a specific prediction by its ID."""
    return JSONResponse(prediction_json(own_prediction(session, user, id)))


def _change(
    id: int,  # noqa: A002
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
    partial: bool,
) -> JSONResponse:
    own_prediction(session, user, id)
    values = validate(prediction_fields(session, user, partial), body.data, form=body.form)
    prediction = update_prediction(session, user, id, values, clock.now(session))
    return JSONResponse(prediction_json(prediction))


@router.patch(ONE, summary="Update prediction")
def patch_prediction(
    id: int,  # noqa: A002
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Update prediction data by prediction ID."""
    return _change(id, user, body, session, clock, partial=True)


@router.put(ONE, summary="Update prediction")
def put_prediction(
    id: int,  # noqa: A002
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Overwrite prediction data by prediction ID."""
    return _change(id, user, body, session, clock, partial=False)


@router.delete(ONE, status_code=204, summary="Delete prediction")
def delete_prediction_route(id: int, user: CurrentUserDep, session: SessionDep) -> Response:  # noqa: A002
    """Delete a prediction by prediction ID."""
    delete_prediction(session, user, id)
    return Response(status_code=204)
