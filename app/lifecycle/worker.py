"""The background worker that applies due lifecycle steps; started and stopped by the lifespan."""

import asyncio
import logging

from sqlalchemy import Engine

from app.lifecycle.clock import Clock
from app.lifecycle.machine import settle
from app.models import utcnow
from app.observability import Metrics

log = logging.getLogger("lse_emulator.worker")


class Worker:
    def __init__(
        self, engine: Engine, clock: Clock, interval: float, metrics: Metrics | None = None
    ) -> None:
        self.engine = engine
        self.metrics = metrics
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

    def _observe(self, lag: float, made: int, failed: int) -> None:
        if self.metrics is not None:
            self.metrics.lag.observe(max(lag, 0.0))
            self.metrics.predictions.labels("success").inc(made)
            self.metrics.predictions.labels("failure").inc(failed)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(
                    settle, self.engine, self.clock, None, self._stopping.is_set, self._observe
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
