"""uvicorn's HTTP/1.1 protocol with the limits a server on a network needs: the time a client
has to send a request's headers, and then its body; that sends an answer's head and body in
one write; and the server that resumes garbage collection once started."""

import asyncio
import gc
import socket
from typing import Any, cast

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

# An answer's body from this size on is written apart from its head rather than copied behind it.
JOIN_AT_MOST = 64 * 1024


class JoiningTransport:
    """A connection's transport that joins a write to the one before it when both come in the
    same pass of the event loop: uvicorn writes an answer's head, then its body, each a
    ``send`` on the socket and a segment that wakes the client, for a head it cannot use
    alone. A write is held until the next one, which goes out with it, or until the loop's
    next pass (or a close), so that it is never held longer than the pass that wrote it; the
    bytes and their order are the same. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held, self.held = self.held, b""
        if not held:
            self.held = bytes(data)
            self.loop.call_soon(self.flush)
        elif len(data) < JOIN_AT_MOST:
            self.transport.write(held + data)
        else:
            self.transport.write(held)
            self.transport.write(data)

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def flush(self) -> None:
        held, self.held = self.held, b""
        if held:
            self.transport.write(held)

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self.held = b""
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + len(self.held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class TimedH11Protocol(H11Protocol):
    """Closes a connection whose client does not send a request's headers within
    ``header_timeout`` seconds of starting it (or of connecting), or its body within
    ``body_timeout`` seconds of the headers. uvicorn bounds only the idle time between
    requests (``timeout_keep_alive``): without this, half-sent requests hold connections open
    for ever. The time the application takes to answer is not bounded here."""

    def __init__(self, config: "ServerConfig", *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout = config.header_timeout
        self.body_timeout = config.body_timeout
        self.receive_deadline: asyncio.TimerHandle | None = None
        self.receiving: str | None = None  # "headers" or "body" while a deadline is armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, JoiningTransport(transport, self.loop)))
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """On a graceful stop, an open event stream (the console's /_emulator/events) never
        ends by itself: close its connection at once rather than wait out the grace period."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.scope.get("state", {}).get("event_stream"):
                self.transport.close()
                return
        super().shutdown()

    def _watch(self) -> None:
        """Arm, keep or drop the deadline after h11 has seen what arrived."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE and (self.receiving == "headers" or self._started_request()):
            self._arm("headers", self.header_timeout)
        elif state is h11.SEND_BODY:
            self._arm("body", self.body_timeout)
        else:
            self._disarm()

    def _started_request(self) -> bool:
        # A fresh connection, or the first bytes of a next request on a kept-alive one.
        return self.cycle is None or bool(self.conn.trailing_data[0])

    def _arm(self, phase: str, seconds: float) -> None:
        if self.receiving == phase:
            return  # the deadline runs from the start of the phase, not from the last byte
        self._disarm()
        self.receiving = phase
        self.receive_deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self.receive_deadline is not None:
            self.receive_deadline.cancel()
        self.receive_deadline = None
        self.receiving = None

    def _expired(self) -> None:
        self.receive_deadline = None
        if self.receiving == "body" and self.flow.read_paused:
            # The application has not read what arrived yet: the wait is ours, not the client's.
            self.receive_deadline = self.loop.call_later(self.body_timeout, self._expired)
            return
        self.receiving = None
        if not self.transport.is_closing():
            self.transport.close()


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration with the request deadlines; it pickles whole into each worker
    process, like uvicorn's own."""

    def __init__(self, app: Any, *, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(app, http=TimedH11Protocol, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout


def resume_collection() -> None:
    """Resume garbage collection if start-up paused it (as the ``lse-emulator`` command
    starts, app.launcher). What start-up built lives as long as the process: it is frozen, so
    that no later collection walks it again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


class Server(uvicorn.Server):
    """uvicorn's server, which resumes garbage collection once started."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        resume_collection()
