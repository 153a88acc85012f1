"""The Dockerfile's steps, run without a Docker engine: build context, install, serve, healthcheck."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_runs_as_a_non_root_user_with_a_volume_a_port_and_exec_form_commands():
    steps = dict(instructions())
    assert steps["FROM"].startswith("python:3.11-slim")
    assert steps["USER"] not in ("root", "0")
    assert steps["EXPOSE"] == "8080"
    assert json.loads(steps["VOLUME"]) == ["/data"]
    assert json.loads(steps["CMD"]) == ["lse-emulator", "serve"]
    healthcheck = steps["HEALTHCHECK"]
    assert json.loads(healthcheck[healthcheck.index("CMD") + 3 :])[0] == "python"


def test_copied_files_install_and_serve_with_the_image_settings(tmp_path):
    # The build context holds only what the Dockerfile copies.
    context = tmp_path / "context"
    context.mkdir()
    for kind, arguments in instructions():
        if kind == "COPY":
            *sources, _ = arguments.split()
            for source in sources:
                path = ROOT / source
                copy = shutil.copytree if path.is_dir() else shutil.copy
                copy(path, context / source)
    # pip install . (into a directory of its own rather than the image's site-packages).
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(site), str(context)],
        check=True,
    )  # fmt: skip
    steps = instructions()
    env = {k: v for kind, args in steps if kind == "ENV" for k, v in _assignments(args)}
    env.update(
        PYTHONPATH=str(site),
        LSE_EMULATOR_PORT="0",
        LSE_EMULATOR_DATA_DIR=str(tmp_path / "data"),
        PATH=os.environ["PATH"],
    )
    ready = tmp_path / "ready"
    # CMD ["lse-emulator", "serve"], with the installed package only (run outside the checkout).
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--ready-file", str(ready)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = ready.read_text().strip().rsplit(":", 1)[1]
        healthcheck = dict(steps)["HEALTHCHECK"]
        command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
        command = [sys.executable, *command[1:]]
        command[-1] = command[-1].replace(":8080/", f":{port}/")
        assert subprocess.run(command, env=env, timeout=30).returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (site / "migrations" / "versions").is_dir()
    assert (site / "app" / "demo_seed.yaml").is_file()
    # The scripts a fresh PostgreSQL database gets while the command imports (app.early).
    assert (site / "app" / "early_schema.sql").is_file()
    assert (site / "app" / "early_demo.sql").is_file()
    # The console and the docs pages are served from files of the package, never from a CDN.
    static = site / "app" / "control" / "static"
    for asset in (
        "VENDORED.md",
        "console/index.html",
        "console/console.js",
        "console/console.css",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "vendor/swagger-ui/LICENSE",
        "vendor/redoc/redoc.standalone.js",
        "vendor/redoc/LICENSE",
    ):
        assert (static / asset).is_file(), asset


def _assignments(arguments: str) -> list[tuple[str, str]]:
    return [tuple(pair.split("=", 1)) for pair in arguments.split() if "=" in pair]
