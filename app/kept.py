"""Answers of read routes kept while the database is unchanged, as the version each request's
edge read found says (app/control/faults.py): an SQLite file's ``PRAGMA data_version``, or
PostgreSQL's snapshot."""

import threading
from collections.abc import Hashable

from starlette.responses import Response

# The request-state key of the database's version as the request's edge read found it, set
# only where answers may be kept.
DATA_VERSION = "data_version"
# A database's version, ordered by time: SQLite's data_version (an integer that any other
# connection's commit raises), or what orders PostgreSQL's snapshots (see snapshot_version).
DataVersion = int | tuple[int, int, str]


def snapshot_version(snapshot: str) -> tuple[int, int, str]:
    """The version a PostgreSQL snapshot (``xmin:xmax:xip,...``) says. Two snapshots are equal
    only if no transaction that wrote ended between them: one that ended raised ``xmax`` past
    its id or left the in-progress list (``xip``). Later snapshots have a higher ``xmax`` or,
    with the same, fewer transactions in progress: the order kept answers follow."""
    _, xmax, xip = snapshot.split(":")
    return int(xmax), -len(xip.split(",")) if xip else 0, snapshot


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
    given only to one that did too, and all dropped when a later version is read. A request's
    version is read before anything it reads (its edge read), so an answer read while a change
    was committed is one of the older version, which is neither kept nor given after it. Safe
    in the threads database servers' reads run in."""

    # Bytes of bodies kept at most; the oldest answers go first.
    MAX_BYTES = 64 * 2**20

    def __init__(self) -> None:
        self.version: DataVersion | None = None
        self._answers: dict[Hashable, KeptResponse] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def changed(self, version: DataVersion) -> None:
        """The database's version is now ``version``, which differs from the last one."""
        with self._lock:
            self._change(version)

    def _change(self, version: DataVersion) -> None:
        self.version = version
        self._answers.clear()
        self._bytes = 0

    def get(self, version: DataVersion, key: Hashable) -> KeptResponse | None:
        """The answer kept for ``key`` if ``version`` is the current one (a later one becomes
        the current one, with nothing kept)."""
        with self._lock:
            if self.version is None or version > self.version:  # type: ignore[operator]
                self._change(version)
            kept = self._answers.get(key) if version == self.version else None
        return None if kept is None else KeptResponse(bytes(kept.body), kept.raw_headers)

    def keep(self, version: DataVersion, key: Hashable, response: Response) -> Response:
        """``response``, kept for ``key`` if it is a 200 of the current version."""
        size = len(response.body)
        if response.status_code != 200 or size > self.MAX_BYTES // 8:
            return response
        kept = KeptResponse(bytes(response.body), response.raw_headers)
        with self._lock:
            if version != self.version:
                return response
            previous = self._answers.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            while self._answers and self._bytes + size > self.MAX_BYTES:
                oldest = next(iter(self._answers))
                self._bytes -= len(self._answers.pop(oldest).body)
            self._answers[key] = kept
            self._bytes += size
        return response
