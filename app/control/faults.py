"""Fault injection at the HTTP edge: a matching rule answers a Label Studio API request with an
error status, answers it late, or closes its connection, before the application reads its body
or authenticates it, so that a faulted request has no effect."""

import asyncio
import sqlite3
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Text,
    exists,
    literal,
    literal_column,
    select,
)
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import (
    TOKEN_COLUMNS,
    TOKEN_LOOKUP,
    TOKEN_MATCHES,
    TOKEN_USERS,
    WHOAMI_COLUMNS,
    TokenLookup,
    authenticate,
    authorization_header,
    legacy_key,
)
from app.control.journal import CONTROL_PREFIX
from app.db import (
    compiled_statement,
    read_session,
    reads_wait_on_network,
    single_read,
    sqlite_file,
    write_session,
)
from app.errors import APIError, envelope
from app.kept import DATA_VERSION, DataVersion, KeptAnswers, snapshot_version
from app.lifecycle.faults import Caller, Fault, candidates, fire, scoped
from app.lifecycle.policy import Policy
from app.models import FaultRule, table_of

if TYPE_CHECKING:  # imported by the PostgreSQL dialect only when PostgreSQL is used
    import psycopg

# The scope key under which the application keeps the server's own ``send`` (see main.py), whose
# connection a dropping rule closes.
SERVER_SEND = "lse.server_send"
# What Django and DRF answer for the statuses a view can fail with (429: DRF's Throttled).
ENVELOPE_DETAIL = {
    408: "Request timed out.",
    409: "Conflict.",
    500: "Internal server error",
}
# What nginx, in front of Label Studio's application server, answers when that server fails,
# is unavailable or is too slow.
GATEWAY_REASON = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def throttled_detail(wait: int | None) -> str:
    """DRF's Throttled message for a wait in seconds."""
    if wait is None:
        return "Request was throttled."
    unit = "second" if wait == 1 else "seconds"
    return f"Request was throttled. Expected available in {wait} {unit}."


def gateway_page(status: int) -> str:
    """nginx's own error page for a gateway status."""
    title = f"{status} {GATEWAY_REASON[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def fault_response(fault: Fault, version: str) -> Response:
    """The answer of a rule with a status: the body Label Studio's stack gives for it."""
    status = fault.status
    assert status is not None  # only rules with a status answer
    headers: dict[str, str] = {}
    # DRF sets Retry-After only for a positive wait; nginx carries whatever is configured.
    if fault.retry_after is not None and (fault.retry_after > 0 or status == 503):
        headers["Retry-After"] = str(fault.retry_after)
    if status in GATEWAY_REASON:
        return HTMLResponse(gateway_page(status), status_code=status, headers=headers)
    detail = throttled_detail(fault.retry_after) if status == 429 else ENVELOPE_DETAIL[status]
    return JSONResponse(envelope(version, status, detail), status_code=status, headers=headers)


def _caller(engine: Engine, headers: dict[bytes, bytes]) -> Caller | None:
    """Who sent a request, from its credentials; None when they authenticate no one."""
    header = authorization_header(
        _text(headers.get(b"authorization")), _text(headers.get(b"x-api-key"))
    )
    with read_session(engine) as session:
        try:
            user = authenticate(session, header)
        except APIError:
            return None
        return Caller(user.id, user.organization_id)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


# Whether any rule exists at all: with none (the usual case) a request pays this one read.
_ANY_RULE = select(exists().select_from(table_of(FaultRule)).label("fault_rules"))
# The same, together with what the request's legacy key finds (one row, whether a user has
# the key or not): authentication then needs no read of its own.
_ANY_RULE_AND_TOKEN = select(
    _ANY_RULE.scalar_subquery().label("fault_rules"), *TOKEN_COLUMNS, *WHOAMI_COLUMNS
).select_from(select(literal(1)).subquery().outerjoin(TOKEN_USERS, TOKEN_MATCHES))
# On PostgreSQL (13 and later) both also read the statement's snapshot: the version of the
# database that routes' kept answers are kept for (app/kept.py).
_SNAPSHOT = literal_column("pg_current_snapshot()::text", Text).label("snapshot")
_WITH_SNAPSHOT = (_ANY_RULE.add_columns(_SNAPSHOT), _ANY_RULE_AND_TOKEN.add_columns(_SNAPSHOT))
_TOKEN_WIDTH = len(_ANY_RULE_AND_TOKEN.selected_columns)


