"""A fresh PostgreSQL database's schema and demo rows, written while the server imports.

Creating the 21 tables and 26 indexes, then inserting the demo's rows, is PostgreSQL's own work
(0.1-0.3 s), during which a start used to wait. The ``lse-emulator`` command (app.launcher)
calls ``begin`` first, before it imports anything heavy: a thread takes the start-up lock on
the database that the command line or the environment names and, on an empty database, sends
the schema script and, unless a seed file is named, the demo's rows, in one round trip and a
transaction it keeps open. Both scripts ship with the package (app/early_schema.sql,
app/early_demo.sql), held by tests to what ``create_at_head`` and the demo's loading write.
PostgreSQL does the work in its own process while this one imports. The command commits it
(``confirm``) only once its settings are valid, its socket bound, and its database URL and seed
are the ones the thread guessed; otherwise, or on any error, the transaction is rolled back and
the database is left as it was. Either way the thread then releases the start-up lock, and the
start goes on as before (app.main): it finds the schema at the newest revision and the demo
loaded, or creates, migrates or seeds the database itself, and reports any error itself. Only
PostgreSQL through psycopg, and only for ``serve``; only the driver is imported for it.
"""

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

SCHEMA = Path(__file__).with_name("early_schema.sql")
DEMO = Path(__file__).with_name("early_demo.sql")
URL_SETTING = "LSE_EMULATOR_DATABASE_URL"  # app.config's prefix and its fields
SEED_SETTING = "LSE_EMULATOR_SEED_FILE"
SCHEME = "postgresql+psycopg://"
STARTUP_LOCK = 7_243_001  # app.migrate's advisory lock key
# The tables of the connection's schema, as SQLAlchemy's inspector lists them (app.migrate).
ANY_TABLE = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
    " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
    " AND c.relkind IN ('r', 'p'))"
)


class EarlySchema:
    """The thread preparing a database, and the command's decision about its work."""

    def __init__(self, url: str, demo: bool) -> None:
        self.url = url
        self.demo = demo
        self._decided = threading.Event()
        self._commit = False
        self._thread = threading.Thread(target=self._run, name="early-schema", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def decide(self, commit: bool) -> None:
        """Commit the schema or roll it back; the first decision stands."""
        if not self._decided.is_set():
            self._commit = commit
            self._decided.set()

    def _run(self) -> None:
        try:
            import psycopg

            # The URL as SQLAlchemy's psycopg dialect reads it: libpq's own URI form.
            with psycopg.connect("postgresql://" + self.url.removeprefix(SCHEME)) as connection:
                connection.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK,))
                try:
                    self._create(connection)
                finally:
                    connection.rollback()
                    connection.execute("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK,))
                    connection.commit()
        except Exception:  # noqa: BLE001  the start reports its database's errors itself
            return

    def _create(self, connection: "psycopg.Connection[tuple[object, ...]]") -> None:
        connection.commit()  # the lock's statement: the schema's transaction starts afresh
        (exists,) = connection.execute(ANY_TABLE).fetchone() or (True,)
        if exists:
            return
        script = SCHEMA.read_text()
        if self.demo:
            script += ";\n" + DEMO.read_text()
        connection.execute(script)
        self._decided.wait()
        if self._commit:
            connection.commit()


_early: EarlySchema | None = None


def begin(argv: list[str]) -> EarlySchema | None:
    """Start preparing the database ``lse-emulator`` is about to serve, if it is PostgreSQL."""
    global _early
    url, demo = _database_url(argv), _demo(argv)
    if url is None or not url.startswith(SCHEME) or "?" in url:
        return None
    try:
        # Here, not on the thread: imported on both threads at once (the driver there, the
        # command's modules here), a start took 60 ms more of CPU.
        import psycopg  # noqa: F401
    except ImportError:
        return None  # the start reports it
    _early = EarlySchema(url, demo)
    return _early


def confirm(url: str, demo: bool) -> None:
    """The command starts serving ``url``, seeded with the built-in demo or not: commit what
    was prepared if it was prepared for that."""
    if _early is not None:
        _early.decide(commit=url == _early.url and demo == _early.demo)


def abandon() -> None:
    """The command does not start serving: roll the schema back."""
    if _early is not None:
        _early.decide(commit=False)


def _database_url(argv: list[str]) -> str | None:
    """The database URL of ``serve``: its flag, else the environment's; a guess that
    ``confirm`` checks against the settings."""
    if argv[:1] != ["serve"]:
        return None
    return _setting(argv, "--database-url", os.environ.get(URL_SETTING))


def _demo(argv: list[str]) -> bool:
    """Whether ``serve`` seeds an empty database with the built-in demo (no seed file)."""
    return not _setting(argv, "--seed-file", os.environ.get(SEED_SETTING))


def _setting(argv: list[str], flag: str, value: str | None) -> str | None:
    """The last value ``argv`` gives ``flag`` (``--flag value`` or ``--flag=value``), else
    ``value``."""
    for index, argument in enumerate(argv):
        if argument == flag and index + 1 < len(argv):
            value = argv[index + 1]
        elif argument.startswith(flag + "="):
            value = argument.partition("=")[2]
    return value
