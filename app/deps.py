"""Every request dependency: sessions, the current user, the parsed body, the clock, the settings
and the application's shared parts. Routes state what they need in their signatures."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, NamedTuple, Protocol, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlmodel import Session
from starlette.responses import Response

from app.auth import (
    TOKEN_LOOKUP,
    TokenLookup,
    authenticate,
    authorization_header,
    header_parts,
    legacy_user,
)
from app.config import Settings
from app.db import GroupCommit, reads_wait_on_network, single_read
from app.kept import DATA_VERSION, KeptAnswers
from app.lifecycle.clock import Clock
from app.lifecycle.worker import Worker
from app.models import User
from app.validation import parse_body

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")
# Request-state keys: the request's edge read when it is still to come (a PendingEdge), and
# the Caller of a read-only route that has not authenticated yet.
PENDING_EDGE = "pending_edge"
DEFERRED_CALLER = "deferred_caller"


class RulesExist(Exception):
    """Raised where a request's deferred edge read found fault rules: the fault middleware
    then applies them and handles the request anew, as it does when it reads them first."""


class PendingEdge(Protocol):
    """A request's edge read (whether any fault rule exists, what its legacy key finds) that
    the fault middleware left to the request's first read on a database server (see
    FaultMiddleware): done there in the same thread hand-off, or here when nothing reads."""

    async def rules_exist(self) -> bool:
        """Whether any fault rule exists, read with the requests that arrive together, once."""
        ...

    def alone(self) -> bool:
        """Whether the request reads alone (no other edge read under way or waiting): then
        it reads through its route's connection (``read_on``), and ``done_apart`` follows;
        otherwise it shares the next batch's read (``rules_exist``)."""
        ...

    def done_apart(self) -> None:
        """The read that ``alone`` allowed is over."""
        ...

    def read_on(self, connection: Connection) -> bool:
        """The same, read through ``connection`` (in a worker thread), once."""
        ...


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, opened and closed on the event loop (no thread hand-off: this
    does no I/O until used). For a request that may write, its transactions take the write lock
    (SQLite) when they begin: at the route's first statement, never while authenticating (which
    reads apart) or receiving the body."""
    state = request.app.state
    bind = state.engine if request.method in SAFE_METHODS else state.writer
    with Session(bind, expire_on_commit=False) as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[Session]:
    """A session whose transactions take the write lock when they begin (SQLite)."""
    with Session(request.app.state.writer, expire_on_commit=False) as session:
        yield session


async def current_user(request: Request) -> User:
    """The authenticated user of a request. Its key is often looked up already (see
    FaultMiddleware); else SQLite's read runs on the event loop (one indexed read, never
    waiting on a lock, costs less than a thread hand-off), a database server's in a thread."""
    state = request.scope.setdefault("state", {})
    pending: PendingEdge | None = state.get(PENDING_EDGE)
    if pending is not None and await pending.rules_exist():
        raise RulesExist
    header = _header(request)
    known = state.get(TOKEN_LOOKUP)
    engine = request.app.state.engine
    if known is None and reads_wait_on_network(engine):
        user = await anyio.to_thread.run_sync(_authenticate, engine, header, known)
    else:
        user = _authenticate(engine, header, known)
    request.state.user_id = user.id
    return user


def _header(request: Request) -> str | None:
    return authorization_header(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )


def _authenticate(engine: Engine, header: str | None, known: TokenLookup | None) -> User:
    if known is not None:
        # A legacy key looked up already: no session, whose opening and closing would cost
        # as much as the rest of authentication.
        return legacy_user(engine, header_parts(header), known)
    with Session(engine) as session:
        return authenticate(session, header, known)


async def reading(bind: Session | Engine, read: Callable[[], T]) -> T:
    """A read-only route's work: on SQLite on the event loop, as authentication's read (a
    reader never waits on a lock there, and a short read costs less than the thread hand-off
    FastAPI gives a plain function route); a database server's in a thread, its statements
    outside a transaction."""
    if not reads_wait_on_network(bind.get_bind() if isinstance(bind, Session) else bind):
        return read()
    if isinstance(bind, Session) and not bind.in_transaction():
        return await anyio.to_thread.run_sync(_outside_transaction, bind, read)
    return await anyio.to_thread.run_sync(read)


def _outside_transaction(session: Session, read: Callable[[], T]) -> T:
    # PostgreSQL reads at READ COMMITTED, where each statement has its own snapshot in a
    # transaction too: BEGIN and ROLLBACK around a route's reads, two round trips, bought
    # nothing.
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return read()


