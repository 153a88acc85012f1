"""The command line: ``lse-emulator serve``."""

import argparse
import logging
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlmodel import Session, select

from app.config import Settings
from app.main import create_app
from app.models import User
from app.seed import SeedError


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


def _print_banner(url: str, app) -> None:
    with Session(app.state.engine) as session:
        user = session.exec(select(User).order_by(User.id)).first()
    print(f"lse-emulator listening on {url}", flush=True)
    if user is not None:
        print(f"API token ({user.email}): {user.token}", flush=True)


def serve(args: argparse.Namespace) -> int:
    overrides = {
        k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        print(f"lse-emulator: invalid setting: {error}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as error:
        print(
            f"lse-emulator: cannot bind {settings.host}:{settings.port}: {error}", file=sys.stderr
        )
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("lse_emulator")
    logger.addHandler(handler)
    logger.setLevel(args.log_level.upper())
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level=args.log_level, access_log=False, timeout_graceful_shutdown=10
        )
    )

    def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.01)
        _print_banner(url, app)
        if args.ready_file:
            path = Path(args.ready_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(url + "\n")
            temporary.replace(path)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except SeedError as error:
        print(f"lse-emulator: {error}", file=sys.stderr)
        return 2
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lse-emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the emulator")
    _add_setting_flags(serve_parser)
    serve_parser.add_argument("--ready-file", help="write the URL to this file once serving")
    serve_parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