# What rules_exist reads: whether any rule exists, what the request's legacy key found, and
# the database's version on PostgreSQL.
EdgeRead = tuple[bool, TokenLookup | None, DataVersion | None]


class EdgeReads:
    """What rules_exist read (whether any fault rule exists, what legacy keys found), kept by
    the process while the database is unchanged. On an SQLite file, a connection of its own
    reads ``PRAGMA data_version``, which changes whenever another connection commits (one of
    this process's or of any replica or tool on the file): a few microseconds against a query
    and the user it builds; any change drops everything kept, the routes' kept answers
    (``answers``) too. On PostgreSQL nothing says as cheaply that nothing changed, so every
    request reads (EdgeBatch), and only the users built from rows read again unchanged are
    reused (``found``); the snapshot of that read versions the kept answers there. On SQLite
    it is used on the event loop only, where the reads run. Either way a request's version goes
    to its state (DATA_VERSION)."""

    # Keys kept at most: unknown keys are kept too, and a client could send endless ones.
    MAX_KEYS = 1024

    def __init__(self, engine: Engine) -> None:
        path = sqlite_file(engine)
        self._watch: sqlite3.Connection | None = None
        if path is not None:
            self._watch = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Read routes' answers, kept while the database's version is the same; on SQLite the
        # version is the last that ``fresh`` read.
        self.answers = KeptAnswers()
        self.any_rule: bool | None = None
        self.keys: dict[str, TokenLookup] = {}
        self._found: dict[str, TokenLookup] = {}

    def fresh(self) -> bool:
        """Whether what is read now may be kept, after dropping what was kept if the database
        changed since it was read."""
        if self._watch is None:
            return False
        (version,) = self._watch.execute("PRAGMA data_version").fetchone()
        if version != self.answers.version:
            # Set before the reads it covers: a commit while they run changes it again.
            self.answers.changed(version)
            self.any_rule = None
            self.keys.clear()
        return True

    def found(self, key: str, row: Any) -> TokenLookup:
        """What ``key`` found now, as the lookup that found the very same row before when there
        is one, its user built already (a third of authentication's cost): a read that changes
        nothing, on either backend, builds nothing. Safe in the threads PostgreSQL's reads run
        in: a race builds a user twice, never a stale one."""
        previous = self._found.get(key)
        # The row's columns but PostgreSQL's snapshot, which a read that found the same has too.
        if (
            previous is not None
            and previous.row is not None
            and row is not None
            and previous.row[:_TOKEN_WIDTH] == row[:_TOKEN_WIDTH]
        ):
            return previous
        lookup = TokenLookup(key, row)
        if row is not None:
            if len(self._found) >= self.MAX_KEYS:
                self._found.clear()
            self._found[key] = lookup
        return lookup

    def keep(self, any_rule: bool, lookup: TokenLookup | None) -> None:
        self.any_rule = any_rule
        if lookup is not None:
            if len(self.keys) >= self.MAX_KEYS:
                self.keys.clear()
            self.keys[lookup.key] = lookup

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


def request_key(scope: Scope) -> str | None:
    """The legacy key a request authenticates with, if any."""
    headers = dict(scope["headers"])
    return legacy_key(
        authorization_header(_text(headers.get(b"authorization")), _text(headers.get(b"x-api-key")))
    )


def edge_statement(snapshot: bool, key: str | None) -> Select[Any]:
    """The edge read's statement for ``key`` (see read_edge); ``snapshot``: with the database's
    version (PostgreSQL 13 and later)."""
    any_rule, with_token = _WITH_SNAPSHOT if snapshot else (_ANY_RULE, _ANY_RULE_AND_TOKEN)
    return any_rule if key is None else with_token


