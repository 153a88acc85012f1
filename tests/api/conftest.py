"""The API contract tests run in-process: the shared server of this package is the app served
on a thread of the test process. tests/api is a package so that this conftest does not shadow
the root one, whose helpers it imports."""

from collections.abc import Iterator

import pytest
from conftest import Emulator, LocalEmulator, reset


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
