"""The virtual clock every API timestamp comes from.

It is wall time shifted by an offset, or a fixed instant while frozen. Its state lives in the
database so that every process serving the same database reads the same time.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlmodel import Session

from app.db import emulator_state
from app.models import utcnow

# The instants the clock may show: far enough from datetime's limits that no due time computed
# from them (queue delays, batches) overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class ClockState(Protocol):
    """What the clock is read from: the state row, as an entity or a plain row."""

    @property
    def clock_offset_seconds(self) -> float: ...

    @property
    def clock_frozen_at(self) -> datetime | None: ...


class Clock:
    """Reads and moves the virtual clock; ``wall`` is the real time source (fixed in tests)."""

    def __init__(self, wall: Callable[[], datetime] = utcnow) -> None:
        self.wall = wall

    def read(self, state: ClockState) -> datetime:
        if state.clock_frozen_at is not None:
            return state.clock_frozen_at
        return self.wall() + timedelta(seconds=state.clock_offset_seconds)

    def now(self, session: Session) -> datetime:
        return self.read(emulator_state(session))

    def frozen(self, session: Session) -> bool:
        return emulator_state(session).clock_frozen_at is not None

    def freeze(self, session: Session) -> None:
        state = emulator_state(session)
        state.clock_frozen_at = self.read(state)
        session.add(state)

    def unfreeze(self, session: Session) -> None:
        state = emulator_state(session)
        if state.clock_frozen_at is not None:
            state.clock_offset_seconds = (state.clock_frozen_at - self.wall()).total_seconds()
            state.clock_frozen_at = None
            session.add(state)

    def set(self, session: Session, instant: datetime) -> None:
        """Jump to an instant, staying frozen if frozen."""
        state = emulator_state(session)
        if state.clock_frozen_at is not None:
            state.clock_frozen_at = instant
        else:
            state.clock_offset_seconds = (instant - self.wall()).total_seconds()
        session.add(state)

    def reset(self, session: Session) -> None:
        """Back to wall time, running."""
        state = emulator_state(session)
        state.clock_frozen_at = None
        state.clock_offset_seconds = 0.0
        session.add(state)
