"""The reads before a route on a database server (whether fault rules exist, what a legacy key
finds) are shared by the requests that arrive together, and never answer a request with a read
that started before it arrived."""

import asyncio
import threading

from app.auth import TOKEN_LOOKUP, TokenLookup
from app.control.faults import EdgeBatch, EdgeRead, Pending


class RecordedBatch(EdgeBatch):
    """An EdgeBatch whose reads are recorded and held until the test lets them go."""

    def __init__(self, rules: bool = False) -> None:
        super().__init__(engine=None, kept=None)  # type: ignore[arg-type]  # _read replaced
        self.reads: list[list[str | None]] = []
        self.release = threading.Event()
        self.rules = rules
        self.failure: Exception | None = None

    def _read(self, keys: list[str | None]) -> dict[str | None, EdgeRead]:
        self.reads.append(keys)
        self.release.wait(5)
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


def test_a_request_reads_apart_only_when_no_other_edge_read_is_under_way():
    batch = RecordedBatch()

    async def scenario() -> None:
        alone = Pending(batch, request("k1"))
        assert alone.alone()  # nothing under way: its route's hand-off reads it
        during = Pending(batch, request("k2"))
        assert not during.alone()  # shares the batch's read instead
        alone.done_apart()
        batch.release.set()
        assert await during.rules_exist() is False
        assert batch.reads == [["k2"]]
        assert Pending(batch, request("k3")).alone()

    asyncio.run(scenario())


def test_a_request_waits_for_the_batch_read_under_way():
    batch = RecordedBatch()

    async def scenario() -> None:
        first = asyncio.create_task(Pending(batch, request("k1")).rules_exist())
        while not batch.reads:
            await asyncio.sleep(0.001)
        assert not Pending(batch, request("k2")).alone()
        batch.release.set()
        assert await first is False

    asyncio.run(scenario())
