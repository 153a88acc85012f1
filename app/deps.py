"""Every request dependency: sessions, the current user, the parsed body, the clock, the settings
and the application's shared parts. Routes state what they need in their signatures."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, NamedTuple, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine
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
from app.db import GroupCommit, reads_wait_on_network
from app.kept import DATA_VERSION, KeptAnswers
from app.lifecycle.clock import Clock
from app.lifecycle.worker import Worker
from app.models import User
from app.validation import parse_body

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")


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
    header = _header(request)
    known = request.scope.setdefault("state", {}).get(TOKEN_LOOKUP)
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


async def reading(bind: Session | Engine, read: Callable[[], T], apart: bool = False) -> T:
    """A read-only route's work: on SQLite on the event loop, as authentication's read (a
    reader never waits on a lock there, and a short read costs less than the thread hand-off
    FastAPI gives a plain function route); a database server's in a thread, its statements
    outside a transaction. ``apart``: a long read, which runs in a thread on SQLite too (the
    event loop answers others meanwhile)."""
    network = reads_wait_on_network(bind.get_bind() if isinstance(bind, Session) else bind)
    if not network and not apart:
        return read()
    if network and isinstance(bind, Session) and not bind.in_transaction():
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
    authenticated user, ``answer`` gives a kept answer when there is one."""

    def __init__(self, request: Request, user: User) -> None:
        self.request = request
        self.user = user

    async def read(
        self, bind: Engine | Session, read: Callable[[Any, User], T], apart: bool = False
    ) -> T:
        """``read(bind, user)``, as ``reading`` runs it."""
        return await reading(bind, lambda: read(bind, self.user), apart)

    async def answer(
        self, bind: Engine | Session, read: Callable[[Any, User], Response], apart: bool = False
    ) -> Response:
        """``read(bind, user)``'s answer, as ``read`` gives it, or the same answer to the same
        caller and URL kept while the database is unchanged (see KeptAnswers), given on the
        event loop."""
        request = self.request
        version = request.scope["state"].get(DATA_VERSION)
        if version is None:  # a database in memory, or PostgreSQL before 13
            return await self.read(bind, read, apart)
        kept: KeptAnswers = request.app.state.edge_reads.answers
        key = (self.user.id, str(request.url))
        answer = kept.get(version, key)
        if answer is not None:
            return answer
        return kept.keep(version, key, await self.read(bind, read, apart))


async def get_caller(request: Request) -> Caller:
    return Caller(request, await current_user(request))


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
