"""Storage: the engine (SQLite pragmas or PostgreSQL, the write gate), the sessions of code
outside a request, the group commit of requests' writes, and the shared state row."""

import asyncio
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from select import POLLIN, poll
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Row,
    Table,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, SQLModel

from app.errors import APIError
from app.models import MAX_ID, EmulatorState, table_of

T = TypeVar("T")

log = logging.getLogger("lse_emulator")

# The write-ahead log's length (in pages) past which the checkpointer, having copied it, copies
# what writers appended meanwhile while holding them back, so that the next write starts the log
# over: about 16 MB, four times SQLite's own threshold (one segment of the log's index).
CHECKPOINT_PAGES = 4096
# Each connection still checkpoints at its commits past this length (SQLite's own way, at four
# times the checkpointer's threshold): a log that the checkpointer cannot keep short (stopped,
# failing, or starved by another process's writes) stays bounded as before.
BACKSTOP_PAGES = 4 * CHECKPOINT_PAGES
# The least time between two checkpoints: each costs two fsyncs whatever it copies.
CHECKPOINT_INTERVAL_SECONDS = 0.1


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout, write transactions that lock up front) or PostgreSQL."""
    # Enough pooled connections for the usual concurrency (the thread pool, the event loop),
    # so that a busy server does not open and close overflow connections all the time.
    pool: dict[str, Any] = {"pool_size": 16, "max_overflow": 14}
    if not url.startswith("sqlite"):
        server = create_engine(url, **pool)

        @event.listens_for(server, "checkout")
        def _on_checkout(
            dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry, _proxy: Any
        ) -> None:
            if ended_by_server(dbapi_connection):
                try:
                    server.dialect.do_ping(dbapi_connection)
                except Exception as error:
                    raise DisconnectionError("the database ended this connection") from error

        return server
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # The connection used last first: each keeps its own page cache, which a write by another
        # connection empties, so the worker's steps find theirs still warm.
        pool["pool_use_lifo"] = True
    else:
        pool = {}  # one connection per thread: no queue to size
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself, so a writer can take the lock before it reads.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 8 MiB of pages a connection, four times SQLite's default: the indexes a run's steps
        # write into stay cached from one transaction to the next (they are read again otherwise).
        cursor.execute("PRAGMA cache_size=-8192")
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    gate = WriteGate()
    checkpointer = Checkpointer(sqlite_file(engine), gate)
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction that starts deferred and upgrades later can fail with
        # "database is locked" under concurrency; BEGIN IMMEDIATE waits for the lock instead.
        # Writers of this process queue in order at the gate rather than in SQLite's busy
        # handler, whose growing sleeps let a busy writer (the worker) starve the others.
        options = conn.get_execution_options()
        if options.get("single_read", False):
            return  # one statement: SQLite's implicit transaction of that statement suffices
        if not options.get("write", False):
            conn.exec_driver_sql("BEGIN")
            return
        gate.acquire()
        conn.info["gated"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop("gated")
            gate.release()
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Connection) -> None:
        _end(conn, commit=True)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        _end(conn, commit=False)

    def _end(conn: Connection, commit: bool) -> None:
        if not conn.info.pop("gated", False):
            return
        # SQLAlchemy tells of a transaction's end before it ends it. Ended here first, so that
        # the gate opens on a free lock (the next writer's BEGIN IMMEDIATE found the lock still
        # taken, and slept in SQLite's busy handler for a millisecond or more) and the
        # checkpointer finds the transaction's pages in the log. SQLAlchemy's own end, which
        # follows, finds no transaction left, where sqlite3 does nothing; a failure to end it
        # is raised from here.
        try:
            if not conn.invalidated:  # else SQLAlchemy ends nothing either
                raw = conn.connection.dbapi_connection
                if raw is not None:
                    raw.commit() if commit else raw.rollback()
        finally:
            gate.release()
        if commit:
            checkpointer.wake()

    return engine


def sqlite_file(engine: Engine) -> str | None:
    """The file of an SQLite engine's database when a plain path names it: a database in memory,
    or named by a URI with options, would not be the engine's database when opened again by
    ``sqlite3.connect``."""
    url, path = engine.url, engine.url.database or ":memory:"
    if url.get_backend_name() != "sqlite" or path == ":memory:" or path.startswith("file:"):
        return None
    return None if url.query else path


def ended_by_server(dbapi_connection: DBAPIConnection) -> bool:
    """Whether a pooled connection, idle, may have been ended by PostgreSQL. An idle connection
    hears from the server only when it is ended (a restart, a terminated backend, an idle
    timeout: a last message, then the socket's end), so a socket with nothing to read is sound
    without a round trip; one with something to read is pinged as it leaves the pool, and a
    failed ping has the pool open a new connection. SQLAlchemy's pre-ping sent a statement at
    every checkout instead: a round trip before each request's first read."""
    watch = poll()
    watch.register(dbapi_connection.fileno(), POLLIN)
    return bool(watch.poll(0))


class WriteGate:
    """A first-come, first-served lock: the one path every write transaction of a process takes.

    The lock is handed to the longest waiter directly, each waiter sleeping on a lock of its
    own: a release wakes one thread, not every waiting one (a herd that, waking to find it is
    not its turn, would take the interpreter lock from the holder again and again)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()
        self._timeout = timeout

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=self._timeout):
            return  # handed over by release()
        with self._mutex:
            try:
                self._waiters.remove(turn)
            except ValueError:
                # Handed over just as the wait ended: pass the turn on, unused.
                self._hand_over()
        raise TimeoutError("waited too long for the database write lock")

    def release(self) -> None:
        with self._mutex:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._waiters:
            self._waiters.popleft().release()
        else:
            self._held = False


class Checkpointer:
    """Copies an SQLite file's write-ahead log into the database on a thread of its own, beside
    the writers, instead of in the commit of whichever writer took the log past SQLite's
    threshold (its copy and its two fsyncs were more than half of the settling thread's commit
    time; SQLite leaves the interpreter free while it checkpoints, so the copy runs on another
    core).

    Woken by each write transaction's commit, at most every CHECKPOINT_INTERVAL_SECONDS. A
    checkpoint copies the log as far as it was when it began; writers append meanwhile, and the
    log starts over only when a checkpoint has copied all of it. So when the log is still
    CHECKPOINT_PAGES long, the rest (what was appended during the copy) is copied holding the
    process's write gate. The thread starts with the first write and ends with the engine."""

    def __init__(self, path: str | None, gate: WriteGate) -> None:
        self._path = path
        self._gate = gate
        self._wake = threading.Event()
        self._mutex = threading.Lock()
        self._running: tuple[threading.Thread, threading.Event] | None = None

    def wake(self) -> None:
        if self._running is None:
            self._start()
        self._wake.set()

    def _start(self) -> None:
        with self._mutex:
            if self._running is None and self._path is not None:
                stop = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(stop,), name="checkpointer", daemon=True
                )
                self._running = (thread, stop)
                thread.start()

    def stop(self) -> None:
        with self._mutex:
            running, self._running = self._running, None
        if running is not None:
            thread, stop = running
            stop.set()
            self._wake.set()
            thread.join()

    def _run(self, stop: threading.Event) -> None:
        assert self._path is not None
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                if stop.is_set():
                    return
                self._wake.clear()
                try:
                    self.checkpoint(connection)
                except (sqlite3.Error, TimeoutError) as error:
                    # The next commit's wake tries again; the connections' own checkpoints
                    # bound the log meanwhile (TimeoutError: the write gate, waited on too long).
                    log.warning("checkpoint of %s failed: %s", self._path, error)
                if stop.wait(CHECKPOINT_INTERVAL_SECONDS):
                    return
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """Copy the log into the database, all of it when it is CHECKPOINT_PAGES long."""
        if _checkpoint(connection) >= CHECKPOINT_PAGES:
            self._gate.acquire()
            try:
                _checkpoint(connection)
            finally:
                self._gate.release()


