"""One in-process emulator per module and backend, reset to its boot state before each test."""

from collections.abc import Iterator

import pytest
from conftest import BACKENDS

from .support import InProcess, in_process


@pytest.fixture(scope="module", params=BACKENDS)
def emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcess]:
    with in_process(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}")) as app:
        yield app


@pytest.fixture
def client(emulator: InProcess) -> InProcess:
    """The module's emulator, just reset to its boot state."""
    response = emulator.post("/_emulator/reset")
    assert response.status_code == 200, response.text
    return emulator
