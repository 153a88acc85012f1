"""The request journal: the recent Label Studio API requests, newest first, bounded in size."""

from collections import deque
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.models import utcnow
from app.render import iso

CONTROL_PREFIX = "/_emulator"
# The emulator's own pages (the console, the API docs) are not Label Studio API requests.
OWN_PAGES = ("/", "/docs", "/redoc")
OWN_PAGE_PREFIXES = (CONTROL_PREFIX, "/docs/")


class Journal:
    def __init__(self, size: int) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=size)
        # Entries ever added: the console's event stream sends those added since its last look.
        self.added = 0

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.appendleft(entry)
        self.added += 1

    def clear(self) -> None:
        self.entries.clear()

    def query(
        self, method: str | None, path: str | None, status: int | None
    ) -> list[dict[str, Any]]:
        return [
            e
            for e in list(self.entries)
            if (method is None or e["method"] == method.upper())
            and (path is None or path in e["path"])
            and (status is None or e["status"] == status)
        ]


class JournalMiddleware:
    """Records every request outside /_emulator with its status, user and run."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in OWN_PAGES
            or scope["path"].startswith(OWN_PAGE_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            state = scope.get("state", {})
            self.journal.add(
                {
                    "time": iso(utcnow()),
                    "method": scope["method"],
                    "path": scope["path"],
                    # A dropped connection got no answer at all: status 0.
                    "status": 0 if state.get("dropped") else status["code"],
                    "user_id": state.get("user_id"),
                    "run_id": state.get("run_id"),
                    # The id of the fault rule that fired on the request, or null.
                    "fault": state.get("fault"),
                }
            )

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the client has the whole answer, so that its next request sees it.
                record()
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            record()


async def get_journal(request: Request) -> Journal:  # on the event loop, no thread hand-off
    journal: Journal = request.app.state.journal
    return journal


JournalDep = Annotated[Journal, Depends(get_journal)]