def _checkpoint(connection: sqlite3.Connection) -> int:
    """A checkpoint that waits for no one (it copies what no reader still needs); answers the
    log's length in pages."""
    _busy, pages, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(pages)


# A session.info flag: the session's jobs may share what they read (the state row, a prompt's
# version, a project's organization) rather than each reading it again; the jobs of a group
# commit are concurrent requests, none of which changes those rows.
SHARED_READS = "shared_reads"


# A session.info key: the group's GroupInserts, where a job may leave its row to be inserted
# with the other jobs' rows once every job has run.
GROUP_INSERTS = "group_inserts"


class GroupInserts:
    """The rows a group's jobs insert, sent together once every job has run (a statement
    executed costs more than a row's values in it: about a fifth of a create's CPU on
    PostgreSQL went to its own INSERT). Each row's id is handed to its job's callback, in the
    order the rows were given."""

    def __init__(self) -> None:
        self._rows: dict[Table, list[tuple[dict[str, Any], Callable[[int], None]]]] = {}

    def add(self, table: Table, values: dict[str, Any], on_id: Callable[[int], None]) -> None:
        self._rows.setdefault(table, []).append((values, on_id))

    def insert(self, connection: Connection) -> None:
        for table, rows in self._rows.items():
            if connection.dialect.name == "postgresql" and len(rows) > 1:
                # The ids drawn from the table's sequence first, then the rows sent as the
                # driver's executemany of the one-row INSERT (one pipeline): an INSERT of many
                # rows has a text of its own for each number of rows, with more parameters
                # than psycopg keeps its parse of, so psycopg parsed it anew each time.
                drawn = connection.execute(_NEXT_IDS, {"table": f'"{table.name}"', "n": len(rows)})
                ids = sorted(drawn.scalars())
                connection.execute(
                    insert(table),
                    [
                        values | {"id": row_id}
                        for (values, _), row_id in zip(rows, ids, strict=True)
                    ],
                )
            else:
                inserted = connection.execute(_returning_ids(table), [values for values, _ in rows])
                ids = [row_id for (row_id,) in inserted]
            for (_, on_id), row_id in zip(rows, ids, strict=True):
                on_id(row_id)
        self._rows.clear()


