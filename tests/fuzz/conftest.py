"""One in-process emulator per backend for the session, reset to its boot state before each
module and before each test that asks for ``client``."""

from collections.abc import Iterator

import pytest
from conftest import BACKENDS

from .support import InProcess, in_process


@pytest.fixture(scope="session", params=BACKENDS)
def shared_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcess]:
    with in_process(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}")) as app:
        yield app


def reset(app: InProcess) -> InProcess:
    response = app.post("/_emulator/reset")
    assert response.status_code == 200, response.text
    return app


@pytest.fixture(scope="module")
def emulator(shared_app: InProcess) -> InProcess:
    """The session's emulator of the backend, as it booted: a module finds it as its own."""
    return reset(shared_app)


@pytest.fixture
def client(emulator: InProcess) -> InProcess:
    """The module's emulator, just reset to its boot state."""
    return reset(emulator)
