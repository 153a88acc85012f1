"""Live changes for the console, pushed as Server-Sent Events.

One poller task per process, started when the first subscriber connects and stopped when the
last one leaves, reads only what changed since its last look and fans it out to every
subscriber. It reads the database, not this process's memory, so runs moved by another replica
(or by the lifecycle worker of any process) appear too; the request journal is per process, so
the requests it sends are this process's only.

What changed is found by run id and by the run's values, never by timestamps alone: the virtual
clock can jump backwards or forwards."""

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from app.control.journal import Journal
from app.db import emulator_state, read_session
from app.lifecycle.clock import Clock
from app.models import ACTIVE_STATUSES, ModelRun, table_of
from app.render import iso
from app.workspace.overview import console_runs

log = logging.getLogger("lse_emulator")

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 512  # events a subscriber may have unread before it is dropped
TICKET_SECONDS = 60


def make_ticket(admin_token: str, now: float | None = None) -> str:
    """A ticket for the event stream: EventSource cannot send an Authorization header, so the
    console trades its admin token for this, signed with the admin token (every process and
    replica that shares the token accepts it) and valid for TICKET_SECONDS."""
    expires = int((now if now is not None else time.time()) + TICKET_SECONDS)
    return f"{expires}.{_sign(admin_token, expires)}"


def ticket_is_valid(admin_token: str, ticket: str, now: float | None = None) -> bool:
    expires_text, _, signature = ticket.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature, _sign(admin_token, expires))


def _sign(admin_token: str, expires: int) -> str:
    message = f"lse-emulator events {expires}".encode()
    return hmac.new(admin_token.encode(), message, hashlib.sha256).hexdigest()


Event = tuple[str, str]  # (event name, JSON data)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    dropped: bool = False


@dataclass
class _Seen:
    """What the last look saw."""

    max_id: int = 0
    count: int = 0
    runs: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # active runs' values
    clock: tuple[Any, ...] = ()
    policy: Any = None
    journal_added: int = 0


class EventHub:
    """Subscribers and the one poller that feeds them."""

    def __init__(
        self, engine: Callable[[], Engine], clock: Clock, journal: Journal, interval: float
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.journal = journal
        self.interval = interval
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.seen = _Seen()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        if self.task is None or self.task.done():
            self.seen = _Seen(journal_added=self.journal.added)
            self.task = asyncio.create_task(self._poll())
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers and self.task is not None:
            self.task.cancel()
            self.task = None

    async def close(self) -> None:
        for subscriber in list(self.subscribers):
            self._drop(subscriber)
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def publish(self, name: str, data: Any) -> None:
        event = (name, json.dumps(data, separators=(",", ":")))
        for subscriber in list(self.subscribers):
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A subscriber that does not keep up is dropped (its browser reconnects and
                # reloads), so that no queue grows without bound.
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        subscriber.dropped = True
        self.subscribers.discard(subscriber)
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)

    async def _poll(self) -> None:
        first = True
        while True:
            try:
                events = await run_in_threadpool(self._look, first)
                first = False
                for name, data in events:
                    self.publish(name, data)
                self._journal()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: try again at the next look
                log.exception("console events: look failed")
            if not self.subscribers:
                return
            await asyncio.sleep(self.interval)

    def _journal(self) -> None:
        added = self.journal.added
        new = added - self.seen.journal_added
        self.seen.journal_added = added
        if new > 0:
            entries = list(self.journal.entries)[: min(new, len(self.journal.entries))]
            self.publish("requests", entries[::-1])

    def _look(self, first: bool) -> list[tuple[str, Any]]:
        """The changes since the last look (none on the first, which only takes stock)."""
        seen = self.seen
        events: list[tuple[str, Any]] = []
        runs = table_of(ModelRun)
        with read_session(self.engine()) as session:
            state = emulator_state(session)
            clock = (state.clock_offset_seconds, state.clock_frozen_at)
            count, max_id = session.execute(
                select(func.count(), func.coalesce(func.max(runs.c.id), 0)).select_from(runs)
            ).one()
            if first:
                seen.max_id = max_id  # what exists already, the console has listed itself
            elif count < seen.count or max_id < seen.max_id:
                # A reset or an import: runs vanished; the console reloads its lists.
                events.append(("reset", {}))
                seen.runs.clear()
                seen.max_id = 0
            query = select(ModelRun).where(
                or_(
                    col(ModelRun.id) > seen.max_id,
                    col(ModelRun.status).in_(ACTIVE_STATUSES),
                    col(ModelRun.id).in_(list(seen.runs)),
                )
            )
            rows = session.exec(query.order_by(col(ModelRun.id))).all()
            changed = []
            active: dict[int, tuple[Any, ...]] = {}
            for run in rows:
                assert run.id is not None  # read from the database
                values = _values(run)
                if run.status in ACTIVE_STATUSES:
                    active[run.id] = values
                if seen.runs.get(run.id) != values:
                    changed.append(run)
            if changed and not first:
                events.append(("runs", console_runs(session, changed)))
            seen.runs, seen.count, seen.max_id = active, count, max(max_id, seen.max_id)
            if clock != seen.clock or state.policy != seen.policy:
                seen.clock, seen.policy = clock, state.policy
                if not first:
                    events.append(("clock", hub_clock(self.clock, session)))
        return events


def hub_clock(clock: Clock, session: Session) -> dict[str, Any]:
    """The clock as /_emulator/clock shows it."""
    return {"now": iso(clock.now(session)), "frozen": clock.frozen(session)}


def _values(run: ModelRun) -> tuple[Any, ...]:
    return (
        run.status,
        run.total_tasks,
        run.total_predictions,
        run.total_correct_predictions,
        run.total_failed,
        run.triggered_at,
        run.completed_at,
        run.predictions_updated_at,
    )


def sse(name: str, data: str) -> bytes:
    """One Server-Sent Event (the data is one line of JSON)."""
    return f"event: {name}\ndata: {data}\n\n".encode()
