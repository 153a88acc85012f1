"""Settings: one class, environment variables prefixed ``LSE_EMULATOR_``."""

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models import MAX_ID

ENV_PREFIX = "LSE_EMULATOR_"


class PolicyFields(BaseModel):
    """The lifecycle policy: settings at start, changeable at run time (``PUT /_emulator/policy``)."""

    # Seconds a new run waits in Pending before it starts.
    queue_delay_seconds: float = Field(default=2.0, ge=0, le=86400)
    # Simulated inference speed of an InProgress run.
    tasks_per_second: float = Field(default=20.0, ge=0.001, le=1_000_000)
    # Tasks predicted per lifecycle step; each step updates the run's totals.
    batch_size: int = Field(default=10, ge=1, le=100_000)
    # Size of the Sample subset when a run gives no sample_subset_size.
    sample_subset_size: int = Field(default=20, ge=0, le=MAX_ID)
    # A run ends Failed when its share of failed predictions is above this.
    failure_threshold: float = Field(default=0.5, ge=0, le=1)
    # Seed of the deterministic choices (sample order, correctness, failures).
    random_seed: int = Field(default=0, ge=0, le=MAX_ID)
    # Who makes a new run's predictions: "simulated" (the emulator) or "external" (a worker
    # posting them through the batch endpoints); X-Emulator-Inference on the create chooses too.
    inference_mode: Literal["simulated", "external"] = "simulated"


def environment_values(names: Any) -> dict[str, str]:
    """The settings named that the environment sets: ``LSE_EMULATOR_<NAME>``, in any case (the
    last one wins when several spellings are set), as text for the model to validate."""
    environment = {key.lower(): value for key, value in os.environ.items()}
    prefix = ENV_PREFIX.lower()
    return {name: environment[prefix + name] for name in names if prefix + name in environment}


class Settings(PolicyFields):
    """Every knob of the emulator; each has a default so ``Settings()`` always works. Values
    given as arguments win over the environment's.

    A plain model reading the environment itself: every setting is one scalar, and
    pydantic-settings (imported for this alone, its sources for .env files, secrets, command
    lines and three clouds' vaults included) cost 11 ms of a start's CPU."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**(environment_values(type(self).model_fields) | values))

    # Interface the server binds to.
    host: str = "127.0.0.1"
    # TCP port; 0 picks a free one and prints it.
    port: int = Field(default=8080, ge=0, le=65535)
    # Directory holding the embedded SQLite database.
    data_dir: Path = Path("data")
    # SQLAlchemy URL; empty means SQLite in data_dir. PostgreSQL: postgresql+psycopg://...
    database_url: str = ""
    # Seed document (YAML or JSON) loaded into an empty database; empty means the built-in demo.
    seed_file: Path | None = None
    # Request bodies above this many bytes are refused with 413 before they are read whole.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Seconds a client has to send a request's headers, from its first byte (or from connecting).
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Seconds a client has to send a request's body once its headers have arrived.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Connections one server process holds at once; a request beyond that is answered 503.
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    # Request log lines: "text" (key=value) or "json" (one JSON object per line).
    log_format: Literal["text", "json"] = "text"
    # Version string reported in every error envelope, as Label Studio reports its own.
    server_version: str = "1.23.2"

    # How often the background worker looks for due lifecycle steps, in seconds.
    worker_interval_seconds: float = Field(default=0.1, gt=0)

    # Serve the control plane under /_emulator/ (off: every /_emulator/ path is a 404).
    control_enabled: bool = True
    # Token the control plane and /metrics require ("Authorization: Token <it>"); empty on a
    # non-loopback host means one is generated at start and printed.
    admin_token: str = ""
    # How many recent API requests the journal (/_emulator/requests) keeps.
    journal_size: int = Field(default=1000, ge=1, le=1_000_000)

    # Lifetime of personal access (refresh) tokens created through /api/token/, in days.
    refresh_token_days: int = Field(default=365, ge=1)
    # Lifetime of access tokens obtained from /api/token/refresh/, in seconds.
    access_token_seconds: int = Field(default=300, ge=1)

    def sqlalchemy_url(self) -> str:
        """The database URL to use: the configured one, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lse-emulator.sqlite3').resolve()}"


def is_loopback(host: str) -> bool:
    """Whether an address to bind is reachable from this machine only (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def needs_generated_admin_token(settings: Settings) -> bool:
    """A server reachable from the network never runs with its control plane open."""
    return not settings.admin_token and not is_loopback(settings.host)
