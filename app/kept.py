"""Answers of read routes kept while the database is unchanged (an SQLite file only; see
EdgeReads in app/control/faults.py, which says when it changed)."""

from collections.abc import Hashable

from starlette.responses import Response

# The request-state key of the database's version (SQLite's ``PRAGMA data_version`` as the
# request's edge read found it), set only where answers may be kept.
DATA_VERSION = "data_version"


class KeptResponse(Response):
    """A kept answer given again: its body and headers as they were sent."""

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        # A list of its own: a route's added headers go into its answer's list.
        self.raw_headers = list(raw_headers)


class KeptAnswers:
    """The bodies and headers of read routes' 200 answers, by key (the caller and the URL),
    all of one database version: kept only by a request that read the version now current,
    given only to one that did too, and all dropped when the version changes. A request's
    version is read before anything it reads, so a change committed after it makes its answer
    one of an older version, which is neither kept nor given. Used on the event loop only."""

    # Bytes of bodies kept at most; the oldest answers go first.
    MAX_BYTES = 64 * 2**20

    def __init__(self) -> None:
        self.version: int | None = None
        self._answers: dict[Hashable, KeptResponse] = {}
        self._bytes = 0

    def changed(self, version: int) -> None:
        """The database's version is now ``version``, which differs from the last one."""
        self.version = version
        self._answers.clear()
        self._bytes = 0

    def get(self, version: int, key: Hashable) -> KeptResponse | None:
        if version != self.version:
            return None
        kept = self._answers.get(key)
        return None if kept is None else KeptResponse(bytes(kept.body), kept.raw_headers)

    def keep(self, version: int, key: Hashable, response: Response) -> None:
        size = len(response.body)
        if version != self.version or response.status_code != 200 or size > self.MAX_BYTES // 8:
            return
        while self._answers and self._bytes + size > self.MAX_BYTES:
            oldest = next(iter(self._answers))
            self._bytes -= len(self._answers.pop(oldest).body)
        previous = self._answers.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.body)
        self._answers[key] = KeptResponse(bytes(response.body), response.raw_headers)
        self._bytes += size
