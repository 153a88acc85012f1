"""Personal access tokens: refresh JWTs created by a user, exchanged for short-lived access JWTs."""

from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from app.auth import claims_time, make_jwt, read_jwt
from app.db import emulator_state
from app.deps import CurrentUserDep, PublicBodyDep, SessionDep
from app.errors import APIError
from app.lookups import ordering_terms
from app.models import AccessToken, User, utcnow
from app.render import iso
from app.validation import CharField, validate

router = APIRouter(tags=["JWT"])
ORDERING: dict[str, Mapped[Any]] = {
    "created_at": col(AccessToken.created_at),
    "expires_at": col(AccessToken.expires_at),
}


def _shown(token: AccessToken) -> dict[str, str | None]:
    return {
        "token": token.token,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
    }


@router.get("/api/token/", summary="List API tokens")
def list_tokens(
    user: CurrentUserDep, session: SessionDep, ordering: Annotated[str | None, Query()] = None
) -> JSONResponse:
    """List all API tokens for the current user."""
    tokens = session.exec(
        select(AccessToken)
        .where(AccessToken.user_id == user.id)
        .order_by(*ordering_terms(ordering, ORDERING), col(AccessToken.id))
    )
    return JSONResponse([_shown(token) for token in tokens])


@router.post(
    "/api/token/",
    status_code=201,
    summary="Create API token",
)
def create_token(request: Request, user: CurrentUserDep, session: SessionDep) -> JSONResponse:
    """Create a new API token for the current user."""
    valid = session.exec(
        select(AccessToken).where(AccessToken.user_id == user.id, AccessToken.expires_at > utcnow())
    ).first()
    if valid is not None:
        raise APIError(
            409, "You already have a valid token. Please revoke it before creating a new one."
        )
    settings = request.app.state.settings
    token, claims = make_jwt(
        emulator_state(session).secret_key,
        user.id,
        "refresh",
        timedelta(days=settings.refresh_token_days),
    )
    record = AccessToken(
        user_id=user.id,
        jti=claims["jti"],
        token=token,
        created_at=claims_time(claims, "iat"),
        expires_at=claims_time(claims, "exp"),
    )
    session.add(record)
    session.commit()
    return JSONResponse(_shown(record), status_code=201)


def _refresh_error(detail: str) -> APIError:
    return APIError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


@router.post(
    "/api/token/refresh/",
    summary="Refresh JWT token",
)
def refresh_token(request: Request, body: PublicBodyDep, session: SessionDep) -> JSONResponse:
    """Get a new access token, using a refresh token."""
    values = validate({"refresh": CharField(required=True)}, body.data, form=body.form)
    secret = emulator_state(session).secret_key
    try:
        claims = read_jwt(secret, values["refresh"])
    except jwt.ExpiredSignatureError:
        raise _refresh_error("Token is expired") from None
    except jwt.InvalidTokenError:
        raise _refresh_error("Token is invalid") from None
    if claims.get("token_type") != "refresh":
        raise _refresh_error("Token has wrong type")
    record = session.exec(select(AccessToken).where(AccessToken.jti == claims["jti"])).first()
    if record is None or session.get(User, record.user_id) is None:
        raise _refresh_error("Token is invalid")
    access, _ = make_jwt(
        secret,
        record.user_id,
        "access",
        timedelta(seconds=request.app.state.settings.access_token_seconds),
    )
    return JSONResponse({"access": access})
