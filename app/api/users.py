"""The current user and the server's version."""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import bindparam, select

from app.auth import TOKEN_LOOKUP, TokenLookup
from app.db import single_read
from app.deps import CallerDep, ClockDep, EngineDep, SettingsDep
from app.models import EmulatorState, Organization, User, table_of
from app.render import version, whoami
from app.responses import JSONResponse
from app.routing import DeferredRoute

router = APIRouter(route_class=DeferredRoute, tags=["Users"], default_response_class=JSONResponse)
_STATE = table_of(EmulatorState)
_ORGANIZATIONS = table_of(Organization)
# The organization's title and the clock: one statement, so that it runs without BEGIN and
# ROLLBACK (round trips on PostgreSQL).
_TITLE_AND_CLOCK = (
    select(_ORGANIZATIONS.c.title, _STATE.c.clock_offset_seconds, _STATE.c.clock_frozen_at)
    .select_from(_STATE)
    .outerjoin(_ORGANIZATIONS, _ORGANIZATIONS.c.id == bindparam("id"))
    .where(_STATE.c.id == 1)
)


@router.get("/api/current-user/whoami", summary="Retrieve my user")
async def current_user_whoami(
    caller: CallerDep, engine: EngineDep, clock: ClockDep
) -> JSONResponse:
    """Retrieve details of the account that you are using to access the API."""
    known: TokenLookup | None = caller.request.scope["state"].get(TOKEN_LOOKUP)
    if known is not None:
        # A legacy key's read before the route read the title and the clock too (WHOAMI_COLUMNS).
        row = known.row
        return JSONResponse(whoami(caller.user, row.organization_title or "", clock.read(row)))

    def read(bind: Any, user: User) -> JSONResponse:
        with single_read(bind) as connection:
            row = connection.execute(_TITLE_AND_CLOCK, {"id": user.organization_id}).one()
        return JSONResponse(whoami(user, row.title or "", clock.read(row)))

    return await caller.read(engine, read)


@router.get("/api/version/", tags=["Versions"], summary="Get version information")
def get_version(settings: SettingsDep) -> JSONResponse:
    """Get version information about the Label Studio instance (no authentication needed, as
    the contract allows)."""
    return JSONResponse(version(settings.server_version))
