"""TimedH11Protocol, the HTTP/1.1 protocol every server process runs, served by uvicorn on a
thread of the test process: raw sockets half-send requests and see when the server closes them.
The deadlines here are fractions of a second; a test waits up to CLOSE_DEADLINE for a close."""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from app.server import JOIN_AT_MOST, JoiningTransport, ServerConfig

CLOSE_DEADLINE = 15  # seconds
SHORT = 0.3  # the deadline under test, in seconds
LONG = 3600.0  # a deadline that never expires during a test
LATE = 2.5  # seconds /late-reader waits before it reads, between two body deadlines of 1 s
BIG_BODY = 1024 * 1024  # more than uvicorn buffers before it stops reading the socket


class Application:
    """An ASGI application whose routes wait where a test needs them to."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []  # the bodies read whole, in order
        self.answering = threading.Event()  # set once /slow has its request

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/stream":
            scope["state"]["event_stream"] = True  # as /_emulator/events marks itself
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello\n", "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if path == "/late-reader":
            await asyncio.sleep(LATE)  # the body waits in the server's buffers meanwhile
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        if path == "/slow":
            self.answering.set()
            await asyncio.sleep(3 * SHORT)
        answer = str(len(body)).encode()
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


class Served:
    def __init__(self, server: uvicorn.Server, address: tuple[str, int], app: Application):
        self.server, self.address, self.app = server, address, app

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=CLOSE_DEADLINE)


@contextmanager
def serving(header_timeout: float, body_timeout: float, **settings: Any) -> Iterator[Served]:
    app = Application()
    config = ServerConfig(
        app, header_timeout=header_timeout, body_timeout=body_timeout, lifespan="off",
        log_config=None, timeout_graceful_shutdown=60, **settings,
    )  # fmt: skip
    server = uvicorn.Server(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + CLOSE_DEADLINE
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield Served(server, listener.getsockname(), app)
    finally:
        # What a test checks of a graceful stop it has checked: close what is left at once.
        server.should_exit = server.force_exit = True
        thread.join(timeout=CLOSE_DEADLINE)


def request(path: str, body: bytes = b"", method: str = "POST") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the connection open."""
    received = b""
    connection.settimeout(CLOSE_DEADLINE)
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {CLOSE_DEADLINE} s")
    return received


