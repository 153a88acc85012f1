"""The in-process server of the session, reset to its boot state before each test.

These tests move the virtual clock and replace the data, so each starts from a reset. tests/control
is a package so that this conftest does not shadow the root one, whose helpers it imports.
"""

from collections.abc import Iterator

import httpx
import pytest
from conftest import Emulator, LocalEmulator


@pytest.fixture
def emulator(local_server: LocalEmulator) -> Emulator:
    """The session's in-process server of the backend, with the FAST settings of the root
    conftest."""
    return local_server


@pytest.fixture
def boot_export(local_server: LocalEmulator) -> dict:
    """The whole state as the server booted it, taken before any test touched it."""
    assert local_server.boot_export is not None
    return local_server.boot_export


@pytest.fixture
def control(emulator: Emulator, boot_export: dict) -> Iterator[httpx.Client]:
    """A control-plane client of a server just reset to its boot state."""
    with emulator.client(token=None) as client:
        response = client.post("/_emulator/reset")
        assert response.json() == {"detail": "Emulator reset to its boot state."}
        yield client


@pytest.fixture
def ada(emulator: Emulator, control: httpx.Client) -> Iterator[httpx.Client]:
    """An API client authenticated as Ada (organization 1) of the freshly reset server."""
    with emulator.client() as client:
        yield client


@pytest.fixture
def frozen_clock(control: httpx.Client) -> None:
    """The clock stopped (after the reset): a run stays as created until the test moves it,
    however slowly the machine answers the requests in between."""
    response = control.post("/_emulator/clock", json={"freeze": True})
    assert response.status_code == 200, response.text
