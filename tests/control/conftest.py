"""A private emulator per test module, reset to its boot state before each test.

These tests move the virtual clock and replace the data, so they never share the session's
server. tests/control is a package so that this conftest does not shadow the root one, whose
helpers it imports.
"""

from collections.abc import Iterator

import httpx
import pytest
from conftest import BACKENDS, Emulator, running_emulator


@pytest.fixture(scope="module", params=BACKENDS)
def emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator]:
    """One in-process server per module and backend, with the FAST settings of the root conftest."""
    directory = tmp_path_factory.mktemp(f"control-{request.param}")
    with running_emulator(request.param, directory, local=True) as e:
        yield e


@pytest.fixture(scope="module")
def boot_export(emulator: Emulator) -> dict:
    """The whole state as the server booted it, taken before any test touched it."""
    with emulator.client(token=None) as client:
        response = client.get("/_emulator/export")
    assert response.status_code == 200, response.text
    return response.json()


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
