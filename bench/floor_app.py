"""The floor: the least a FastAPI server must do for the emulator's hottest requests.

It checks the Authorization header against a constant, validates the create body with a
pydantic model of the fields of ModelRunRequestRequest and answers it back (201) without
storing anything; GET on the same path answers a fixed list (``--list-file``, a JSON array,
e.g. the emulator's own answer), serialised on every request as the emulator does. With
``--bodies-file`` (a JSON object of path -> file), GET on each such path answers that file's
bytes as they are (a JSON body encoded beforehand), whatever the query. Served by uvicorn in one
process, on a pre-bound socket, the way ``lse-emulator serve`` does it (but with TCP_NODELAY on
its connections: see main()).

    python bench/floor_app.py --port 0 --ready-file /tmp/floor.ready [--list-file runs.json]
        [--bodies-file bodies.json]
"""

import argparse
import json
import socket
import threading
import time
import urllib.request
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

TOKEN = "Token acme-ada-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
RUNS = "/api/prompts/{prompt_id}/versions/{version_id}/inference-runs"
INT32 = {"ge": -2147483648, "le": 2147483647}


class Subset(StrEnum):
    ALL = "All"
    HAS_GT = "HasGT"
    SAMPLE = "Sample"
    CUSTOM = "Custom"


class RunRequest(BaseModel):
    """The fields of ModelRunRequestRequest in Label Studio's definition (the floor imports no app code)."""

    filters_json: Any | None = None
    job_id: str | None = Field(default=None, max_length=255)
    only_missing_predictions: bool = False
    organization: int | None = None
    predictions_updated_at: datetime | None = None
    project: int
    project_subset: Subset = Subset.HAS_GT
    sample_subset_size: int | None = Field(default=None, ge=0, le=2147483647)
    total_correct_predictions: int | None = Field(default=None, **INT32)
    total_predictions: int | None = Field(default=None, **INT32)
    total_tasks: int | None = Field(default=None, **INT32)


def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
    if authorization != TOKEN:
        raise HTTPException(401, "Invalid token.")


Authorized = Annotated[None, Depends(authorized)]


def create_app(runs: list[Any], bodies: dict[str, bytes] | None = None) -> FastAPI:
    app = FastAPI(title="floor")

    @app.post(RUNS, status_code=201)
    async def create(prompt_id: int, version_id: int, body: RunRequest, _: Authorized):
        return JSONResponse(body.model_dump(mode="json"), status_code=201)

    @app.get(RUNS)
    async def list_runs(prompt_id: int, version_id: int, _: Authorized):
        return JSONResponse(runs)

    for path, body in (bodies or {}).items():
        app.add_api_route(path, _fixed_answer(body), methods=["GET"])
    return app


def _fixed_answer(body: bytes):
    async def answer(_: Authorized):
        return Response(body, media_type="application/json")

    return answer


def _announce(name: str, url: str, ready_file: str | None) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=1):
                break
        except OSError:
            time.sleep(0.02)
    print(f"{name} listening on {url}", flush=True)
    if ready_file:
        path = Path(ready_file)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(url + "\n")
        temporary.replace(path)


def serve(app: FastAPI, name: str, host: str, port: int, ready_file: str | None, log_level: str):
    """uvicorn in one process on a pre-bound socket, as ``lse-emulator serve`` does."""
    # IPPROTO_TCP spelled out: accepted sockets inherit the listener's proto, and asyncio turns
    # TCP_NODELAY on only where it reads IPPROTO_TCP; with proto 0 every keep-alive response
    # waits ~40 ms on the client's delayed ACK (uvicorn issue #3149).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, timeout_graceful_shutdown=10
    )
    url = f"http://{bound_host}:{bound_port}"
    threading.Thread(target=_announce, args=(name, url, ready_file), daemon=True).start()
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ready-file")
    parser.add_argument("--list-file", help="JSON array answered by GET on the runs path")
    parser.add_argument(
        "--bodies-file", help="JSON object of path -> file whose bytes GET on that path answers"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    runs = json.loads(Path(args.list_file).read_text()) if args.list_file else []
    bodies = {}
    if args.bodies_file:
        files = json.loads(Path(args.bodies_file).read_text())
        bodies = {path: Path(file).read_bytes() for path, file in files.items()}
    serve(create_app(runs, bodies), "floor", args.host, args.port, args.ready_file, args.log_level)


if __name__ == "__main__":
    main()
