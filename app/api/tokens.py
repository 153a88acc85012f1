"""Personal access tokens: refresh JWTs created by a user, exchanged for short-lived access JWTs,
revoked and rotated."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.deps import (
    BodyDep,
    CurrentUserDep,
    PublicBodyDep,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
)
from app.render import iso
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.validation import CharField, Field, validate
from app.workspace.tokens import (
    blacklist_token,
    create_token,
    live_tokens,
    refresh_access,
    rotate_token,
    truncated,
)

router = APIRouter(route_class=DeferredRoute, tags=["JWT"], default_response_class=JSONResponse)
REFRESH: dict[str, Field] = {"refresh": CharField(required=True)}


def _shown(token: str, created_at: str | None, expires_at: str | None) -> dict[str, str | None]:
    return {"token": token, "created_at": created_at, "expires_at": expires_at}


@router.get("/api/token/", summary="List API tokens")
def list_tokens(
    user: CurrentUserDep, session: SessionDep, ordering: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """List all API tokens for the current user."""
    return JSONResponse(
        [
            _shown(truncated(t.token), iso(t.created_at), iso(t.expires_at))
            for t in live_tokens(session, user, ordering)
        ]
    )


@router.post("/api/token/", status_code=201, summary="Create API token")
def create_api_token(
    user: CurrentUserDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Create a new API token for the current user."""
    record = create_token(session, user, timedelta(days=settings.refresh_token_days))
    return JSONResponse(
        _shown(record.token, iso(record.created_at), iso(record.expires_at)), status_code=201
    )


@router.post("/api/token/refresh/", summary="Refresh JWT token")
def refresh_token(body: PublicBodyDep, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """Get a new access token, using a refresh token."""
    values = validate(REFRESH, body.data, form=body.form)
    lifetime = timedelta(seconds=settings.access_token_seconds)
    return JSONResponse({"access": refresh_access(session, values["refresh"], lifetime)})


@router.post("/api/token/blacklist/", status_code=204, summary="Blacklist a JWT refresh token")
def blacklist(body: PublicBodyDep, session: WriteSessionDep) -> Response:
    """Adds a JWT refresh token to the blacklist, preventing it from being used to obtain new
    access tokens."""
    values = validate(REFRESH, body.data, form=body.form)
    blacklist_token(session, values["refresh"])
    return Response(status_code=204)


@router.post("/api/token/rotate/", summary="Rotate JWT refresh token")
def rotate(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Creates a new JWT refresh token and blacklists the current one."""
    values = validate(REFRESH, body.data, form=body.form)
    record = rotate_token(
        session, user, values["refresh"], timedelta(days=settings.refresh_token_days)
    )
    return JSONResponse({"refresh": record.token})
