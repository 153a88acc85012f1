"""`lse-emulator serve` called as a function in the test process: its flags, the environment,
refused settings and their messages, what it prints and the ready file, and the server it
configures. Each serving test stops the server with SIGTERM, as a user's ``kill`` would."""

import gc
import io
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn.supervisors.multiprocess
from conftest import ADA_TOKEN, TLS

import app.cli
from app import launcher
from app.cli import main
from app.config import ENV_PREFIX

READY_DEADLINE = 60  # seconds for the server to start listening
ANNOUNCE_DEADLINE = 10  # seconds from listening to the ready file
CLOSE_DEADLINE = 15  # seconds; the server's own limits in these tests are below one
RUNS = "/api/prompts/1/versions/1/inference-runs"
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "lse_emulator")
# The signals serve() or, with --workers, uvicorn's supervisor take over in the test process.
SIGNALS = (signal.SIGINT, signal.SIGTERM, *uvicorn.supervisors.multiprocess.SIGNALS)


@pytest.fixture(autouse=True)
def process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """serve() exports its settings to the environment, installs signal handlers and configures
    logging, as a process does once: each test gets them back as they were."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    environment = dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in SIGNALS}
    loggers = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        loggers[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    os.environ.clear()
    os.environ.update(environment)
    for stop_signal, handler in handlers.items():
        signal.signal(stop_signal, handler)
    for name, (kept, level, propagate, disabled) in loggers.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = kept
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def serve_while(
    tmp_path: Path,
    *flags: str,
    visit: Callable[[str], Any] = lambda url: None,
    ready: Path | None = None,
    port: int | None = None,
) -> tuple[int, Any]:
    """Run ``lse-emulator serve`` on this thread; once its ready file names the URL, call
    ``visit(url)`` on another thread, then send SIGTERM. Answers the exit code and what
    ``visit`` answered (an exception it raised is raised here)."""
    ready = ready or tmp_path / "ready"
    ready.unlink(missing_ok=True)
    host = flags[flags.index("--host") + 1] if "--host" in flags else "127.0.0.1"
    reachable = "127.0.0.1" if host == "0.0.0.0" else host
    port = port or free_port(reachable)
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def visit_then_stop() -> None:
        deadline = time.monotonic() + READY_DEADLINE
        while not ready.exists():
            if finished.wait(0.02):
                return  # serve returned without serving
            if listening(reachable, port):  # the announcement follows at once
                deadline = min(deadline, time.monotonic() + ANNOUNCE_DEADLINE)
            if time.monotonic() > deadline:
                outcome["error"] = AssertionError("the server wrote no ready file")
                break
        else:
            try:
                outcome["value"] = visit(ready.read_text().strip())
            except BaseException as error:  # noqa: BLE001 - raised again on the test's thread
                outcome["error"] = error
        os.kill(os.getpid(), signal.SIGTERM)

    visitor = threading.Thread(target=visit_then_stop, daemon=True)
    visitor.start()
    try:
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path), "--ready-file",
                     str(ready), *flags])  # fmt: skip
    finally:
        finished.set()
        visitor.join(timeout=READY_DEADLINE)
    if "error" in outcome:
        raise outcome["error"]
    return code, outcome.get("value")


def get(url: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return httpx.get(url + path, headers=headers, timeout=30, verify=TLS)


def printed_admin_token(output: str) -> str | None:
    found = re.search(r"^Control plane admin token: (\S+)$", output, re.M)
    return found.group(1) if found else None


def read_until_closed(connection: socket.socket) -> bytes | None:
    """What the server sends until it closes the connection; None if it keeps it open for
    CLOSE_DEADLINE seconds."""
    connection.settimeout(CLOSE_DEADLINE)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return None
    return received


# --- serving ---------------------------------------------------------------------------------


def test_serve_prints_the_url_and_the_first_users_token_then_writes_the_ready_file(
    tmp_path, capsys
):
    ready = tmp_path / "ready"

    def visit(url: str) -> tuple[int, int]:
        health = get(url, "/_emulator/health")
        runs = get(url, RUNS, ADA_TOKEN)
        return health.status_code, runs.status_code

    code, statuses = serve_while(tmp_path, "--port", "0", visit=visit)  # 0: a free port

    assert (code, statuses) == (0, (200, 200))
    url = ready.read_text()
    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*\n", url)
    assert capsys.readouterr().out.splitlines() == [
        f"lse-emulator listening on {url.strip()}",
        f"API token (ada@acme.test): {ADA_TOKEN}",
    ]
    assert list(tmp_path.glob("ready*")) == [ready]  # no temporary file left beside it


@pytest.mark.parametrize(
    ("flags", "lines"),
    [
        (["--seed-file", "no-users"], ["lse-emulator listening on http"]),
        ([], ["lse-emulator listening on http", "API token (ada@acme.test)"]),
        (["--host", "0.0.0.0"], ["lse-emulator listening on http", "API token (ada@acme.test)",
                                 "Control plane admin token"]),
    ],
    ids=["url", "api-token", "admin-token"],
)  # fmt: skip
def test_the_announcement_is_flushed_before_the_ready_file_is_written(
    tmp_path, monkeypatch, flags, lines
):
    # Through a pipe, as a supervisor reads it, standard output is block-buffered.
    if flags[:1] == ["--seed-file"]:
        flags = ["--seed-file", str(tmp_path / "seed.yaml")]
        (tmp_path / "seed.yaml").write_text(SEED_WITHOUT_USERS)
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    code, seen = serve_while(tmp_path, *flags, visit=lambda url: raw.getvalue().decode())
    assert code == 0
    assert [line.split(":")[0] for line in seen.splitlines()] == lines


def test_ready_file_directories_are_created(tmp_path):
    ready = tmp_path / "run" / "state" / "ready"
    code, _ = serve_while(tmp_path, ready=ready)
    assert code == 0
    assert ready.read_text().startswith("http://127.0.0.1:")


def test_the_command_starts_with_the_garbage_collector_paused(monkeypatch):
    monkeypatch.setattr(app.cli, "main", lambda: 7 if not gc.isenabled() else 0)
    try:
        assert launcher.main() == 7
    finally:
        gc.enable()


def test_a_server_started_with_the_collector_paused_resumes_it_with_start_up_frozen(tmp_path):
    gc.disable()
    try:
        code, (enabled, frozen) = serve_while(
            tmp_path, visit=lambda url: (gc.isenabled(), gc.get_freeze_count())
        )
    finally:
        gc.unfreeze()
        gc.enable()
    assert (code, enabled) == (0, True)
    assert frozen > 100_000  # the modules, models and routes, out of the collector's passes


def test_a_supervisor_of_workers_resumes_the_paused_collector_at_once(tmp_path):
    gc.disable()
    try:
        code, enabled = serve_while(tmp_path, "--workers", "2", visit=lambda url: gc.isenabled())
    finally:
        gc.unfreeze()
        gc.enable()
    assert (code, enabled) == (0, True)


def test_a_server_started_with_the_collector_running_leaves_it_alone(tmp_path):
    code, frozen = serve_while(tmp_path, visit=lambda url: gc.get_freeze_count())
    assert (code, frozen, gc.isenabled()) == (0, 0, True)


def test_several_workers_serve_on_the_socket_serve_bound_and_stop_on_sigterm(tmp_path, capsys):
    """With --workers, serve() supervises worker processes on the socket it bound and
    announced, and ends with exit code 0 when stopped."""

    def visit(url: str) -> tuple[int, int]:
        return get(url, "/api/version/").status_code, get(url, RUNS, ADA_TOKEN).status_code

    code, statuses = serve_while(tmp_path, "--workers", "2", visit=visit)

    assert (code, statuses) == (0, (200, 200))
    assert capsys.readouterr().out.startswith("lse-emulator listening on http://127.0.0.1:")


def test_flags_take_precedence_over_the_environment_and_reach_the_workers_environment(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LSE_EMULATOR_SERVER_VERSION", "9.0.0-environment")
    monkeypatch.setenv("LSE_EMULATOR_JOURNAL_SIZE", "7")

    def visit(url: str) -> str:
        return get(url, "/api/version/").json()["release"]

    code, version = serve_while(tmp_path, "--server-version", "9.0.0-flag", visit=visit)

    assert (code, version) == (0, "9.0.0-flag")
    # Worker processes build their settings from the environment: the flag is exported there.
    assert os.environ["LSE_EMULATOR_SERVER_VERSION"] == "9.0.0-flag"
    assert os.environ["LSE_EMULATOR_JOURNAL_SIZE"] == "7"
    assert os.environ["LSE_EMULATOR_DATA_DIR"] == str(tmp_path)


def test_environment_settings_apply_without_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSE_EMULATOR_CONTROL_ENABLED", "false")

    def visit(url: str) -> tuple[int, int]:
        return get(url, "/_emulator/health").status_code, get(url, "/api/version/").status_code

    code, statuses = serve_while(tmp_path, visit=visit)

    # The control plane is off, so the health probe is a 404: the server is still announced.
    assert (code, statuses) == (0, (404, 200))
    assert capsys.readouterr().out.startswith("lse-emulator listening on http://127.0.0.1:")


@pytest.mark.parametrize(
    ("environment", "flag", "health"),
    [("false", "--control-enabled", 200), ("true", "--no-control-enabled", 404)],
)
def test_boolean_settings_have_a_flag_and_its_negation(
    tmp_path, monkeypatch, environment, flag, health
):
    monkeypatch.setenv("LSE_EMULATOR_CONTROL_ENABLED", environment)
    code, status = serve_while(
        tmp_path, flag, visit=lambda url: get(url, "/_emulator/health").status_code
    )
    assert (code, status) == (0, health)


SEED_WITHOUT_USERS = "organizations:\n  - {id: 1, title: Empty}\n"
SEED_WITH_USERS = """\
organizations:
  - {id: 1, title: Seven, legacy_api_tokens_enabled: true}
