"""The current user and the server's version."""

from fastapi import APIRouter

from app.deps import ClockDep, CurrentUserDep, SessionDep, SettingsDep
from app.models import Organization
from app.render import version, whoami
from app.responses import JSONResponse

router = APIRouter(tags=["Users"])


@router.get("/api/current-user/whoami", summary="Retrieve my user")
def current_user_whoami(user: CurrentUserDep, session: SessionDep, clock: ClockDep) -> JSONResponse:
    """Retrieve details of the account that you are using to access the API."""
    organization = session.get(Organization, user.organization_id)
    title = organization.title if organization is not None else ""
    return JSONResponse(whoami(user, title, clock.now(session)))


@router.get("/api/version/", tags=["Versions"], summary="Get version information")
def get_version(settings: SettingsDep) -> JSONResponse:
    """Get version information about the Label Studio instance (no authentication needed, as
    the contract allows)."""
    return JSONResponse(version(settings.server_version))