_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


@lru_cache(maxsize=8)
def _returning_ids(table: Table) -> Any:
    """An INSERT of many rows that answers their ids in the order the rows were given."""
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


class GroupCommit:
    """Applies write jobs of requests together: the jobs that arrive while a group is being
    applied form the next group, applied in one writer transaction (one write lock, one commit)
    in a worker thread; each request is answered once its group is committed.

    A job takes the group's session and may raise an ``APIError`` only before it writes (a
    refused request then leaves no trace); it must not commit. Any other failure of a job rolls
    the group back and its jobs are applied again one by one, each in its own transaction, so
    that one job's failure never undoes another's work; a failed commit is every job's answer.
    Used from one event loop (the server's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.execution_options(write=True)
        self._pending: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self._applying = False

    async def run(self, job: Callable[[Session], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if not self._applying:
            self._apply_next()
        return await future

    def _apply_next(self) -> None:
        group, self._pending = self._pending, []
        self._applying = True
        applied = asyncio.get_running_loop().run_in_executor(
            None, self._apply, [job for job, _ in group]
        )
        applied.add_done_callback(lambda done: self._answer(group, done))

    def _answer(
        self,
        group: list[tuple[Callable[[Session], Any], "asyncio.Future[Any]"]],
        done: "asyncio.Future[list[tuple[bool, Any]]]",
    ) -> None:
        self._applying = False
        failure = done.exception()
        outcomes = [(False, failure)] * len(group) if failure else done.result()
        for (_, future), (succeeded, value) in zip(group, outcomes, strict=True):
            if future.cancelled():
                continue
            if succeeded:
                future.set_result(value)
            else:
                future.set_exception(value)
        if self._pending:
            self._apply_next()

    def _apply(self, jobs: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        """In a worker thread: every job in one transaction; if a job fails (not a refusal),
        each job alone. A failed commit is every job's answer: it may have been applied, so
        no job is applied again."""
        with Session(self.engine, expire_on_commit=False, info={SHARED_READS: True}) as session:
            try:
                outcomes = self._run(session, jobs)
            except Exception as error:
                if len(jobs) == 1:
                    return [(False, error)]
                session.rollback()
                return [outcome for job in jobs for outcome in self._apply([job])]
            try:
                session.commit()
            except Exception as error:
                return [(False, error)] * len(jobs)
        return outcomes

    @staticmethod
    def _run(session: Session, jobs: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        """The jobs' outcomes, a refusal (APIError) being one; any other failure is raised."""
        outcomes: list[tuple[bool, Any]] = []
        session.info[GROUP_INSERTS] = inserts = GroupInserts()
        for job in jobs:
            try:
                outcomes.append((True, job(session)))
            except APIError as refused:
                outcomes.append((False, refused))
        inserts.insert(session.connection())
        return outcomes