class Caller:
    """Who calls a read-only route, for its read: ``read`` runs the route's read with the
    authenticated user. On a database server, when the request's edge read is still to come
    (see FaultMiddleware) and no other is under way, it runs in the route's thread hand-off,
    on the route's connection, before authentication and the route's read: one hand-off and
    one connection a request instead of two. When others are under way, it shares the next
    batch's read (one statement for the requests that arrive together, as before). Either way
    fault rules, then authentication's 401, answer before the route's parameters are checked
    (see the error handlers) and before it reads."""

    def __init__(self, request: Request, user: User | None, pending: PendingEdge | None) -> None:
        self.request = request
        self.user = user
        self.pending = pending

    async def authenticated(self) -> User:
        """The user, authenticated now if it was left to the read."""
        if self.user is None:
            self.user = await current_user(self.request)
        return self.user

    async def read(self, bind: Engine | Session, read: Callable[[Any, User], T]) -> T:
        """``read(bind, user)``, as ``reading`` runs it; given an engine, a database server's
        read gets the edge read's connection as its bind."""
        pending = self.pending
        if self.user is None and pending is not None and pending.alone():
            try:
                return await anyio.to_thread.run_sync(self._edge_then_read, bind, read)
            finally:
                pending.done_apart()
        user = await self.authenticated()
        return await reading(bind, lambda: read(bind, user))

    async def answer(
        self, bind: Engine | Session, read: Callable[[Any, User], Response], apart: bool = False
    ) -> Response:
        """``read(bind, user)``'s answer, as ``read`` gives it, or the same answer to the same
        caller and URL kept while the database is unchanged (see KeptAnswers). On SQLite a kept
        answer is given on the event loop; ``apart``: a long read, which runs in a thread there
        too (the event loop answers others meanwhile)."""
        request = self.request
        state = request.scope["state"]
        kept: KeptAnswers = request.app.state.edge_reads.answers

        def kept_or_read(bind: Any, user: User) -> Response:
            version = state.get(DATA_VERSION)
            if version is None:  # a database in memory, or PostgreSQL before 13
                return read(bind, user)
            key = (user.id, str(request.url))
            return kept.get(version, key) or kept.keep(version, key, read(bind, user))

        engine = bind.get_bind() if isinstance(bind, Session) else bind
        if reads_wait_on_network(engine) or DATA_VERSION not in state:
            # On a database server the version comes with the edge read, in the read's thread.
            return await self.read(bind, kept_or_read)
        user = await self.authenticated()
        if not apart:
            return kept_or_read(bind, user)
        # A kept answer on the event loop; a read in a thread.
        version, key = state[DATA_VERSION], (user.id, str(request.url))
        answer = kept.get(version, key)
        if answer is not None:
            return answer
        return kept.keep(version, key, await anyio.to_thread.run_sync(read, bind, user))

    def _edge_then_read(self, bind: Engine | Session, read: Callable[[Any, User], T]) -> T:
        if isinstance(bind, Session):
            if bind.in_transaction():
                return self._continue(bind.connection(), bind, read)
            connection = bind.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return self._continue(connection, bind, read)
        with single_read(bind) as connection:
            return self._continue(connection, connection, read)

    def _continue(
        self,
        connection: Connection,
        bind: Connection | Session,
        read: Callable[[Any, User], T],
    ) -> T:
        assert self.pending is not None
        if self.pending.read_on(connection):
            raise RulesExist
        state = self.request.scope["state"]
        state.pop(DEFERRED_CALLER, None)
        user = _authenticate(self.request.app.state.engine, _header(self.request),
                             state.get(TOKEN_LOOKUP))  # fmt: skip
        self.user = user
        state["user_id"] = user.id
        return read(bind, user)


async def get_caller(request: Request) -> Caller:
    """The route's Caller: authenticated now, or (a database server's request whose edge read
    is still to come) in the route's read."""
    state = request.scope.setdefault("state", {})
    pending: PendingEdge | None = state.get(PENDING_EDGE)
    if pending is None:
        return Caller(request, await current_user(request), None)
    caller = Caller(request, None, pending)
    state[DEFERRED_CALLER] = caller
    return caller


class Body:
    """A parsed request body and whether it came form-encoded."""

    def __init__(self, data: Any, form: bool) -> None:
        self.data = data
        self.form = form


async def request_body(request: Request, _user: "CurrentUserDep") -> Body:
    # Depends on the user so that authentication always runs before the body is read.
    return Body(*await parse_body(request))


async def public_body(request: Request) -> Body:
    return Body(*await parse_body(request))


# The getters below are coroutines so that FastAPI calls them on the event loop: a plain
# function dependency would cost a thread hand-off each.
async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class Writes(NamedTuple):
    """What the create route needs of the application, which never changes, in one dependency:
    one call per request instead of three (FastAPI's solving of a route that app.routing cannot
    plan costs about 12 us of CPU a dependency)."""

    clock: Clock
    settings: Settings
    group: GroupCommit


async def get_writes(request: Request) -> Writes:
    state = request.app.state
    return Writes(state.clock, state.settings, state.writes)


async def get_worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker


SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]
CurrentUserDep = Annotated[User, Depends(current_user)]
CallerDep = Annotated[Caller, Depends(get_caller)]
BodyDep = Annotated[Body, Depends(request_body)]
PublicBodyDep = Annotated[Body, Depends(public_body)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
WorkerDep = Annotated[Worker, Depends(get_worker)]
WritesDep = Annotated[Writes, Depends(get_writes)]
