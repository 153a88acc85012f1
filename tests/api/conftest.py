"""The API contract tests run in-process: the shared server of this package is the app served
on a thread of the test process. tests/api is a package so that this conftest does not shadow
the root one, whose helpers it imports."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Emulator, LocalEmulator, reset
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool


@pytest.fixture(scope="module")
def server(local_server: LocalEmulator) -> Emulator:
    """The session's in-process emulator of the backend, reset before the module's first test,
    so that the module finds the demo data as a server of its own would have it."""
    reset(local_server)
    return local_server


@pytest.fixture
def fresh_state(server: Emulator) -> Iterator[None]:
    """For tests that change the workspace: the demo data before, and again after, so that the
    tests sharing the server see it as they expect."""
    with server.client(token=None) as control:
        control.post("/_emulator/reset").raise_for_status()
        yield
        control.post("/_emulator/reset").raise_for_status()


@pytest.fixture
def frozen_clock(server: Emulator, fresh_state: None) -> None:
    """The clock stopped (after the reset of ``fresh_state``, which restarts it afterwards): a
    run stays as created until the test moves it, however slowly the machine answers."""
    with server.client(token=None) as control:
        control.post("/_emulator/clock", json={"freeze": True}).raise_for_status()


class Statements:
    """The statements run in the test process, with the thread each ran in, and the pool
    checkouts of each thread."""

    def __init__(self) -> None:
        self.ran: list[tuple[int, str]] = []
        self.checkouts: list[int] = []

    def executed(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.ran.append((threading.get_ident(), statement))

    def checked_out(self, *_: Any) -> None:
        self.checkouts.append(threading.get_ident())


@pytest.fixture
def statements() -> Iterator[Statements]:
    seen = Statements()
    event.listen(Engine, "before_cursor_execute", seen.executed)
    event.listen(Pool, "checkout", seen.checked_out)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", seen.executed)
        event.remove(Pool, "checkout", seen.checked_out)
