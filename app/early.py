"""A fresh PostgreSQL database's schema, created while the server imports.

Creating the 21 tables and 26 indexes is PostgreSQL's own work (about 0.1 s), during which a
start used to wait. The ``lse-emulator`` command (app.launcher) starts ``begin`` first, before
it imports anything heavy: a thread takes the start-up lock on the database the command line
and the environment name, and on an empty database sends the schema script (shipped as
app/early_schema.sql, which a test holds to what ``create_at_head`` sends) in a transaction
that it keeps open. PostgreSQL creates the schema in its own process while this one imports.
The command commits it (``confirm``) only once its settings are valid, its socket bound and its
database URL is the one the thread used; otherwise, or on any error, the transaction is rolled
back and the database is left as it was. Either way the start-up lock is released, and the
start goes on as before (app.main): it finds the schema at the newest revision, or creates or
migrates it itself, and reports any error itself. Only PostgreSQL through psycopg, and only for
``serve``; the driver alone is imported on the thread.
"""

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

SCRIPT = Path(__file__).with_name("early_schema.sql")
URL_SETTING = "LSE_EMULATOR_DATABASE_URL"  # app.config's prefix and field
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

    def __init__(self, url: str) -> None:
        self.url = url
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
        connection.execute(SCRIPT.read_text())
        self._decided.wait()
        if self._commit:
            connection.commit()


_early: EarlySchema | None = None


def begin(argv: list[str]) -> EarlySchema | None:
    """Start preparing the database ``lse-emulator`` is about to serve, if it is PostgreSQL."""
    global _early
    url = _database_url(argv)
    if url is None or not url.startswith(SCHEME) or "?" in url:
        return None
    try:
        # Here, not on the thread: imported on both threads at once (the driver there, the
        # command's modules here), a start took 60 ms more of CPU.
        import psycopg  # noqa: F401
    except ImportError:
        return None  # the start reports it
    _early = EarlySchema(url)
    return _early


def confirm(url: str) -> None:
    """The command starts serving ``url``: commit the schema if it was prepared there."""
    if _early is not None:
        _early.decide(commit=url == _early.url)


def abandon() -> None:
    """The command does not start serving: roll the schema back."""
    if _early is not None:
        _early.decide(commit=False)


def _database_url(argv: list[str]) -> str | None:
    """The database URL of ``serve``: its flag, else the environment's; a guess that
    ``confirm`` checks against the settings."""
    if argv[:1] != ["serve"]:
        return None
    url = os.environ.get(URL_SETTING)
    for index, argument in enumerate(argv):
        if argument == "--database-url" and index + 1 < len(argv):
            url = argv[index + 1]
        elif argument.startswith("--database-url="):
            url = argument.partition("=")[2]
    return url
