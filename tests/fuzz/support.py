"""The in-process tier: the app served through an ASGI transport, its lifespan entered, on a
fresh database of either backend; a server traceback lands in pytest's output."""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import anyio
import httpx
from conftest import ADA_TOKEN, copy_sqlite_schema, postgres_database

from app.config import Settings
from app.main import create_app

RUNS = "/api/prompts/1/versions/1/inference-runs"
AUTH = {"Authorization": f"Token {ADA_TOKEN}"}


class InProcess:
    """A synchronous HTTP client of an app running in this process, on its own event loop."""

    def __init__(self, app, portal) -> None:
        self.app = app
        self.portal = portal
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://emulator",
        )

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.portal.call(lambda: self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def assert_state_readable(self) -> None:
        """What a poisoned row would break: the export, every version's run list, the clock."""
        export = self.get("/_emulator/export")
        assert export.status_code == 200, export.text
        for version in export.json()["tables"]["prompt_version"]:
            runs = self.get(
                f"/api/prompts/{version['prompt_id']}/versions/{version['id']}/inference-runs",
                headers=AUTH,
            )
            assert runs.status_code in (200, 404), runs.text  # 404: a prompt of another org
        clock = self.post("/_emulator/clock", json={"advance_seconds": 1})
        assert clock.status_code == 200, clock.text


@contextmanager
def in_process(backend: str, tmp_path: Path) -> Iterator[InProcess]:
    """The emulator with the demo data on a fresh database (a copy of the migrated schema), its
    lifespan running."""
    with postgres_database(schema=True) if backend == "postgresql" else nullcontext() as url:
        if url is None:
            copy_sqlite_schema(tmp_path / "emulator.sqlite3")
        settings = Settings(
            data_dir=tmp_path,
            database_url=url or f"sqlite:///{tmp_path / 'emulator.sqlite3'}",
            queue_delay_seconds=0.2,
            tasks_per_second=2000,
            batch_size=25,
        )
        app = create_app(settings)
        with anyio.from_thread.start_blocking_portal() as portal:
            with portal.wrap_async_context_manager(app.router.lifespan_context(app)):
                client = InProcess(app, portal)
                try:
                    yield client
                finally:
                    portal.call(client.client.aclose)