def edge_answer(row: Any, key: str | None, kept: EdgeReads, snapshot: bool) -> EdgeRead:
    """What the edge read's row says."""
    lookup = None if key is None else kept.found(key, row if row.id else None)
    return bool(row.fault_rules), lookup, snapshot_version(row.snapshot) if snapshot else None


def read_edge(connection: Connection, key: str | None, kept: EdgeReads) -> EdgeRead:
    """Whether any fault rule exists, what ``key`` finds and, on PostgreSQL, the database's
    version: one statement."""
    snapshot = (connection.dialect.server_version_info or (0,)) >= (13,)
    statement = edge_statement(snapshot, key)
    row = connection.execute(statement, {} if key is None else {"key": key}).one()
    return edge_answer(row, key, kept, snapshot)


def rules_exist(engine: Engine, scope: Scope, kept: EdgeReads) -> bool:
    """Whether any fault rule exists; when none does, a request with a legacy key has it
    looked up meanwhile, for its authentication (TOKEN_LOOKUP in its state). What ``kept``
    holds, while it is fresh, answers without a query."""
    key = request_key(scope)
    keeping = kept.fresh()
    if keeping and kept.any_rule is not None and (key is None or key in kept.keys):
        any_rule, lookup = kept.any_rule, None if key is None else kept.keys[key]
    else:
        with single_read(engine) as connection:
            any_rule, lookup, _ = read_edge(connection, key, kept)
        if keeping:
            kept.keep(any_rule, None if any_rule else lookup)
    return settle(scope, any_rule, lookup, kept.answers.version if keeping else None)


def settle(
    scope: Scope, any_rule: bool, lookup: TokenLookup | None, version: DataVersion | None
) -> bool:
    """rules_exist's answer, given what was read; the lookup and the database's version go
    to the request's state."""
    if version is not None:
        scope.setdefault("state", {})[DATA_VERSION] = version
    if any_rule:
        return True  # the request may wait or change: authentication reads when it comes
    if lookup is not None:
        scope.setdefault("state", {})[TOKEN_LOOKUP] = lookup
    return False


