"""Personal access tokens (refresh JWTs) as Label Studio's jwt_auth app keeps them: created one
valid at a time, listed without their signature, revoked (blacklisted), rotated, refreshed."""

from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from app.auth import claims_time, make_jwt, read_jwt
from app.db import emulator_state
from app.errors import APIError
from app.lookups import ordering_terms
from app.models import AccessToken, User, utcnow

TOKEN_EXISTS = "You already have a valid token. Please revoke it before creating a new one."
INVALID_OR_BLACKLISTED = "Token is invalid or already blacklisted."
ORDERING: dict[str, Mapped[Any]] = {
    "created_at": col(AccessToken.created_at),
    "expires_at": col(AccessToken.expires_at),
}


def truncated(token: str) -> str:
    """A JWT's header and payload only: what the list shows (no usable token)."""
    return ".".join(token.split(".")[:2])


def live_tokens(session: Session, user: User, ordering: str | None = None) -> list[AccessToken]:
    """The user's tokens neither expired nor revoked."""
    return list(
        session.exec(
            select(AccessToken)
            .where(
                AccessToken.user_id == user.id,
                col(AccessToken.expires_at) > utcnow(),
                col(AccessToken.blacklisted_at).is_(None),
            )
            .order_by(*ordering_terms(ordering, ORDERING), col(AccessToken.id))
        )
    )


def _issue(session: Session, user_id: int, lifetime: timedelta) -> AccessToken:
    token, claims = make_jwt(emulator_state(session).secret_key, user_id, "refresh", lifetime)
    record = AccessToken(
        user_id=user_id,
        jti=claims["jti"],
        token=token,
        created_at=claims_time(claims, "iat"),
        expires_at=claims_time(claims, "exp"),
    )
    session.add(record)
    return record


def create_token(session: Session, user: User, lifetime: timedelta) -> AccessToken:
    """A new refresh token; 409 while the user holds a valid one (revoke it first)."""
    if live_tokens(session, user):
        raise APIError(409, TOKEN_EXISTS)
    record = _issue(session, user.id, lifetime)
    session.commit()
    return record


class TokenError(Exception):
    """simplejwt's TokenError: the message is simplejwt's."""


def outstanding(session: Session, token: str) -> AccessToken:
    """The stored refresh token a JWT is, checked as simplejwt's RefreshToken checks it."""
    try:
        claims: dict[str, Any] = read_jwt(emulator_state(session).secret_key, token)
    except jwt.ExpiredSignatureError:
        raise TokenError("Token is expired") from None
    except jwt.InvalidTokenError:
        raise TokenError("Token is invalid") from None
    if claims.get("token_type") != "refresh":
        raise TokenError("Token has wrong type")
    record = session.exec(select(AccessToken).where(AccessToken.jti == claims["jti"])).first()
    if record is None or session.get(User, record.user_id) is None:
        raise TokenError("Token is invalid")
    if record.blacklisted_at is not None:
        raise TokenError("Token is blacklisted")
    return record


def blacklist_token(session: Session, token: str) -> None:
    """Revoke a refresh token; 404 when it is invalid or already revoked (Label Studio's)."""
    try:
        record = outstanding(session, token)
    except TokenError:
        raise APIError(404, INVALID_OR_BLACKLISTED) from None
    record.blacklisted_at = utcnow()
    session.add(record)
    session.commit()


def rotate_token(session: Session, user: User, token: str, lifetime: timedelta) -> AccessToken:
    """Revoke one of the user's refresh tokens and issue a new one; 400 when it is invalid,
    revoked or another user's."""
    try:
        record = outstanding(session, token)
    except TokenError:
        raise APIError(400, INVALID_OR_BLACKLISTED) from None
    if record.user_id != user.id:
        raise APIError(400, INVALID_OR_BLACKLISTED)
    record.blacklisted_at = utcnow()
    session.add(record)
    new = _issue(session, user.id, lifetime)
    session.commit()
    return new


def refresh_access(session: Session, token: str, lifetime: timedelta) -> str:
    """An access token for a valid refresh token; simplejwt's 401 otherwise."""
    try:
        record = outstanding(session, token)
    except TokenError as error:
        raise APIError(
            401, str(error), headers={"WWW-Authenticate": 'Bearer realm="api"'}
        ) from None
    access, _ = make_jwt(emulator_state(session).secret_key, record.user_id, "access", lifetime)
    return access
