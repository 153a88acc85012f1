"""The command line: ``lse-emulator serve``."""

import argparse
import copy
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

from app import early
from app.config import ENV_PREFIX, Settings, needs_generated_admin_token
from app.db import make_engine
from app.models import User, table_of
from app.seed import SeedError, configured_seed
from app.server import Server, ServerConfig, resume_collection


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, named after it; unset flags leave the environment's value."""
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None
            )
        else:
            parser.add_argument(flag, dest=name, default=None, metavar=name.upper())


def _log_config(level: str) -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["plain"] = {
        "formatter": "plain",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["lse_emulator"] = {"handlers": ["plain"], "level": level.upper()}
    return config


def _announce(
    url: str,
    settings: Settings,
    ready_file: str | None,
    stop: threading.Event,
    generated_admin_token: str | None,
) -> None:
    """Once the server answers: print the URL, the demo token and a generated admin token,
    then write the ready file."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}/_emulator/health", timeout=1):
                break
        except urllib.error.HTTPError:
            break  # any answer means the server is up (the control plane may be off)
        except OSError:
            time.sleep(0.02)
    else:
        return
    engine = make_engine(settings.sqlalchemy_url())
    # A plain row: an entity would make the ORM configure its mappers on this thread while the
    # server answers its first requests.
    users = table_of(User)
    with engine.connect() as connection:
        user = connection.execute(
            select(users.c.email, users.c.token).order_by(users.c.id).limit(1)
        ).first()
    engine.dispose()
    print(f"lse-emulator listening on {url}", flush=True)
    if user is not None:
        print(f"API token ({user.email}): {user.token}", flush=True)
    if generated_admin_token:
        print(f"Control plane admin token: {generated_admin_token}", flush=True)
    if ready_file:
        path = Path(ready_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(url + "\n")
        temporary.replace(path)


def serve(args: argparse.Namespace) -> int:
    overrides = {
        k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        print(f"lse-emulator: invalid setting: {error}", file=sys.stderr)
        return 2
    try:
        if settings.seed_file:  # refuse a bad seed file before starting anything
            configured_seed(settings)
    except SeedError as error:
        print(f"lse-emulator: {error}", file=sys.stderr)
        return 2
    generated_admin_token = None
    if needs_generated_admin_token(settings):
        # Reachable from the network: the control plane is closed unless a token was chosen.
        # Generated here, once, so that every worker process requires the same one.
        generated_admin_token = overrides["admin_token"] = secrets.token_urlsafe(32)
    # Worker processes build their settings from the environment, flags included.
    for name, value in overrides.items():
        os.environ[ENV_PREFIX + name.upper()] = str(value)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, so that asyncio sets TCP_NODELAY on accepted connections; without it each
    # keep-alive answer waits for the client's delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as error:
        print(
            f"lse-emulator: cannot bind {settings.host}:{settings.port}: {error}", file=sys.stderr
        )
        return 2
    # Serving: the schema prepared while importing is this database's (app.early).
    early.confirm(settings.sqlalchemy_url(), demo=settings.seed_file is None)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    config = ServerConfig(
        "app.main:create_app",
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        limit_concurrency=settings.max_connections,
        factory=True,
        workers=args.workers,
        log_level=args.log_level,
        log_config=_log_config(args.log_level),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    stop = threading.Event()
    threading.Thread(
        target=_announce,
        args=(url, settings, args.ready_file, stop, generated_admin_token),
        daemon=True,
    ).start()
    try:
        if args.workers > 1:
            resume_collection()  # the supervisor serves nothing: it has no start-up to wait for
            Multiprocess(config, sockets=[sock]).run()
            return 0
        server = Server(config)
        # Once shut down, uvicorn raises again the signal that stopped it, which would kill
        # the process (exit -15 for SIGTERM); a graceful stop is a normal exit, so the
        # handlers it restores before doing so let serve() return.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda *_: None)
        server.run(sockets=[sock])
        return 0 if server.started else 1
    finally:
        stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lse-emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the emulator")
    _add_setting_flags(serve_parser)
    serve_parser.add_argument("--ready-file", help="write the URL to this file once serving")
    serve_parser.add_argument("--workers", type=int, default=1, help="server processes")
    serve_parser.add_argument("--log-level", default="info")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
