"""Half-sent requests cannot hold connections: headers and body each have a deadline."""

import socket
import time

import httpx
import pytest
from conftest import ADA_TOKEN, FAST, TLS, Emulator

RUNS = "/api/prompts/1/versions/1/inference-runs"
CLOSE_DEADLINE = 15  # seconds; the server's own limit in these tests is 1 s


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory):
    """A server that gives clients 1 s for a request's headers and 1 s for its body."""

    settings = {**FAST, "header_timeout_seconds": 1, "body_timeout_seconds": 1}
    emulator = Emulator(tmp_path_factory.mktemp("strict"), settings).start()
    yield emulator
    emulator.stop()


def connect(server) -> socket.socket:
    url = httpx.URL(server.url)
    connection = socket.create_connection((url.host, url.port), timeout=CLOSE_DEADLINE)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the connection open."""
    received = b""
    deadline = time.monotonic() + CLOSE_DEADLINE
    while time.monotonic() < deadline:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept a half-sent request open for {CLOSE_DEADLINE} s")


def read_response(connection: socket.socket) -> bytes:
    """One whole response (headers and its Content-Length body) from a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def run_count(server) -> int:
    with server.client() as client:
        return len(client.get(RUNS).json())


def test_half_sent_request_line_is_closed(strict):
    with connect(strict) as connection:
        connection.sendall(b"GET /api/prompts/1/vers")
        assert read_until_closed(connection) == b""


def test_half_sent_headers_are_closed(strict):
    with connect(strict) as connection:
        connection.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nAccept: app")
        assert read_until_closed(connection) == b""


def test_connection_that_sends_nothing_is_closed(strict):
    with connect(strict) as connection:
        assert read_until_closed(connection) == b""


def test_headers_then_half_a_body_is_closed_and_creates_nothing(strict):
    before = run_count(strict)
    head = (
        f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {ADA_TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with connect(strict) as connection:
        connection.sendall(head.encode() + b'{"proj')
        assert b"201" not in read_until_closed(connection)
    assert run_count(strict) == before
    assert "Traceback" not in strict.log.read_text()


def test_kept_alive_connection_idle_longer_than_the_header_timeout_still_answers(strict):
    # The header deadline starts with a request's first byte, not at the end of the last one.
    request = b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(strict) as connection:
        connection.sendall(request)
        assert read_response(connection).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # longer than header_timeout_seconds, shorter than the 5 s keep-alive
        connection.sendall(request)
        assert read_response(connection).startswith(b"HTTP/1.1 200 ")


def test_normal_clients_are_unaffected(strict):
    with strict.client() as client:
        for _ in range(3):
            created = client.post(RUNS, json={"project": 1})
            assert created.status_code == 201, created.text
        assert client.get(RUNS).status_code == 200


def test_many_half_open_connections_do_not_keep_a_new_request_waiting(strict):
    idle = [connect(strict) for _ in range(150)]
    try:
        for connection in idle:
            connection.sendall(b"GET / HTTP/1.1\r\nHost")
        response = httpx.get(strict.url + "/_emulator/health", timeout=CLOSE_DEADLINE, verify=TLS)
        assert response.status_code == 200
        for connection in idle:
            assert read_until_closed(connection) == b""
    finally:
        for connection in idle:
            connection.close()