@contextmanager
def write_session(engine: Engine, durable: bool = True) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its start (SQLite) and commits on
    exit. ``durable=False`` lets PostgreSQL answer the commit before its WAL reaches the disk:
    only a crash of PostgreSQL itself could undo it, and atomically."""
    with Session(engine) as session:
        connection = session.connection(execution_options={"write": True})
        if not durable and connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL synchronous_commit = off"))
        yield session
        session.commit()


@contextmanager
def bulk_write_session(engine: Engine) -> Iterator[Session]:
    """A write session for emptying tables wholesale. On SQLite, foreign keys are not enforced
    during it, which lets SQLite drop a table's pages at once instead of deleting row by row;
    the caller keeps the references consistent (it empties children with their parents)."""
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None  # only an invalidated connection has none
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where the pragma takes effect
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with Session(bind=connection.execution_options(write=True)) as session:
                yield session
                session.commit()
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def reads_wait_on_network(engine: Engine | Connection) -> bool:
    """Whether a read waits for a database server (PostgreSQL) rather than a local file: such
    a read belongs in a thread, where it does not hold up the event loop meanwhile."""
    return engine.dialect.name != "sqlite"


@contextmanager
def single_read(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection for one reading statement, which is its own transaction: no BEGIN and no
    ROLLBACK around it (statements the hottest paths would otherwise pay each time). Given a
    connection, that connection as it is."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        if connection.dialect.name == "postgresql":
            yield connection.execution_options(isolation_level="AUTOCOMMIT")
        else:
            yield connection.execution_options(single_read=True)


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection of the engine, or the connection given, as it is."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection


@lru_cache(maxsize=128)
def compiled_statement(statement: ClauseElement, dialect: Dialect) -> SQLCompiler:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def driver_rows(
    connection: Connection, statement: ClauseElement, values: dict[str, Any]
) -> list[Any]:
    """The rows of a statement (built once, its values bound by name) as the driver's own cursor
    answers them: plain tuples of the driver's values, without SQLAlchemy's Row per row nor a
    result processor per value, for lists of thousands that their caller converts a column at a
    time. An expanding parameter (``bindparam(..., expanding=True)``, a list of ids) is
    rendered as SQLAlchemy renders it for that list. Runs in the connection's transaction; the
    engine's ``before_cursor_execute`` listeners see the statement as for any other."""
    compiled = compiled_statement(statement, connection.dialect)
    params: Any = compiled.construct_params(values)
    sql = compiled.string
    if compiled.post_compile_params:
        expanded = compiled.construct_expanded_state(params)
        sql = expanded.statement
        params = (
            tuple(expanded.positional_parameters) if compiled.positional else expanded.parameters
        )
    elif compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for listener in connection.dispatch.before_cursor_execute:
            sql, params = listener(connection, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session that only reads (it never takes the write lock)."""
    with Session(engine) as session:
        yield session


def get_by_id(session: Session, model: type[T], row_id: int, lock: bool = False) -> T | None:
    """A row by id; ids no database column can hold (from a URL) name no row."""
    if not 0 < row_id <= MAX_ID:
        return None
    return session.get(model, row_id, with_for_update=lock)


def emulator_state(session: Session) -> EmulatorState:
    """The shared state row, read once per session (the identity map alone may drop it)."""
    state = session.info.get("emulator_state")
    if state is None:
        state = session.get(EmulatorState, 1)
        if state is None:
            raise RuntimeError("emulator state missing: the database was not initialised")
        session.info["emulator_state"] = state
    return state


_STATE = table_of(EmulatorState)
_CLOCK_AND_POLICY = select(
    _STATE.c.clock_offset_seconds, _STATE.c.clock_frozen_at, _STATE.c.policy
).where(_STATE.c.id == 1)


def clock_and_policy(session: Session) -> Row[float, datetime | None, Any]:
    """The state row's clock and policy as a plain row, for code that only reads them (an ORM
    entity costs several times more); read once in a session of shared reads."""
    row: Row[float, datetime | None, Any] | None = session.info.get("clock_and_policy")
    if row is None:
        row = session.connection().execute(_CLOCK_AND_POLICY).first()
        if row is None:
            raise RuntimeError("emulator state missing: the database was not initialised")
        if session.info.get(SHARED_READS):
            session.info["clock_and_policy"] = row
    return row


def mark_seed_changed(session: Session) -> None:
    """Note that the seed tables (organizations, users, projects, tasks, prompts...) may no
    longer be what the seed made, so that a reset reloads them instead of keeping them."""
    state = emulator_state(session)
    if not state.seed_changed:
        state.seed_changed = True
        session.add(state)


def has_serial_id(table: Table) -> bool:
    """Whether the table's ids come from a sequence on PostgreSQL."""
    key = list(table.primary_key.columns)
    return len(key) == 1 and key[0].autoincrement is not False and key[0].name == "id"


def sync_sequences(session: Session) -> None:
    """After rows were written with explicit ids, PostgreSQL's id sequences must follow."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text(sequences_statement()))


def sequences_statement() -> str:
    """The statement that sets each PostgreSQL id sequence after the largest id in its table."""
    # The next id is the largest one plus one (1 in an empty table), set as "the last one
    # given" so that no value beyond the column's range is ever computed here. One statement
    # for all the tables: one round trip, not one a table.
    calls = []
    for table in filter(has_serial_id, SQLModel.metadata.sorted_tables):
        highest = f'(SELECT MAX(id) FROM "{table.name}")'
        calls.append(
            f"setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
            f"COALESCE({highest}, 1), {highest} IS NOT NULL)"
        )
    return f"SELECT {', '.join(calls)}"
