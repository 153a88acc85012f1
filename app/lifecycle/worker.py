"""The background worker that applies due lifecycle steps; started and stopped by the lifespan."""

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from app.lifecycle.clock import Clock
from app.lifecycle.machine import settle
from app.models import utcnow

log = logging.getLogger("lse_emulator.worker")


class Worker:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        interval: float,
        observe: Callable[[float, int, int], None] | None = None,
    ) -> None:
        self.engine = engine
        # Told of each step: how late it ran, predictions made and failed (for the metrics).
        self.observe = observe
        self.clock = clock
        self.interval = interval
        self.last_error: str | None = None
        self.last_tick = utcnow()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lifecycle-worker")

    async def stop(self) -> None:
        """Stop between steps: the step under way finishes and commits first."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(
                    settle, self.engine, self.clock, None, self._stopping.is_set, self.observe
                )
                self.last_error = None
            except Exception as error:  # the worker survives a failing step and retries it
                self.last_error = repr(error)
                log.exception("lifecycle step failed")
            self.last_tick = utcnow()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass
