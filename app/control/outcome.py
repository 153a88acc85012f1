"""The outcome a run's creator may force with the X-Emulator-Outcome header."""

import hmac

from fastapi import Request

from app.errors import APIError

HEADER = "X-Emulator-Outcome"
ADMIN_HEADER = "X-Emulator-Admin-Token"
OUTCOMES = ("Completed", "Failed", "Stuck")


def requested_outcome(request: Request) -> str | None:
    """The forced outcome of a run being created, or None to let the policy decide."""
    value = request.headers.get(HEADER)
    if value is None or not request.app.state.settings.control_enabled:
        return None
    # Forcing an outcome is a control-plane power: with an admin token in force, an ordinary
    # user's request must also carry it.
    admin_token: str = request.app.state.admin_token
    given = request.headers.get(ADMIN_HEADER, "")
    if admin_token and not hmac.compare_digest(given.encode("latin-1"), admin_token.encode()):
        raise APIError(
            403,
            f"{HEADER} needs the control plane's admin token: send it as {ADMIN_HEADER}.",
        )
    if value.strip() not in OUTCOMES:
        raise APIError(400, f'Unknown {HEADER} "{value}": use one of {", ".join(OUTCOMES)}.')
    return value.strip()
