"""Fault rules: which Label Studio API requests the emulator answers with an error, late, or not
at all. Rules live in the database and their counters move atomically, so that every process
sharing it honours ``times`` and ``after`` together."""

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from app.db import get_by_id
from app.errors import NotFound, ValidationFailed
from app.models import FaultRule, Organization, User, table_of
from app.seed import StrictModel

FAULT_STATUSES = (408, 409, 429, 500, 502, 503, 504)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_DELAY_MS = 60_000
MAX_COUNT = 2**31 - 1


class FaultRuleRequest(StrictModel):
    """A fault rule as POST /_emulator/faults takes it."""

    method: Literal[METHODS] | None = None  # type: ignore[valid-type]  # a tuple of literals
    path: str = Field(min_length=1, max_length=1000, pattern=r"^/")
    status: Literal[FAULT_STATUSES] | None = None  # type: ignore[valid-type]
    delay_ms: int | None = Field(default=None, ge=1, le=MAX_DELAY_MS, strict=True)
    drop: bool = Field(default=False, strict=True)
    retry_after: int | None = Field(default=None, ge=0, le=86_400, strict=True)
    times: int | None = Field(default=None, ge=1, le=MAX_COUNT, strict=True)
    probability: float | None = Field(default=None, ge=0, le=1)
    after: int = Field(default=0, ge=0, le=MAX_COUNT, strict=True)
    user: int | None = Field(default=None, ge=1, le=MAX_COUNT, strict=True)
    organization: int | None = Field(default=None, ge=1, le=MAX_COUNT, strict=True)

    @model_validator(mode="after")
    def _one_effect(self) -> "FaultRuleRequest":
        if self.status is None and self.delay_ms is None and not self.drop:
            raise ValueError("give status, delay_ms or drop: true")
        if self.drop and self.status is not None:
            raise ValueError("status and drop: true exclude each other")
        if self.retry_after is not None and self.status not in (429, 503):
            raise ValueError("retry_after goes with status 429 or 503")
        return self


def _field_errors(request: FaultRuleRequest, session: Session) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if request.user is not None and get_by_id(session, User, request.user) is None:
        errors["user"] = [f'Invalid pk "{request.user}" - object does not exist.']
    if (
        request.organization is not None
        and get_by_id(session, Organization, request.organization) is None
    ):
        errors["organization"] = [f'Invalid pk "{request.organization}" - object does not exist.']
    return errors


def add_rule(session: Session, request: FaultRuleRequest) -> FaultRule:
    """Store a rule (its user and organization must exist)."""
    errors = _field_errors(request, session)
    if errors:
        raise ValidationFailed(errors)
    rule = FaultRule(
        **request.model_dump(exclude={"user", "organization"}),
        user_id=request.user,
        organization_id=request.organization,
    )
    session.add(rule)
    session.flush()
    return rule


def list_rules(session: Session) -> list[FaultRule]:
    return list(session.scalars(select(FaultRule).order_by(col(FaultRule.id))))


def delete_rule(session: Session, rule_id: int) -> None:
    rule = get_by_id(session, FaultRule, rule_id)
    if rule is None:
        raise NotFound("FaultRule")
    session.delete(rule)


def delete_rules(session: Session) -> int:
    """Remove every rule; answers how many there were."""
    result = session.execute(delete(FaultRule))
    return int(getattr(result, "rowcount", 0) or 0)


@lru_cache(maxsize=256)
def path_pattern(glob: str) -> re.Pattern[str]:
    """A path glob as a regular expression: ``*`` is any run of characters within one path
    segment (no ``/``), ``**`` any run including ``/``, ``?`` one character other than ``/``;
    everything else stands for itself."""
    parts: list[str] = []
    index = 0
    while index < len(glob):
        if glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif glob[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def draw(seed: int, rule_id: int, match: int) -> float:
    """A uniform number in [0, 1) fixed by (random seed, rule, the rule's match count)."""
    digest = hashlib.blake2b(f"{seed}:fault:{rule_id}:{match}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Caller:
    user_id: int
    organization_id: int


@dataclass(frozen=True)
class Fault:
    """A rule that fired on a request, with what it does."""

    rule_id: int
    status: int | None
    delay_ms: int | None
    drop: bool
    retry_after: int | None

    @property
    def label(self) -> str:
        """The metrics label of what the request got: its status, "drop" or "delay"."""
        if self.drop:
            return "drop"
        return str(self.status) if self.status is not None else "delay"


def candidates(session: Session, method: str, path: str) -> list[FaultRule]:
    """The rules whose method and path match a request, in id order."""
    rules = session.scalars(
        select(FaultRule)
        .where(or_(col(FaultRule.method).is_(None), col(FaultRule.method) == method))
        .order_by(col(FaultRule.id))
    )
    return [rule for rule in rules if path_pattern(rule.path).match(path)]


def scoped(rule: FaultRule) -> bool:
    return rule.user_id is not None or rule.organization_id is not None


def fire(
    session: Session, rules: list[FaultRule], caller: Caller | None, seed: int
) -> Fault | None:
    """The first of the matching rules that fires for this request, counting it; None if none.

    Each matching rule's match count moves first (``after`` lets that many through, the draw of
    ``probability`` depends on it); the fired count moves only while below ``times``, in one
    conditional UPDATE, so that concurrent processes never fire a rule more than ``times``."""
    table = table_of(FaultRule)
    for rule in rules:
        if rule.user_id is not None and (caller is None or caller.user_id != rule.user_id):
            continue
        if rule.organization_id is not None and (
            caller is None or caller.organization_id != rule.organization_id
        ):
            continue
        if rule.times is not None and rule.fired >= rule.times:
            continue  # spent (as last read): no need to take a write lock for it
        match = session.execute(
            update(table)
            .where(table.c.id == rule.id)
            .values(matched=table.c.matched + 1)
            .returning(table.c.matched)
        ).scalar()
        if match is None or match <= rule.after:
            continue
        if rule.probability is not None and draw(seed, _id(rule), match) >= rule.probability:
            continue
        limit = or_(table.c.times.is_(None), table.c.fired < table.c.times)
        fired = session.execute(
            update(table)
            .where(table.c.id == rule.id, limit)
            .values(fired=table.c.fired + 1)
            .returning(table.c.fired)
        ).scalar()
        if fired is None:
            continue
        return Fault(_id(rule), rule.status, rule.delay_ms, rule.drop, rule.retry_after)
    return None


def _id(rule: FaultRule) -> int:
    assert rule.id is not None  # read from the database
    return rule.id


def rule_body(rule: FaultRule) -> dict[str, Any]:
    """A rule as the control plane shows it, with its counters."""
    return {
        "id": rule.id,
        "method": rule.method,
        "path": rule.path,
        "status": rule.status,
        "delay_ms": rule.delay_ms,
        "drop": rule.drop,
        "retry_after": rule.retry_after,
        "times": rule.times,
        "probability": rule.probability,
        "after": rule.after,
        "user": rule.user_id,
        "organization": rule.organization_id,
        "matched": rule.matched,
        "fired": rule.fired,
    }
