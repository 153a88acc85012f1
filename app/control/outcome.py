"""The outcome a run's creator may force with the X-Emulator-Outcome header."""

from fastapi import Request

from app.errors import APIError

HEADER = "X-Emulator-Outcome"
OUTCOMES = ("Completed", "Failed", "Stuck")


def requested_outcome(request: Request) -> str | None:
    """The forced outcome of a run being created, or None to let the policy decide."""
    value = request.headers.get(HEADER)
    if value is None or not request.app.state.settings.control_enabled:
        return None
    if value.strip() not in OUTCOMES:
        raise APIError(400, f'Unknown {HEADER} "{value}": use one of {", ".join(OUTCOMES)}.')
    return value.strip()
