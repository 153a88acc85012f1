"""The console's event stream without HTTP: what each look of the poller finds changed on a
database whose clock is fixed, how events reach subscribers, and the stream's tickets."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from app.config import Settings
from app.control.events import (
    QUEUE_SIZE,
    TICKET_SECONDS,
    EventHub,
    hub_clock,
    make_ticket,
    sse,
    ticket_is_valid,
)
from app.control.journal import Journal
from app.db import make_engine, write_session
from app.lifecycle import machine
from app.lifecycle.clock import Clock
from app.lifecycle.runs import create_run
from app.lifecycle.snapshot import reset_state
from app.lookups import prompt_version
from app.main import prepare_database
from app.migrate import migrate
from app.models import ModelRun, User

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = {"queue_delay_seconds": 5, "tasks_per_second": 10, "batch_size": 10}


@pytest.fixture
def db(migrated_database_url):
    settings = Settings(database_url=migrated_database_url, **POLICY)
    engine = make_engine(settings.sqlalchemy_url())
    migrate(engine)
    clock = Clock(wall=lambda: T0)
    prepare_database(engine, settings, clock)
    yield engine, clock, settings
    engine.dispose()


def new_run(engine, clock) -> int:
    """A Pending HasGT run of prompt 1 / version 1 on project 1 (90 tasks), created at T0."""
    values = {"project": 1, "project_subset": "HasGT", "only_missing_predictions": False}
    with write_session(engine) as session:
        user = session.get(User, 1)
        prompt, version = prompt_version(session, user, 1, 1)
        return create_run(session, user, prompt, version, values, None, clock).id


def test_each_look_reports_new_runs_moved_runs_the_clock_and_a_reset(db):
    engine, clock, settings = db
    existing = new_run(engine, clock)
    hub = EventHub(lambda: engine, clock, Journal(10), 0.25)
    # The first look only takes stock: the console has listed what exists already.
    assert hub._look(first=True) == []
    assert hub._look(first=False) == []

    created = new_run(engine, clock)
    ((name, runs),) = hub._look(first=False)
    assert name == "runs" and [(r["id"], r["status"]) for r in runs] == [(created, "Pending")]
    assert (runs[0]["total_failed"], runs[0]["outcome"], runs[0]["judged_predictions"]) == (
        0, None, 0)  # fmt: skip

    # Both runs start at T0 + 5 s and make their first batch at T0 + 6 s; the clock is moved.
    with write_session(engine) as session:
        clock.set(session, T0 + timedelta(seconds=6))
    machine.settle(engine, clock, until=T0 + timedelta(seconds=6))
    events = dict(hub._look(first=False))
    assert events["clock"] == {"now": "2026-01-01T12:00:06Z", "frozen": False}
    assert [(r["id"], r["status"], r["total_predictions"]) for r in events["runs"]] == [
        (existing, "InProgress", 10), (created, "InProgress", 10)]  # fmt: skip
    assert hub._look(first=False) == []

    # A run that ends is reported once more (with its final values), then no longer looked at.
    with write_session(engine) as session:
        machine.cancel(session, session.get(ModelRun, created), T0 + timedelta(seconds=6))
    ((name, runs),) = hub._look(first=False)
    assert name == "runs" and [(r["id"], r["status"]) for r in runs] == [(created, "Canceled")]
    assert list(hub.seen.runs) == [existing]
    assert hub._look(first=False) == []

    # Runs vanish (a reset, or an import): the console is told to reload its lists; the reset
    # also puts the clock back on wall time.
    reset_state(engine, settings, clock)
    assert hub._look(first=False) == [
        ("reset", {}), ("clock", {"now": "2026-01-01T12:00:00Z", "frozen": False})]  # fmt: skip
    assert (hub.seen.count, hub.seen.max_id, hub.seen.runs) == (0, 0, {})
    again = new_run(engine, clock)
    ((name, runs),) = hub._look(first=False)
    assert name == "runs" and [r["id"] for r in runs] == [again]

    # Freezing the clock is a change of the clock, though the instant stays.
    with write_session(engine) as session:
        clock.freeze(session)
    assert hub._look(first=False) == [("clock", {"now": "2026-01-01T12:00:00Z", "frozen": True})]
    with Session(engine) as session:
        assert hub_clock(clock, session) == {"now": "2026-01-01T12:00:00Z", "frozen": True}


def test_requests_since_the_last_look_are_pushed_newest_last():
    journal = Journal(3)
    hub = EventHub(lambda: None, Clock(wall=lambda: T0), journal, 0.25)  # type: ignore[arg-type, return-value]

    async def scenario() -> list[tuple[str, str] | None]:
        subscriber = hub.subscribe()
        hub.task.cancel()  # the poller is not needed: the journal is read by hand
        hub._journal()
        for n in range(1, 6):
            journal.add({"n": n})
        hub._journal()
        hub._journal()  # nothing new
        journal.add({"n": 6})
        hub._journal()
        received = []
        while not subscriber.queue.empty():
            received.append(subscriber.queue.get_nowait())
        return received

    # Five requests, of which the journal keeps the last three; then one more.
    assert asyncio.run(scenario()) == [
        ("requests", '[{"n":3},{"n":4},{"n":5}]'),
        ("requests", '[{"n":6}]'),
    ]


def test_a_subscriber_that_falls_behind_is_dropped_and_told_so():
    hub = EventHub(lambda: None, Clock(wall=lambda: T0), Journal(10), 0.25)  # type: ignore[arg-type, return-value]

    async def scenario() -> None:
        slow, quick = hub.subscribe(), hub.subscribe()
        poller = hub.task
        assert poller is not None and len(hub.subscribers) == 2
        hub.unsubscribe(quick)
        assert hub.task is poller  # still one subscriber: the poller goes on
        for n in range(QUEUE_SIZE):
            hub.publish("runs", {"n": n})
        assert not slow.dropped and slow.queue.qsize() == QUEUE_SIZE
        assert slow.queue.get_nowait() == ("runs", '{"n":0}')
        hub.publish("runs", {"n": QUEUE_SIZE})
        hub.publish("runs", {"n": QUEUE_SIZE + 1})  # one more than the queue holds
        assert slow.dropped and hub.subscribers == set()
        # Its queue is emptied and ends with the end-of-stream mark.
        assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None
        hub.unsubscribe(slow)
        assert hub.task is None
        await asyncio.sleep(0)
        assert poller.cancelled() or poller.done()

    asyncio.run(scenario())


def test_closing_the_hub_ends_every_stream():
    hub = EventHub(lambda: None, Clock(wall=lambda: T0), Journal(10), 0.25)  # type: ignore[arg-type, return-value]

    async def scenario() -> None:
        first, second = hub.subscribe(), hub.subscribe()
        hub.publish("clock", {"frozen": True})
        await hub.close()
        assert hub.task is None and hub.subscribers == set()
        for subscriber in (first, second):
            assert subscriber.dropped and subscriber.queue.get_nowait() is None

    asyncio.run(scenario())


def test_a_ticket_is_valid_until_it_expires_and_only_with_its_token():
    ticket = make_ticket("secret", now=1_000.5)
    expires, _, signature = ticket.partition(".")
    assert expires == str(1_000 + TICKET_SECONDS) and len(signature) == 64
    assert ticket_is_valid("secret", ticket, now=1_000 + TICKET_SECONDS)
    assert not ticket_is_valid("secret", ticket, now=1_000 + TICKET_SECONDS + 0.001)
    assert not ticket_is_valid("other", ticket, now=1_000)
    assert make_ticket("other", now=1_000.5) != ticket


@pytest.mark.parametrize(
    "ticket",
    ["", "1060", "1060.", ".abc", "-1060.abc", "10 60.abc", "1060000000000.abc"],
)
def test_a_malformed_ticket_is_refused(ticket):
    assert not ticket_is_valid("secret", ticket, now=1_000)


def test_a_ticket_with_a_far_expiry_is_refused_only_past_twelve_digits():
    # An expiry of twelve digits is read and checked; thirteen are refused unread.
    signed = make_ticket("secret", now=999_999_999_999 - TICKET_SECONDS)
    assert ticket_is_valid("secret", signed, now=1_000)
    assert not ticket_is_valid("secret", "1" + signed, now=1_000)


def test_an_event_is_sent_as_its_name_and_one_line_of_data():
    data = json.dumps({"a": 1}, separators=(",", ":"))
    assert sse("runs", data) == b'event: runs\ndata: {"a":1}\n\n'
