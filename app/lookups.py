"""Finding a user's objects as Label Studio does: objects of another organization do not exist
for them (a 404 behind a URL, an Invalid pk in a body), and DRF's ordering of lists."""

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, asc, bindparam, desc
from sqlalchemy import select as core_select
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import OrderByList, UnaryExpression
from sqlmodel import Session, col, select

from app.db import SHARED_READS
from app.errors import NotFound
from app.models import MAX_ID, Project, Prompt, PromptVersion, Task, User, table_of


def prompt_version(
    session: Session, user: User, prompt_id: int, version_id: int
) -> tuple[Prompt, PromptVersion]:
    """A prompt of the user's organization and one of its versions, or Label Studio's 404."""
    found = None
    if 0 < prompt_id <= MAX_ID:
        found = session.exec(
            select(Prompt, PromptVersion)
            .outerjoin(
                PromptVersion,
                and_(
                    col(PromptVersion.prompt_id) == Prompt.id,
                    # an id beyond the column names no version (0 is never an id)
                    col(PromptVersion.id) == (version_id if 0 < version_id <= MAX_ID else 0),
                ),
            )
            .where(Prompt.id == prompt_id)
        ).first()
    if found is None or found[0].organization_id != user.organization_id:
        raise NotFound("ModelInterface")
    prompt, version = found
    if version is None:
        raise NotFound("ThirdPartyModelVersion")
    return prompt, version


_PROMPTS = table_of(Prompt)
_VERSIONS = table_of(PromptVersion)
_PROJECTS = table_of(Project)
_VERSION_OF_PROMPT = (
    core_select(_PROMPTS.c.organization_id, _VERSIONS.c.id)
    .select_from(
        _PROMPTS.outerjoin(
            _VERSIONS,
            and_(_VERSIONS.c.prompt_id == _PROMPTS.c.id, _VERSIONS.c.id == bindparam("version")),
        )
    )
    .where(_PROMPTS.c.id == bindparam("prompt"))
)
_PROJECT_ORGANIZATION = core_select(_PROJECTS.c.organization_id).where(
    _PROJECTS.c.id == bindparam("project")
)


def _shared(session: Session | Connection, name: str) -> dict[Any, Any]:
    """Rows already read, by key: kept in a session of shared reads, else for one use."""
    if isinstance(session, Session) and session.info.get(SHARED_READS):
        known: dict[Any, Any] = session.info.setdefault(name, {})
        return known
    return {}


def check_prompt_version(session: Session, user: User, prompt_id: int, version_id: int) -> None:
    """``prompt_version`` for a caller that needs only the ids checked: one plain-row query,
    once for the same ids in a session of shared reads."""
    found = None
    if 0 < prompt_id <= MAX_ID:
        version = version_id if 0 < version_id <= MAX_ID else 0
        known = _shared(session, "versions_of_prompts")
        if (prompt_id, version) not in known:
            known[prompt_id, version] = (
                session.connection()
                .execute(_VERSION_OF_PROMPT, {"prompt": prompt_id, "version": version})
                .first()
            )
        found = known[prompt_id, version]
    if found is None or found[0] != user.organization_id:
        raise NotFound("ModelInterface")
    if found[1] is None:
        raise NotFound("ThirdPartyModelVersion")


def ordering_terms(
    ordering: str | None, columns: Mapping[str, Mapped[Any]]
) -> list[OrderByList | UnaryExpression[Any]]:
    """DRF's OrderingFilter: comma-separated fields, '-' for descending, unknown ones dropped.

    A field named again is dropped too: it cannot change the order, and thousands of repeats
    would exceed the database's limit on ORDER BY terms."""
    terms: list[OrderByList | UnaryExpression[Any]] = []
    seen: set[str] = set()
    for term in (ordering or "").split(","):
        term = term.strip()
        name = term.removeprefix("-")
        column = columns.get(name)
        if column is not None and name not in seen:
            seen.add(name)
            terms.append(desc(column) if term.startswith("-") else asc(column))
    return terms


def _connection(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def own_project(session: Session | Connection, user: User) -> Callable[[int], bool]:
    """Whether an id names a project of the user's organization (others do not exist for them);
    read through a session or a connection."""

    known = _shared(session, "project_organizations")

    def resolve(pk: int) -> bool:
        if pk not in known:
            known[pk] = _connection(session).execute(_PROJECT_ORGANIZATION, {"project": pk}).first()
        found = known[pk]
        return found is not None and found[0] == user.organization_id

    return resolve


_TASKS = table_of(Task)
_TASK_ORGANIZATION = (
    core_select(_PROJECTS.c.organization_id)
    .select_from(_TASKS.join(_PROJECTS, _PROJECTS.c.id == _TASKS.c.project_id))
    .where(_TASKS.c.id == bindparam("task"))
)


def own_task_id(session: Session | Connection, user: User) -> Callable[[int], bool]:
    """Whether an id names a task of a project of the user's organization (one plain-row
    query, through a session or a connection)."""

    def resolve(pk: int) -> bool:
        found = _connection(session).execute(_TASK_ORGANIZATION, {"task": pk}).first()
        return found is not None and found[0] == user.organization_id

    return resolve
