"""The current user and the server's version."""

from fastapi import APIRouter
from sqlalchemy import bindparam
from sqlmodel import col, select

from app.db import clock_and_policy
from app.deps import ClockDep, CurrentUserDep, SessionDep, SettingsDep, reading
from app.models import Organization
from app.render import version, whoami
from app.responses import JSONResponse

router = APIRouter(tags=["Users"])
_TITLE = select(col(Organization.title)).where(col(Organization.id) == bindparam("id"))


@router.get("/api/current-user/whoami", summary="Retrieve my user")
async def current_user_whoami(
    user: CurrentUserDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Retrieve details of the account that you are using to access the API."""

    def read() -> JSONResponse:
        # Plain rows: the organization's title and the clock, not their entities.
        title = session.connection().execute(_TITLE, {"id": user.organization_id}).scalar()
        return JSONResponse(whoami(user, title or "", clock.read(clock_and_policy(session))))

    return await reading(session, read)


@router.get("/api/version/", tags=["Versions"], summary="Get version information")
def get_version(settings: SettingsDep) -> JSONResponse:
    """Get version information about the Label Studio instance (no authentication needed, as
    the contract allows)."""
    return JSONResponse(version(settings.server_version))
