"""The lifecycle policy: the settings that shape runs, changeable while the server runs."""

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from app.config import Settings
from app.lifecycle.clock import emulator_state


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_delay_seconds: float = Field(ge=0, le=86400)
    tasks_per_second: float = Field(ge=0.001, le=1_000_000)
    batch_size: int = Field(ge=1, le=100_000)
    sample_subset_size: int = Field(ge=0, le=2147483647)
    failure_threshold: float = Field(ge=0, le=1)
    random_seed: int = Field(ge=0, le=2**31 - 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls.model_validate(settings.model_dump(include=set(cls.model_fields)))

    @classmethod
    def load(cls, session: Session) -> "Policy":
        return cls.model_validate(emulator_state(session).policy)
