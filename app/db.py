"""Storage: the engine (SQLite pragmas or PostgreSQL, the write gate), the sessions of code
outside a request, the group commit of requests' writes, and the shared state row."""

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Row,
    Table,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, SQLModel

from app.errors import APIError
from app.models import MAX_ID, EmulatorState, table_of

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine for SQLite (WAL, busy timeout, write transactions that lock up front) or PostgreSQL."""
    # Enough pooled connections for the usual concurrency (the thread pool, the event loop),
    # so that a busy server does not open and close overflow connections all the time.
    pool = {"pool_size": 16, "max_overflow": 14}
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **pool)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
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
        cursor.close()

    gate = WriteGate()

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
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Connection) -> None:
        if conn.info.pop("gated", False):
            gate.release()

    return engine


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


# A session.info flag: the session's jobs may share what they read (the state row, a prompt's
# version, a project's organization) rather than each reading it again; the jobs of a group
# commit are concurrent requests, none of which changes those rows.
SHARED_READS = "shared_reads"


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
        for job in jobs:
            try:
                outcomes.append((True, job(session)))
            except APIError as refused:
                outcomes.append((False, refused))
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


@lru_cache(maxsize=128)
def _compiled(statement: ClauseElement, dialect: Dialect) -> SQLCompiler:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def driver_rows(
    connection: Connection, statement: ClauseElement, values: dict[str, Any]
) -> list[Any]:
    """The rows of a statement (built once, its values bound by name) as the driver's own cursor
    answers them: plain tuples of the driver's values, without SQLAlchemy's Row per row nor a
    result processor per value, for lists of thousands that their caller converts a column at a
    time. Runs in the connection's transaction."""
    compiled = _compiled(statement, connection.dialect)
    params: Any = compiled.construct_params(values)
    if compiled.positiontup is not None:
        params = [params[name] for name in compiled.positiontup]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, params)
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