class EdgeBatch:
    """rules_exist's reads on a database server, on the event loop, shared by the requests that
    arrive together: the requests that arrive while one read is under way wait for the next,
    which reads for all of them (one statement for each distinct key) instead of one round trip
    each. A read starts after every request it answers arrived, so a change committed before a
    request arrived (by this process or another replica) is seen, as it is when each request
    reads alone. The reads go over a connection of their own, which the driver waits on through
    the event loop: a third of the CPU of a read through the pool in a thread hand-off, which
    the reads fall back to when that connection fails (the server ended it, or restarted):
    those reconnect, or fail with the error every other read gives. Used from one event loop
    (the server's)."""

    def __init__(self, engine: Engine, kept: EdgeReads) -> None:
        self.engine = engine
        self.kept = kept
        self._waiting: list[tuple[str | None, asyncio.Future[EdgeRead]]] = []
        self._reading: asyncio.Future[dict[str | None, EdgeRead]] | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def rules_exist(self, scope: Scope) -> bool:
        """rules_exist for one request, read with those that arrive with it."""
        answer: asyncio.Future[EdgeRead] = asyncio.get_running_loop().create_future()
        self._waiting.append((request_key(scope), answer))
        if self._reading is None:
            self._read_next()
        return settle(scope, *await answer)

    def _read_next(self) -> None:
        batch, self._waiting = self._waiting, []
        keys = list(dict.fromkeys(key for key, _ in batch))
        self._reading = asyncio.ensure_future(self._read(keys))
        self._reading.add_done_callback(lambda done: self._answer(batch, done))

    async def _read(self, keys: list[str | None]) -> dict[str | None, EdgeRead]:
        import psycopg

        try:
            return await self._read_on_loop(keys)
        except psycopg.Error:
            await self.close()
        return await asyncio.get_running_loop().run_in_executor(None, self._read_pooled, keys)

    async def _read_on_loop(self, keys: list[str | None]) -> dict[str | None, EdgeRead]:
        connection = self._connection
        if connection is None or connection.closed:
            args, options = self.engine.dialect.create_connect_args(self.engine.url)
            options.pop("context", None)  # SQLAlchemy's adapters, for its own connections
            # Instants in UTC, as UTCDateTime reads them through the engine.
            options["options"] = f"{options.get('options', '')} -c TimeZone=UTC".strip()
            from psycopg import AsyncConnection
            from psycopg.rows import namedtuple_row

            connection = await AsyncConnection.connect(
                *args, **options, autocommit=True, row_factory=namedtuple_row
            )
            self._connection = connection
        snapshot = connection.info.server_version >= 130000
        read: dict[str | None, EdgeRead] = {}
        try:
            for key in keys:
                compiled = compiled_statement(edge_statement(snapshot, key), self.engine.dialect)
                found = await connection.execute(compiled.string, compiled.construct_params(
                    {} if key is None else {"key": key}))  # fmt: skip
                read[key] = edge_answer(await found.fetchone(), key, self.kept, snapshot)
        except asyncio.CancelledError:
            await self.close()  # a statement cut off leaves the connection in no known state
            raise
        return read

    def _read_pooled(self, keys: list[str | None]) -> dict[str | None, EdgeRead]:
        with single_read(self.engine) as connection:
            return {key: read_edge(connection, key, self.kept) for key in keys}

    def _answer(
        self,
        batch: list[tuple[str | None, "asyncio.Future[EdgeRead]"]],
        done: "asyncio.Future[dict[str | None, EdgeRead]]",
    ) -> None:
        self._reading = None
        failure = None if done.cancelled() else done.exception()
        for key, answer in batch:
            if answer.cancelled():
                continue
            if done.cancelled():
                answer.cancel()
            elif failure is not None:
                answer.set_exception(failure)
            else:
                answer.set_result(done.result()[key])
        if self._waiting:
            self._read_next()

    async def close(self) -> None:
        """Close the reads' own connection (a later read opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


def decide(engine: Engine, method: str, path: str, headers: dict[bytes, bytes]) -> Fault | None:
    """The fault a request gets, if any: one small query when no rule matches it."""
    with read_session(engine) as session:
        rules = candidates(session, method, path)
        if not rules:
            return None
        seed = Policy.load(session).random_seed
    caller = _caller(engine, headers) if any(scoped(rule) for rule in rules) else None
    with write_session(engine) as session:
        return fire(session, rules, caller, seed)


async def drop_connection(scope: Scope) -> None:
    """Close the request's connection without a byte of answer."""
    server_send = scope.get(SERVER_SEND)
    cycle = getattr(server_send, "__self__", None)
    transport: Any = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the server gives no access to the connection: cannot drop it")
    transport.close()
    # Let the server see the connection gone, so that it does not try to answer for the app.
    await asyncio.sleep(0)


class FaultMiddleware:
    """Applies the fault rules to every request outside /_emulator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        application = scope["app"]
        engine = application.state.engine
        # Read on the event loop: SQLite's directly (it never waits on a lock: cheaper than a
        # thread hand-off), a database server's shared by the requests that arrive together.
        # Matching rules (which write their counters) are applied in a thread.
        if reads_wait_on_network(engine):
            found = await application.state.edge_batch.rules_exist(scope)
        else:
            found = rules_exist(engine, scope, application.state.edge_reads)
        if not found:
            await self.app(scope, receive, send)
            return
        await self._faulted(scope, receive, send)

    async def _faulted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request when fault rules exist: the rule that matches it, if any, applied."""
        application = scope["app"]
        fault = await anyio.to_thread.run_sync(
            decide,
            application.state.engine,
            scope["method"],
            scope["path"],
            dict(scope["headers"]),
        )
        if fault is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["fault"] = fault.rule_id
        application.state.metrics.faults.labels(str(fault.rule_id), fault.label).inc()
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.drop:
            state["dropped"] = True
            await drop_connection(scope)
        elif fault.status is not None:
            version = application.state.settings.server_version
            await fault_response(fault, version)(scope, receive, send)
        else:
            await self.app(scope, receive, send)
