"""The lifecycle policy: the settings that shape runs, changeable while the server runs."""

from typing import Any, Optional

from pydantic import ConfigDict, create_model
from sqlmodel import Session

from app.config import PolicyFields, Settings
from app.db import emulator_state


class Policy(PolicyFields):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls.model_validate(settings.model_dump(include=set(cls.model_fields)))

    @classmethod
    def load(cls, session: Session) -> "Policy":
        return cls.model_validate(emulator_state(session).policy)

    @classmethod
    def shared(cls, stored: dict[str, Any]) -> "Policy":
        """The policy of a stored document, validated once per distinct document: the same
        instance is answered to every caller, which must not change it."""
        last = _last_shared
        if last is not None and last[0] == stored:
            return last[1]
        policy = cls.model_validate(stored)
        _remember(stored, policy)
        return policy


_last_shared: tuple[dict[str, Any], Policy] | None = None


def _remember(stored: dict[str, Any], policy: Policy) -> None:
    global _last_shared
    _last_shared = (stored, policy)


# A change of the policy: any of its fields, each checked once merged into the whole policy.
# Optional[...] rather than "| None": a field's annotation is typed as possibly absent.
_changes: dict[str, Any] = {
    name: (Optional[field.annotation], None)  # noqa: UP045
    for name, field in Policy.model_fields.items()
}
PolicyChange = create_model("PolicyChange", __config__=ConfigDict(extra="forbid"), **_changes)
