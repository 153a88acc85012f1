"""The API contract tests run in-process: the shared server of this package is the app served
on a thread of the test process. tests/api is a package so that this conftest does not shadow
the root one, whose helpers it imports."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import BACKENDS, Emulator, running_emulator


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator]:
    """One in-process emulator with the demo data per backend, shared by the tests of tests/api."""
    directory = tmp_path_factory.mktemp(f"api-{request.param}")
    with running_emulator(request.param, directory, local=True) as emulator:
        yield emulator


@pytest.fixture
def fresh_state(server: Emulator) -> Iterator[None]:
    """For tests that change the workspace: the demo data before, and again after, so that the
    tests sharing the server see it as they expect."""
    with httpx.Client(base_url=server.url) as control:
        control.post("/_emulator/reset").raise_for_status()
        yield
        control.post("/_emulator/reset").raise_for_status()