users:
  - {id: 1, email: first@seven.test, username: first, organization: 1, token: first-key}
  - {id: 2, email: second@seven.test, username: second, organization: 1, token: second-key}
"""


def test_seed_file_is_served_and_its_first_user_announced(tmp_path, capsys):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_WITH_USERS)
    code, status = serve_while(
        tmp_path,
        "--seed-file",
        str(seed),
        visit=lambda url: get(url, "/api/current-user/whoami", "second-key").status_code,
    )
    assert (code, status) == (0, 200)
    assert "API token (first@seven.test): first-key\n" in capsys.readouterr().out


def test_a_seed_without_users_announces_no_token(tmp_path, capsys):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_WITHOUT_USERS)
    code, _ = serve_while(tmp_path, "--seed-file", str(seed))
    assert code == 0
    assert [line.split(" ")[0] for line in capsys.readouterr().out.splitlines()] == ["lse-emulator"]


def test_network_address_without_an_admin_token_generates_one_and_requires_it(tmp_path, capsys):
    def visit(url: str) -> tuple[int, ...]:
        port = url.rsplit(":", 1)[1]
        local = f"http://127.0.0.1:{port}"
        token = printed_admin_token(capsys.readouterr().out)
        assert token is not None
        return (
            get(local, "/_emulator/export").status_code,
            get(local, "/_emulator/export", "wrong").status_code,
            get(local, "/_emulator/export", token).status_code,
        )

    code, statuses = serve_while(tmp_path, "--host", "0.0.0.0", visit=visit)

    assert (code, statuses) == (0, (401, 401, 200))
    assert (tmp_path / "ready").read_text().startswith("http://0.0.0.0:")
    # Every worker process requires the same token: it is passed on in the environment.
    token = os.environ["LSE_EMULATOR_ADMIN_TOKEN"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes, URL-safe
    del os.environ["LSE_EMULATOR_ADMIN_TOKEN"]
    serve_while(tmp_path, "--host", "0.0.0.0")
    assert os.environ["LSE_EMULATOR_ADMIN_TOKEN"] != token  # a new one each start


def test_a_chosen_admin_token_is_not_replaced_nor_printed(tmp_path, capsys):
    def visit(url: str) -> tuple[int, int]:
        local = "http://127.0.0.1:" + url.rsplit(":", 1)[1]
        return (
            get(local, "/_emulator/export").status_code,
            get(local, "/_emulator/export", "chosen-secret").status_code,
        )

    code, statuses = serve_while(
        tmp_path, "--host", "0.0.0.0", "--admin-token", "chosen-secret", visit=visit
    )
    assert (code, statuses) == (0, (401, 200))
    assert printed_admin_token(capsys.readouterr().out) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2"])
def test_loopback_server_needs_no_admin_token(tmp_path, capsys, host):
    code, status = serve_while(
        tmp_path, "--host", host, visit=lambda url: get(url, "/_emulator/export").status_code
    )
    assert (code, status) == (0, 200)
    assert printed_admin_token(capsys.readouterr().out) is None
    assert "LSE_EMULATOR_ADMIN_TOKEN" not in os.environ


def test_a_stopped_server_can_be_started_again_on_its_port_at_once(tmp_path):
    # The stop closes the clients' connections, which leaves the port in TIME_WAIT.
    port = free_port("127.0.0.1")
    kept: list[socket.socket] = []

    def visit(url: str) -> int:
        connection = socket.create_connection(("127.0.0.1", port))
        kept.append(connection)
        connection.sendall(b"GET /api/version/ HTTP/1.1\r\nHost: x\r\n\r\n")
        return int(connection.recv(65536).split(b" ")[1])

    try:
        assert serve_while(tmp_path, port=port, visit=visit) == (0, 200)
        assert read_until_closed(kept[0]) is not None  # closed by the server
        assert serve_while(tmp_path, port=port, visit=visit) == (0, 200)
    finally:
        for connection in kept:
            connection.close()


def test_ipv6_address_is_bracketed_in_the_url(tmp_path):
    code, status = serve_while(
        tmp_path, "--host", "::1", visit=lambda url: get(url, "/api/version/").status_code
    )
    assert code == 0 and status == 200
    assert re.fullmatch(r"http://\[::1\]:[1-9][0-9]*\n", (tmp_path / "ready").read_text())


def test_request_log_lines_are_plain_on_stderr_and_follow_the_log_level(tmp_path, capsys):
    def visit(url: str) -> None:
        get(url, "/api/version/")

    serve_while(tmp_path, visit=visit)
    at_info = capsys.readouterr().err.splitlines()
    request_lines = [line for line in at_info if "path=/api/version/" in line]
    assert len(request_lines) == 1
    assert request_lines[0].startswith("request_id=")  # the message alone, no level prefix
    assert not [line for line in at_info if '"GET /api/version/ HTTP/1.1"' in line]  # no access log

    assert any(line.startswith("INFO:     Started server process") for line in at_info)

    serve_while(tmp_path, "--log-level", "warning", visit=visit)
    at_warning = capsys.readouterr().err
    assert "path=/api/version/" not in at_warning
    assert "Started server process" not in at_warning


def test_max_connections_answers_503_beyond_the_limit(tmp_path):
    def visit(url: str) -> int:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))):
            time.sleep(0.2)  # the server has accepted the idle connection
            return get(url, "/api/version/").status_code

    code, status = serve_while(tmp_path, "--max-connections", "1", visit=visit)
    assert (code, status) == (0, 503)


def test_header_timeout_setting_closes_a_connection_that_sends_nothing(tmp_path):
    def visit(url: str) -> bool:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as connection:
            return read_until_closed(connection)

    code, received = serve_while(
        tmp_path, "--header-timeout-seconds", "0.2", "--body-timeout-seconds", "3600", visit=visit
    )
    assert (code, received) == (0, b"")


def test_body_timeout_setting_closes_a_connection_with_half_a_body(tmp_path):
    def visit(url: str) -> bool:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(
                f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {ADA_TOKEN}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
            )
            return read_until_closed(connection)

    code, received = serve_while(
        tmp_path, "--header-timeout-seconds", "3600", "--body-timeout-seconds", "0.2", visit=visit
    )
    assert (code, received) == (0, b"")


# --- refused before serving ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--port", "70000"], "port"),
        (["--header-timeout-seconds", "0"], "header_timeout_seconds"),
        (["--log-format", "xml"], "log_format"),
    ],
)
def test_invalid_setting_exits_2_naming_it(tmp_path, capsys, flags, field):
    ready = tmp_path / "ready"
    code = main(["serve", "--data-dir", str(tmp_path), "--ready-file", str(ready), *flags])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("lse-emulator: invalid setting: ")
    assert f"\n{field}\n" in error
    assert not ready.exists()


def test_invalid_setting_from_the_environment_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSE_EMULATOR_BATCH_SIZE", "many")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    assert "\nbatch_size\n" in capsys.readouterr().err


def test_unreadable_seed_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    ready = tmp_path / "ready"
    code = main(["serve", "--port", "0", "--seed-file", str(missing), "--ready-file", str(ready)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"lse-emulator: {missing}: cannot be read (No such file or directory)\n"
    )
    assert not ready.exists()


def test_invalid_seed_file_exits_2_with_the_entry_at_fault(tmp_path, capsys):
    seed = tmp_path / "seed.yaml"
    seed.write_text("users:\n  - {id: 1, username: a, organization: 1, token: t}\n"
                    "  - {id: 1, username: b, organization: 1, token: u}\n")  # fmt: skip
    assert main(["serve", "--seed-file", str(seed), "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"lse-emulator: {seed}: users[1].id: ")


def test_port_in_use_exits_2_naming_the_address(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ready = tmp_path / "ready"
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path),
                     "--ready-file", str(ready)])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith(
        f"lse-emulator: cannot bind 127.0.0.1:{port}: [Errno 98] Address already in use"
    )
    assert not ready.exists()


# --- the parser ------------------------------------------------------------------------------


def test_the_help_names_the_serve_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: lse-emulator [-h] {serve}")
    assert "The command line: ``lse-emulator serve``." in usage
    assert re.search(r"serve +start the emulator", usage)


def test_every_setting_has_a_flag_in_the_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    for flag in ("--queue-delay-seconds QUEUE_DELAY_SECONDS", "--host HOST",
                 "--data-dir DATA_DIR", "--admin-token ADMIN_TOKEN",
                 "--control-enabled, --no-control-enabled", "--ready-file READY_FILE",
                 "--workers WORKERS", "--log-level LOG_LEVEL"):  # fmt: skip
        assert flag in usage, flag
    assert re.search(r"--ready-file READY_FILE\s+write the URL to this file once serving", usage)
    assert re.search(r"--workers WORKERS\s+server processes", usage)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["start"], "invalid choice: 'start'"),
        (["serve", "--workers", "two"], "argument --workers: invalid int value: 'two'"),
        (["serve", "--control-enabled=yes"], "ignored explicit argument 'yes'"),
        (["serve", "--portt", "1"], "unrecognized arguments: --portt 1"),
    ],
)
def test_command_line_errors_exit_2_with_usage(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: lse-emulator")
    assert message in error


def test_a_server_that_cannot_start_announces_nothing(tmp_path, capsys):
    ready = tmp_path / "ready"
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=5"
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", "0", "--database-url", unreachable, "--ready-file", str(ready)])
    assert exit_.value.code == 3  # uvicorn's startup failure
    assert not ready.exists()
    assert capsys.readouterr().out == ""