def read_response(connection: socket.socket) -> bytes:
    """One whole answer of the test application (its body is a number) on a kept-alive
    connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head.split(b"\r\n")[0] + b" " + body


def trickle_until_closed(connection: socket.socket, byte: bytes) -> None:
    """Send a byte every tenth of the deadline until the server closes the connection, which
    it must do within CLOSE_DEADLINE: a byte now and then does not extend a deadline."""
    connection.settimeout(SHORT / 10)
    deadline = time.monotonic() + CLOSE_DEADLINE
    while time.monotonic() < deadline:
        try:
            connection.sendall(byte)
            if connection.recv(65536) == b"":
                return
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return
    pytest.fail(f"a trickling client kept its connection open for {CLOSE_DEADLINE} s")


# --- the header deadline ---------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed():
    with serving(SHORT, LONG) as served, served.connect() as connection:
        assert read_until_closed(connection) == b""


@pytest.mark.parametrize(
    "sent",
    [b"GET /echo HT", b"GET /echo HTTP/1.1\r\nHost: x\r\nAccept: app"],
    ids=["line", "headers"],
)
def test_half_sent_headers_are_closed_without_an_answer(sent):
    with serving(SHORT, LONG) as served, served.connect() as connection:
        connection.sendall(sent)
        assert read_until_closed(connection) == b""


def test_trickled_headers_do_not_extend_the_header_deadline():
    with serving(SHORT, LONG) as served, served.connect() as connection:
        connection.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        trickle_until_closed(connection, b"a")


def test_the_body_has_its_own_deadline_not_the_headers_one():
    with serving(SHORT, LONG) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"0123456789")[:-5])
        time.sleep(3 * SHORT)  # the headers' deadline has passed, not the body's
        connection.sendall(b"56789")
        assert read_response(connection) == b"HTTP/1.1 200 OK 10"


def test_connections_closed_by_a_deadline_leave_room_for_new_ones():
    # uvicorn answers 503 beyond limit_concurrency (the max_connections setting) open ones.
    with serving(SHORT, SHORT, limit_concurrency=2) as served:
        for _ in range(3):
            with served.connect() as connection:
                assert read_until_closed(connection) == b""
        for _ in range(2):
            with served.connect() as connection:
                connection.sendall(b"GET /echo HT")
                assert read_until_closed(connection) == b""
        with served.connect() as connection:
            connection.sendall(request("/echo", b"after"))
            assert read_response(connection) == b"HTTP/1.1 200 OK 5"


def test_a_kept_alive_connection_idle_longer_than_the_header_deadline_still_answers():
    # The header deadline starts with a request's first byte, not at the end of the last one.
    with serving(SHORT, LONG) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"first"))
        assert read_response(connection) == b"HTTP/1.1 200 OK 5"
        time.sleep(3 * SHORT)  # longer than the header deadline, shorter than keep-alive (5 s)
        connection.sendall(request("/echo", b"second"))
        assert read_response(connection) == b"HTTP/1.1 200 OK 6"


def test_the_next_request_on_a_kept_alive_connection_has_a_header_deadline():
    with serving(SHORT, LONG) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"first"))
        assert read_response(connection) == b"HTTP/1.1 200 OK 5"
        connection.sendall(b"GET /echo HTTP/1.1\r\nHo")
        assert read_until_closed(connection) == b""


def test_requests_sent_in_time_are_answered_on_one_connection():
    with serving(SHORT, SHORT) as served, served.connect() as connection:
        for body in (b"", b"x" * 1000, b"y" * 100_000):
            connection.sendall(request("/echo", body))
            assert read_response(connection) == f"HTTP/1.1 200 OK {len(body)}".encode()
    assert served.app.bodies == [b"", b"x" * 1000, b"y" * 100_000]


# --- the body deadline -----------------------------------------------------------------------


def test_half_a_body_is_closed_and_never_reaches_the_application():
    with serving(LONG, SHORT) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"0123456789")[:-5])
        assert read_until_closed(connection) == b""
    assert served.app.bodies == []


def test_trickled_body_does_not_extend_the_body_deadline():
    with serving(LONG, SHORT) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"x" * 100_000)[:-100_000])
        trickle_until_closed(connection, b"x")
    assert served.app.bodies == []


def test_the_headers_have_their_own_deadline_not_the_body_one():
    with serving(LONG, SHORT) as served, served.connect() as connection:
        whole = request("/echo", b"body")
        head = whole[: whole.index(b"\r\n\r\n")]
        connection.sendall(head[:10])
        time.sleep(3 * SHORT)  # the body's deadline has passed, not the headers'
        connection.sendall(whole[10:])
        assert read_response(connection) == b"HTTP/1.1 200 OK 4"


def test_a_body_the_application_has_not_read_yet_is_not_the_clients_delay():
    # The whole body is sent at once; the application starts reading it only after the body
    # deadline, so the server has stopped reading the socket: that wait is not the client's.
    with serving(LONG, 1.0) as served, served.connect() as connection:
        connection.sendall(request("/late-reader", b"z" * BIG_BODY))
        assert read_response(connection) == f"HTTP/1.1 200 OK {BIG_BODY}".encode()


def test_a_client_that_stalls_after_the_application_read_late_is_closed():
    # The deadline waits for the application, then runs again for what the client still owes.
    with serving(LONG, SHORT) as served, served.connect() as connection:
        connection.sendall(request("/late-reader", b"z" * BIG_BODY)[:-100])
        assert read_until_closed(connection) == b""
    assert served.app.bodies == []


def test_the_time_the_application_takes_to_answer_is_not_bounded():
    with serving(SHORT, SHORT) as served, served.connect() as connection:
        connection.sendall(request("/slow", b"abc"))
        assert read_response(connection) == b"HTTP/1.1 200 OK 3"


# --- graceful stop ---------------------------------------------------------------------------


def test_a_graceful_stop_closes_an_event_stream_at_once():
    with serving(LONG, LONG) as served, served.connect() as connection:
        connection.sendall(request("/stream", method="GET"))
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK")
        served.server.should_exit = True
        # Closed within CLOSE_DEADLINE, not after the 60 s grace period.
        read_until_closed(connection)


def test_a_graceful_stop_finishes_an_answer_in_progress_then_closes():
    with serving(LONG, LONG) as served, served.connect() as connection:
        connection.sendall(request("/slow", b"abcd"))
        assert served.app.answering.wait(CLOSE_DEADLINE)
        served.server.should_exit = True
        answer = read_until_closed(connection)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n4")


def test_a_graceful_stop_closes_a_connection_that_has_sent_nothing():
    with serving(LONG, LONG) as served, served.connect() as connection:
        with served.connect() as later:  # answered once the server has accepted the first
            later.sendall(request("/echo"))
            assert read_response(later) == b"HTTP/1.1 200 OK 0"
        served.server.should_exit = True
        assert read_until_closed(connection) == b""


def test_a_graceful_stop_closes_idle_kept_alive_connections():
    with serving(LONG, LONG) as served, served.connect() as connection:
        connection.sendall(request("/echo", b"x"))
        assert read_response(connection) == b"HTTP/1.1 200 OK 1"
        served.server.should_exit = True
        assert read_until_closed(connection) == b""


class RecordingTransport:
    """A transport that records what is written to it, as the socket would receive it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 5000)}.get(name)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_an_answers_head_and_body_go_out_in_one_write():
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"hello"})

    async def exchange() -> RecordingTransport:
        config = ServerConfig(app, header_timeout=LONG, body_timeout=LONG, lifespan="off",
                              log_config=None, access_log=False)  # fmt: skip
        config.load()
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={},
            _loop=asyncio.get_running_loop(),
        )  # fmt: skip
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(request("/", method="GET") + request("/", method="GET"))
        for _ in range(20):
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(exchange())
    assert len(transport.writes) == 2  # one write an answer
    for written in transport.writes:
        assert written.startswith(b"HTTP/1.1 200 OK\r\n") and written.endswith(b"\r\n\r\nhello")


def test_a_write_is_joined_to_the_next_or_sent_at_the_loops_next_pass():
    async def writes() -> tuple[list[list[bytes]], RecordingTransport]:
        transport = RecordingTransport()
        joining = JoiningTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        seen = []
        joining.write(b"head")
        seen.append(list(transport.writes))  # held
        joining.write(b"body")
        seen.append(list(transport.writes))  # sent with the head
        joining.write(b"chunk")
        await asyncio.sleep(0)
        seen.append(list(transport.writes))  # sent at the next pass
        joining.write(b"head")
        joining.write(b"x" * JOIN_AT_MOST)  # a large body is not copied behind its head
        joining.write(b"last")
        joining.close()  # sends what is held before it closes
        return seen, transport

    seen, transport = asyncio.run(writes())
    assert seen == [[], [b"headbody"], [b"headbody", b"chunk"]]
    assert transport.writes == [b"headbody", b"chunk", b"head", b"x" * JOIN_AT_MOST, b"last"]
    assert transport.closed
