"""The reads before a route on a database server (whether fault rules exist, what a legacy key
finds) are shared by the requests that arrive together, never answer a request with a read
that started before it arrived, and go on when the server ends their connection."""

import asyncio

import psycopg
from conftest import end_postgres_connections, postgres_database
from sqlalchemy import event

from app.auth import TOKEN_LOOKUP, TokenLookup
from app.control.faults import EdgeBatch, EdgeRead, EdgeReads
from app.db import make_engine
from app.kept import DATA_VERSION


class RecordedBatch(EdgeBatch):
    """An EdgeBatch whose reads are recorded and held until the test lets them go."""

    def __init__(self, rules: bool = False) -> None:
        super().__init__(engine=None, kept=None)  # type: ignore[arg-type]  # _read replaced
        self.reads: list[list[str | None]] = []
        self.release = asyncio.Event()
        self.rules = rules
        self.failure: Exception | None = None

    async def _read(self, keys: list[str | None]) -> dict[str | None, EdgeRead]:
        self.reads.append(keys)
        await asyncio.wait_for(self.release.wait(), 5)
        if self.failure is not None:
            raise self.failure
        return {
            key: (self.rules, None if key is None else TokenLookup(key, None), None) for key in keys
        }


def request(key: str | None) -> dict:
    headers = [] if key is None else [(b"authorization", f"Token {key}".encode())]
    return {"type": "http", "headers": headers}


async def arrive(batch: RecordedBatch, scopes: list[dict]) -> list[bool | BaseException]:
    first = asyncio.create_task(batch.rules_exist(scopes[0]))
    while not batch.reads:  # the first read is under way
        await asyncio.sleep(0.001)
    others = [asyncio.create_task(batch.rules_exist(scope)) for scope in scopes[1:]]
    await asyncio.sleep(0.01)
    batch.release.set()
    return await asyncio.gather(first, *others, return_exceptions=True)


def test_requests_arriving_during_a_read_share_the_next_one_each_with_its_own_key():
    batch = RecordedBatch()
    scopes = [request("k1"), request("k2"), request("k2"), request(None), request("k3")]

    assert asyncio.run(arrive(batch, scopes)) == [False] * 5
    # The first read started before the others arrived: they wait for the next, read once
    # for all of them, each distinct key once.
    assert batch.reads == [["k1"], ["k2", None, "k3"]]
    found = [scope.get("state", {}).get(TOKEN_LOOKUP) for scope in scopes]
    assert [lookup and lookup.key for lookup in found] == ["k1", "k2", "k2", None, "k3"]


def test_with_rules_no_lookup_is_handed_to_authentication():
    batch = RecordedBatch(rules=True)
    scopes = [request("k1"), request("k2")]

    assert asyncio.run(arrive(batch, scopes)) == [True, True]
    assert all("state" not in scope for scope in scopes)


def test_a_failed_read_fails_each_of_its_requests_and_the_next_read_still_runs():
    batch = RecordedBatch()
    batch.failure = RuntimeError("connection lost")

    async def scenario() -> None:
        outcomes = await arrive(batch, [request("k1"), request("k2"), request("k3")])
        assert [type(outcome) for outcome in outcomes] == [RuntimeError] * 3
        batch.failure = None
        assert await batch.rules_exist(request("k4")) is False

    asyncio.run(scenario())
    assert batch.reads == [["k1"], ["k2", "k3"], ["k4"]]


def test_reads_use_a_connection_of_their_own_and_go_on_when_the_server_ends_it():
    with postgres_database(schema=True) as url:
        engine = make_engine(url)
        pooled: list[object] = []
        event.listen(engine, "checkout", lambda *_: pooled.append(1))
        batch = EdgeBatch(engine, EdgeReads(engine))

        async def read(key: str | None) -> dict:
            scope = request(key)
            assert await batch.rules_exist(scope) is False
            return scope["state"]

        async def scenario() -> None:
            first = await read("no-such-key")
            assert first[TOKEN_LOOKUP].row is None  # no user has the key
            assert pooled == []  # read on the event loop, not through the pool
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as other:
                other.execute("CREATE TABLE written_meanwhile (id integer)")
            # A commit by another program is a new version of the database.
            assert (await read(None))[DATA_VERSION] != first[DATA_VERSION]
            end_postgres_connections(url)
            # The connection it read on is gone: this read goes through the pool, which opens
            # a connection of its own; the next opens a new one of the batch's.
            assert (await read("no-such-key"))[TOKEN_LOOKUP].row is None
            assert len(pooled) == 1
            await read("no-such-key")
            assert len(pooled) == 1
            await batch.close()

        try:
            asyncio.run(scenario())
        finally:
            engine.dispose()
