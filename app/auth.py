"""Authentication as Label Studio does it: legacy ``Token <key>`` or ``Bearer <access JWT>``,
also given as ``X-Api-Key: <key>``."""

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import jwt
from sqlalchemy import Connection, Engine, bindparam, select
from sqlmodel import Session

from app.db import emulator_state, single_read
from app.errors import unauthorized
from app.models import EmulatorState, Organization, User, table_of, utcnow

NOT_PROVIDED = "Authentication credentials were not provided."
LEGACY_DISABLED = (
    "Authentication token no longer valid: "
    "legacy token authentication has been disabled for this organization"
)
ALGORITHM = "HS256"


def make_jwt(
    secret: str, user_id: int, token_type: str, lifetime: timedelta
) -> tuple[str, dict[str, Any]]:
    """Sign a token with the claims Label Studio's tokens carry; answers (token, claims)."""
    # Real time, not the virtual clock: the client checks expiry against its own clock.
    issued = utcnow()
    claims = {
        "token_type": token_type,
        "exp": int((issued + lifetime).timestamp()),
        "iat": int(issued.timestamp()),
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), claims


def read_jwt(secret: str, token: str) -> dict[str, Any]:
    """Verified claims of a token; raises jwt.ExpiredSignatureError or jwt.InvalidTokenError."""
    return jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "token_type", "jti"]}
    )


def claims_time(claims: dict[str, Any], key: str) -> datetime:
    return datetime.fromtimestamp(claims[key], tz=utcnow().tzinfo)


def header_parts(header: str | None) -> list[bytes]:
    """An Authorization header split as DRF and simplejwt split it: its latin-1 bytes, on ASCII
    whitespace only (a no-break space or NEL is part of a word, not a separator)."""
    return (header or "").encode("latin-1").split()


def authorization_header(authorization: str | None, x_api_key: str | None) -> str | None:
    """The Authorization header authentication reads. As Label Studio's XApiKeySupportMiddleware
    does, an X-Api-Key header supersedes it: ``Token <key>``, or ``Bearer <key>`` when the key
    is formatted as a JWT (an access token, which is what the SDK sends in it)."""
    if x_api_key is None:
        return authorization
    keyword = "Bearer" if _jwt_formatted(x_api_key) else "Token"
    return f"{keyword} {x_api_key}"


def _jwt_formatted(token: str) -> bool:
    """Whether a key is structured as a JWT, its signature and claims unchecked."""
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return True


def authenticate(session: Session, header: str | None, known: "TokenLookup | None" = None) -> User:
    """The user behind an Authorization header, or the 401 Label Studio answers. ``known``:
    what a legacy key found when it was looked up earlier in the same request."""
    parts = header_parts(header)
    if not parts:
        raise unauthorized(NOT_PROVIDED)
    keyword = parts[0].lower()
    if keyword == b"token":
        return legacy_user(session.get_bind(), parts, known)
    if keyword == b"bearer" and len(parts) == 2:
        user = _jwt_user(session, emulator_state(session).secret_key, parts[1])
        if user is not None:
            return user
    raise unauthorized(NOT_PROVIDED)


_USERS = table_of(User)
_ORGANIZATIONS = table_of(Organization)
# What a legacy key needs: its user and whether the user's organization still accepts legacy
# tokens, in one statement compiled once.
TOKEN_USERS = _USERS.join(_ORGANIZATIONS, _ORGANIZATIONS.c.id == _USERS.c.organization_id)
TOKEN_COLUMNS = (*_USERS.c, _ORGANIZATIONS.c.legacy_api_tokens_enabled)
TOKEN_MATCHES = _USERS.c.token == bindparam("key")
_BY_TOKEN = select(*TOKEN_COLUMNS).select_from(TOKEN_USERS).where(TOKEN_MATCHES)
_USER_FIELDS = tuple(_USERS.c.keys())
_STATE = table_of(EmulatorState)
# What whoami answers besides the user, the organization's title and the clock: read with the
# key before the route (app.control.faults), so that whoami needs no read of its own.
WHOAMI_COLUMNS = (
    _ORGANIZATIONS.c.title.label("organization_title"),
    *(
        select(column).where(_STATE.c.id == 1).scalar_subquery().label(column.name)
        for column in (_STATE.c.clock_offset_seconds, _STATE.c.clock_frozen_at)
    ),
)


# The request-state key of what the request's legacy key found, when it was looked up before
# authentication (a TokenLookup).
TOKEN_LOOKUP = "token_lookup"


@dataclass(frozen=True)
class TokenLookup:
    """The row (TOKEN_COLUMNS) a legacy key found, None if no user has it: SQLAlchemy's, or the
    driver's named tuple (the edge reads on the event loop, app.control.faults.EdgeBatch)."""

    key: str
    row: Any

    @cached_property
    def user(self) -> User:
        """The row's user, built once (a third of authentication's cost), shared by the requests
        that reuse this lookup: no request changes its user, and a User has no relationships
        through which a session could reach it."""
        assert self.row is not None  # only asked of a key that found a user
        return User(**{name: getattr(self.row, name) for name in _USER_FIELDS})


def legacy_key(header: str | None) -> str | None:
    """The key of a well-formed ``Token <key>`` header; None for any other header."""
    parts = header_parts(header)
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        return None


def legacy_user(bind: Engine | Connection, parts: list[bytes], known: TokenLookup | None) -> User:
    """The user of a ``Token <key>`` header split by header_parts, or the 401 Label Studio
    answers; read through ``bind`` unless ``known`` has the key."""
    if len(parts) == 1:
        raise unauthorized("Invalid token header. No credentials provided.")
    if len(parts) > 2:
        raise unauthorized("Invalid token header. Token string should not contain spaces.")
    try:
        key = parts[1].decode()
    except UnicodeDecodeError:
        raise unauthorized(
            "Invalid token header. Token string should not contain invalid characters."
        ) from None
    if known is None or known.key != key:
        # A plain row rather than an ORM entity (a fifth of the cost): the user is only read.
        with single_read(bind) as connection:
            known = TokenLookup(key, connection.execute(_BY_TOKEN, {"key": key}).first())
    found = known.row
    if found is None or not hmac.compare_digest(found.token.encode(), key.encode()):
        raise unauthorized("Invalid token.")
    if not found.legacy_api_tokens_enabled:
        raise unauthorized(LEGACY_DISABLED)
    return known.user


def _jwt_user(session: Session, secret: str, token: bytes) -> User | None:
    try:
        claims = read_jwt(secret, token.decode())
    except (UnicodeDecodeError, jwt.InvalidTokenError):
        return None
    if claims.get("token_type") != "access":
        return None
    try:
        return session.get(User, int(claims["user_id"]))
    except (KeyError, TypeError, ValueError):
        return None
