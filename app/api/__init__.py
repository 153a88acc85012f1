"""The Label Studio API, one module per resource."""

import app.routing  # noqa: F401  (before any route: FastAPI's check of pydantic.v1 models)
