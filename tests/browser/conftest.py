"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright against a real
server process. Playwright never downloads a browser here. Without Chromium the tests are
skipped with the reason on a developer's machine and fail when CI is set."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST, Emulator

CHROMIUM = Path("/usr/bin/chromium")


# Module-scoped: Playwright's sync API keeps an event loop running in the thread until it
# stops, which would keep later tests of the same process from running their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = Emulator(tmp_path_factory.mktemp("browser"), dict(FAST)).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(shared_emulator: Emulator) -> Emulator:
    """The demo data as at boot, the clock frozen so that tests move it."""
    with shared_emulator.client(token=None) as control:
        control.post("/_emulator/reset").raise_for_status()
        control.post("/_emulator/clock", json={"freeze": True}).raise_for_status()
    return shared_emulator


@pytest.fixture
def page(browser, emulator: Emulator) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
