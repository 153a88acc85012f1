"""Dependencies shared by the Label Studio API routes."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import and_, asc, desc
from sqlmodel import Session, select

from app.auth import CurrentUserDep
from app.errors import not_found
from app.lifecycle.clock import Clock
from app.models import MAX_ID, Project, Prompt, PromptVersion, User
from app.validation import parse_body


class Body:
    """A parsed request body and whether it came form-encoded."""

    def __init__(self, data: Any, form: bool) -> None:
        self.data = data
        self.form = form


async def request_body(request: Request, _user: CurrentUserDep) -> Body:
    # Depends on the user so that authentication always runs before the body is read.
    return Body(*await parse_body(request))


async def public_body(request: Request) -> Body:
    return Body(*await parse_body(request))


BodyDep = Annotated[Body, Depends(request_body)]
PublicBodyDep = Annotated[Body, Depends(public_body)]


def request_body_schema(model: type) -> dict[str, Any]:
    """An OpenAPI requestBody: the model as JSON, form-encoded or multipart, as Label Studio takes."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    media = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
    return {"requestBody": {"required": True, "content": {m: {"schema": ref} for m in media}}}


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


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
                    PromptVersion.prompt_id == Prompt.id,
                    # an id beyond the column names no version (0 is never an id)
                    PromptVersion.id == (version_id if 0 < version_id <= MAX_ID else 0),
                ),
            )
            .where(Prompt.id == prompt_id)
        ).first()
    if found is None or found[0].organization_id != user.organization_id:
        raise not_found("ModelInterface")
    prompt, version = found
    if version is None:
        raise not_found("ThirdPartyModelVersion")
    return prompt, version


def ordering_terms(ordering: str | None, columns: dict[str, Any]) -> list:
    """DRF's OrderingFilter: comma-separated fields, '-' for descending, unknown ones dropped.

    A field named again is dropped too: it cannot change the order, and thousands of repeats
    would exceed the database's limit on ORDER BY terms."""
    terms, seen = [], set()
    for term in (ordering or "").split(","):
        term = term.strip()
        name = term.removeprefix("-")
        column = columns.get(name)
        if column is not None and name not in seen:
            seen.add(name)
            terms.append(desc(column) if term.startswith("-") else asc(column))
    return terms


def own_project(session: Session, user: User) -> Callable[[int], bool]:
    """Whether an id names a project of the user's organization (others do not exist for them)."""

    def resolve(pk: int) -> bool:
        project = session.get(Project, pk)
        return project is not None and project.organization_id == user.organization_id

    return resolve
