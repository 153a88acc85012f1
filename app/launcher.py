"""The ``lse-emulator`` command's entry point: the command line (app.cli), started with the
garbage collector paused."""

import gc
import sys

from app import early


def main() -> int:
    # A start builds some 200,000 objects that live as long as the process (modules, classes,
    # models, routes) and next to no garbage, and the collector walked them again and again:
    # 0.1 s of a start's CPU. The server resumes it once started, with those objects frozen
    # out of its passes (app.server.Server).
    gc.disable()
    # A fresh PostgreSQL database gets its schema while the server imports (app.early).
    early.begin(sys.argv[1:])
    try:
        from app.cli import main as command_line

        return command_line()
    finally:
        early.abandon()  # if the command never confirmed it
