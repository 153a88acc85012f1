"""The emulator's own control plane, everything under /_emulator: not part of Label Studio's API."""

import app.routing  # noqa: F401  (before any route: FastAPI's check of pydantic.v1 models)
