"""Fixtures: a real emulator server process, started the way the README shows."""

import atexit
import fcntl
import functools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
import yaml
from sqlalchemy import Engine, text

from app.config import Settings
from app.db import make_engine
from app.lifecycle.clock import Clock
from app.main import create_app
from app.migrate import migrate

ADA_TOKEN = "acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # demo seed, organization 1
HANK_TOKEN = "globex-hank-f9e8d7c6b5a4938271605f4e3d2c1b0a"  # demo seed, organization 2
# The console script installed beside this interpreter, as an activated virtualenv would find it.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


POSTGRES = os.environ.get("LSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
# Every storage test runs on each backend named here; LSE_TEST_BACKENDS=sqlite narrows the run
# to SQLite (the mutation run does, so that each mutant's tests run once, not twice).
BACKENDS = os.environ.get("LSE_TEST_BACKENDS", "sqlite,postgresql").split(",")
assert set(BACKENDS) <= {"sqlite", "postgresql"}, f"LSE_TEST_BACKENDS={BACKENDS} names no backend"

# Fixtures that start a real server process: a test that asks for one belongs to the
# end-to-end tier, which runs the installed code and so is out of reach of mutants.
PROCESS_FIXTURES = {"start_emulator", "lse_url"}

# One TLS context for every test's HTTP client: httpx builds one per client otherwise, loading
# the CA bundle each time (a tenth of the in-process tier's time), for servers on plain HTTP.
TLS = ssl.create_default_context()


# The files whose tests take longest (seconds each, mostly waiting on server processes), or
# whose one test is long (the schemathesis sweep of every operation): run first, so that the
# two xdist workers share them and neither is left with one of them at the end.
LONG_FIRST = (
    "tests/fuzz/test_schemathesis.py",
    "tests/production/",
    "tests/test_e2e_results.py",
    "tests/test_e2e_faults.py",
)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start a server process, so that `-m "not process"` leaves them out,
    and put the longest ones first (otherwise in the order pytest chose)."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))


@functools.cache
def contract_document() -> dict:
    """Label Studio's definition (app/contract/openapi.yaml), parsed once per test process and
    by libyaml (the pure-Python parser takes a second for it): read it, never change it."""
    text = (Path(__file__).parents[1] / "app/contract/openapi.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def postgres_problem() -> str | None:
    """Why no PostgreSQL server can be used for the tests, or None when one answers."""
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]
    return None


@functools.cache
def sqlite_schema() -> Path:
    """An SQLite file with the newest revision's schema, made once per test process: a copy
    of it is a migrated database, without Alembic's cost each time."""
    directory = Path(tempfile.mkdtemp(prefix="lse-test-schema-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "schema.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection out checkpoints the WAL: the file is the database
    return path


def copy_sqlite_schema(path: Path) -> None:
    """Put a migrated, still empty database at ``path`` (left alone if one is there)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_schema(), path)


def sqlite_file(data_dir: Path) -> Path:
    """The database file a server with this data directory uses by default."""
    return Path(Settings(data_dir=data_dir).sqlalchemy_url().removeprefix("sqlite:///"))


def _admin(sql: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(sql)


def _drop_postgres(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@functools.cache
def postgres_schema() -> str:
    """A PostgreSQL database with the newest revision's schema, made once per test process
    (each xdist worker has its own) and dropped at its exit: the template of migrated ones."""
    name = f"lse_test_schema_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    atexit.register(_drop_postgres, name)
    engine = make_engine(f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/{name}")
    migrate(engine)
    engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template without connections
    return name


def other_holds_the_startup_lock(engine: Engine) -> bool:
    """Whether another process starting on this database would have to wait."""
    if engine.dialect.name == "sqlite":
        with open(f"{engine.url.database}.lock", "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            return False
    with engine.connect() as connection:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(7243001)")).scalar()
        if taken:
            connection.execute(text("SELECT pg_advisory_unlock(7243001)"))
        return not taken


@contextmanager
def postgres_database(schema: bool = False) -> Iterator[str]:
    """A freshly created PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL.
    Empty, or with ``schema`` a copy of the migrated template. Without a reachable server the
    test is skipped on a developer's machine, and fails in CI."""
    problem = postgres_problem()
    if problem is not None:
        reason = f"PostgreSQL at {POSTGRES} (LSE_TEST_POSTGRES) is not reachable: {problem}"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    name = f"lse_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{postgres_schema()}"' if schema else ""
    _admin(f'CREATE DATABASE "{name}"{template}')
    try:
        yield f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    finally:
        _drop_postgres(name)


def end_postgres_connections(url: str) -> None:
    """End every other connection to the database at ``url`` and wait until those are gone: what
    a restart of PostgreSQL does to a server's connections. Only the connections ended are
    waited for: the server may open new ones meanwhile (its worker reads ten times a second),
    which a wait for no connection at all would wait on for ever."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as admin:
        ended = [
            pid
            for pid, _ in admin.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
        while admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (ended,)
        ).fetchone():
            time.sleep(0.01)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: an SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emulator.sqlite3'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend with the newest revision's schema and no rows, for the
    tests of what comes after the migrations."""
    if request.param == "sqlite":
        copy_sqlite_schema(tmp_path / "emulator.sqlite3")
        yield f"sqlite:///{tmp_path / 'emulator.sqlite3'}"
    else:
        with postgres_database(schema=True) as url:
            yield url


class Emulator:
    """A running `lse-emulator serve` process on a free port."""

    def __init__(self, data_dir: Path, settings: dict[str, object]) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "Emulator":
        ready = self.data_dir / "ready"
        ready.unlink(missing_ok=True)
        env = {**os.environ, "LSE_EMULATOR_DATA_DIR": str(self.data_dir)}
        env.update({f"LSE_EMULATOR_{k.upper()}": str(v) for k, v in self.settings.items()})
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["lse-emulator", "serve", "--port", "0", "--ready-file", str(ready)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"emulator did not start:\n{self.log.read_text()}")
            time.sleep(0.02)
        self.url = ready.read_text().strip()
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def client(self, token: str | None = ADA_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=TLS)


class LocalEmulator(Emulator):
    """``create_app(...)`` served by uvicorn on a thread of the test process: the in-process
    tier. A server-side traceback lands in pytest's output, the code under test is the code
    pytest imported, and ``clock`` injects the wall time the virtual clock starts from."""

    def __init__(self, data_dir: Path, settings: dict[str, object], clock: Clock | None = None):
        super().__init__(data_dir, settings)
        self.clock = clock
        # The whole state as the server booted, before any test touched it (set by its fixture).
        self.boot_export: dict | None = None
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> "LocalEmulator":
        app = create_app(Settings(data_dir=self.data_dir, **self.settings), self.clock)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.bind(("127.0.0.1", 0))
        # Given as a factory, as `serve` does: uvicorn calls the object it is given with no
        # arguments to tell a factory from an app, which a mutation run's wrapped app passes.
        config = uvicorn.Config(
            lambda: app,
            factory=True,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [listener]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the in-process emulator did not start (its error is logged above)")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        return self

    def stop(self, kill: bool = False) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=30)
        self.server = self.thread = None


FAST = {"queue_delay_seconds": 0.2, "tasks_per_second": 2000, "batch_size": 25}


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator:
    """Start emulators with given settings; all are stopped after the test."""
    started: list[Emulator] = []

    def start(data_dir: Path | None = None, **settings: object) -> Emulator:
        directory = data_dir or tmp_path / f"emulator-{len(started)}"
        directory.mkdir(parents=True, exist_ok=True)
        emulator = Emulator(directory, {**FAST, **settings}).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@contextmanager
def running_emulator(backend: str, data_dir: Path, local: bool = False) -> Iterator[Emulator]:
    """An emulator with the demo data and the FAST settings on a backend's fresh database (a
    copy of the migrated schema): a server process, or with ``local`` the app served in the
    test process."""
    with postgres_database(schema=True) if backend == "postgresql" else nullcontext() as url:
        if url is None:
            copy_sqlite_schema(sqlite_file(data_dir))
        settings = {**FAST, "database_url": url} if url else dict(FAST)
        emulator = (LocalEmulator if local else Emulator)(data_dir, settings).start()
        try:
            yield emulator
        finally:
            emulator.stop()


def reset(emulator: Emulator) -> None:
    """Back to the boot state (the demo data, the clock on wall time, the settings' policy)."""
    with emulator.client(token=None) as control:
        response = control.post("/_emulator/reset")
        assert response.json() == {"detail": "Emulator reset to its boot state."}


@pytest.fixture(scope="session", params=BACKENDS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator]:
    """One emulator process with the demo data per backend, for the whole session."""
    with running_emulator(request.param, tmp_path_factory.mktemp(f"shared-{request.param}")) as e:
        yield e


@pytest.fixture(scope="module")
def server(shared_server: Emulator) -> Emulator:
    """The shared emulator process, reset before the module's first test: a module finds it as
    a server of its own would be; its tests then only add runs, or reset it themselves."""
    reset(shared_server)
    return shared_server


@pytest.fixture(scope="session", params=BACKENDS)
def local_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalEmulator]:
    """One in-process emulator with the demo data per backend, for the whole session: the
    in-process tier's modules share it and reset it (tests/api and tests/control)."""
    directory = tmp_path_factory.mktemp(f"local-{request.param}")
    with running_emulator(request.param, directory, local=True) as emulator:
        assert isinstance(emulator, LocalEmulator)
        with emulator.client(token=None) as control:
            response = control.get("/_emulator/export")
        assert response.status_code == 200, response.text
        emulator.boot_export = response.json()
        yield emulator


@pytest.fixture
def api(server: Emulator) -> Iterator[httpx.Client]:
    """An HTTP client of the shared emulator, authenticated as Ada (organization 1)."""
    with server.client() as client:
        yield client


# The fixture the README shows, verbatim.
@pytest.fixture(scope="session")
def lse_url(tmp_path_factory):
    data = tmp_path_factory.mktemp("lse")
    args = ["--port", "0", "--data-dir", str(data), "--ready-file", str(data / "url")]
    proc = subprocess.Popen(["lse-emulator", "serve", *args, "--queue-delay-seconds", "0"])
    deadline = time.monotonic() + 30
    while not (data / "url").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "lse-emulator did not start"
        time.sleep(0.05)
    yield (data / "url").read_text().strip()
    proc.terminate()
    proc.wait()
