"""Prompts, their versions and few-shot examples; how many tasks of a subset already have
predictions of a version."""

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection, Engine, Select, and_, bindparam, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.api.inference_runs import QUERY_SUBSETS
from app.db import connected, single_read
from app.deps import (
    Body,
    BodyDep,
    CallerDep,
    ClockDep,
    CurrentUserDep,
    EngineDep,
    SessionDep,
)
from app.errors import NotFound, ValidationFailed
from app.lifecycle.bulk import Built, among_bound, ids_value
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.lifecycle.subsets import count, subset_query
from app.lookups import ordering_terms, own_project, prompt_version
from app.models import (
    MAX_ID,
    FewShotExample,
    ModelRun,
    Project,
    ProjectSubset,
    Prompt,
    PromptProject,
    PromptVersion,
    User,
    table_of,
)
from app.pagination import DEFAULT_PAGE_SIZE, Page, paginate
from app.render import (
    VERSION_COLUMNS,
    creators,
    few_shot_example,
    model_interface,
    model_interface_get,
    model_version,
    project,
    read_column,
    version_json,
)
from app.responses import JSONResponse
from app.routing import DeferredRoute
from app.validation import (
    BooleanField,
    CharField,
    ChoiceField,
    Field,
    IntegerField,
    JSONField,
    ListField,
    PrimaryKeyField,
    validate,
)
from app.workspace.projects import DEFAULTS, project_facts
from app.workspace.prompts import (
    LATEST_SCORED_RUN,
    PROVIDERS,
    SKILLS,
    annotation_results,
    annotation_task,
    associated_project_ids,
    compatible_projects_query,
    create_example,
    create_prompt,
    create_version,
    default_version_name,
    delete_example,
    delete_prompt,
    delete_version,
    duplicate_prompt,
    duplicate_version,
    examples_of,
    is_own_connection,
    is_own_prompt,
    own_example,
    own_prompt,
    own_task,
    preview,
    prompt_stats,
    reorder_examples,
    task_data,
    update_example,
    update_prompt,
    update_version,
    version_scores,
)

router = APIRouter(route_class=DeferredRoute, tags=["Prompts"], default_response_class=JSONResponse)


@router.get(
    "/api/prompts/{prompt_id}/versions/{version_id}/prediction-count",
    summary="✨ Get prediction count for a prompt version",
)
def prediction_count(
    prompt_id: int, version_id: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Return how many tasks in a subset already have predictions for a given version."""
    _, version = prompt_version(session, user, prompt_id, version_id)

    params = validate(
        {
            "project": PrimaryKeyField(required=True, resolve=own_project(session, user)),
            "project_subset": ChoiceField(
                choices=QUERY_SUBSETS, default=ProjectSubset.HAS_GT.value
            ),
            "sample_subset_size": IntegerField(min_value=0, allow_null=True),
        },
        dict(request.query_params),
        form=True,
    )
    policy = Policy.load(session)
    size = params.get("sample_subset_size")
    selection: dict[str, Any] = {
        "sample_size": policy.sample_subset_size if size is None else size,
    }
    subset = (params["project"], params["project_subset"])
    total = count(session, subset_query(*subset, **selection))
    missing = count(session, subset_query(*subset, **selection, missing_for_version=version.id))
    return JSONResponse(
        {"existing_predictions": total - missing, "tasks_to_run": missing, "total_tasks": total}
    )


# --- prompts workspace: prompts, versions, few-shot examples ---

PROMPTS = "/api/prompts/"
PROMPT = "/api/prompts/{id}/"
VERSIONS = "/api/prompts/{prompt_id}/versions"
VERSION = VERSIONS + "/{version_id}"
EXAMPLES = VERSION + "/few-shot-examples"
PROMPT_ORDERING: dict[str, Mapped[Any]] = {
    "id": col(Prompt.id),
    "title": col(Prompt.title),
    "created_at": col(Prompt.created_at),
    "updated_at": col(Prompt.updated_at),
    "skill_name": col(Prompt.skill_name),
}
VERSION_ORDERING: dict[str, Mapped[Any]] = {
    "id": col(PromptVersion.id),
    "title": col(PromptVersion.title),
    "created_at": col(PromptVersion.created_at),
    "updated_at": col(PromptVersion.updated_at),
    "provider": col(PromptVersion.provider),
    "provider_model_id": col(PromptVersion.provider_model_id),
}
EXAMPLE_ORDERING: dict[str, Mapped[Any]] = {
    "id": col(FewShotExample.id),
    "order": col(FewShotExample.order),
    "created_at": col(FewShotExample.created_at),
    "task": col(FewShotExample.task_id),
}
PROJECT_ORDERING: dict[str, Mapped[Any]] = {"id": col(Project.id), "title": col(Project.title)}
_PROMPTS = table_of(Prompt)
_PROMPT_PROJECTS_TABLE = table_of(PromptProject)
_PROJECTS = table_of(Project)
_VERSIONS = table_of(PromptVersion)
_USERS = table_of(User)
_RUNS = table_of(ModelRun)


def _own_organization(user: User) -> Field:
    return PrimaryKeyField(allow_null=True, resolve=lambda pk: pk == user.organization_id)


def prompt_fields(session: Session, user: User, partial: bool) -> dict[str, Field]:
    """The fields of ModelInterfaceRequest with DRF's rules; created_by is read-only."""
    return {
        "title": CharField(required=not partial, max_length=500),
        "description": CharField(allow_null=True, allow_blank=True),
        "skill_name": ChoiceField(choices=SKILLS),
        "input_fields": JSONField(),
        "output_classes": JSONField(),
        "organization": _own_organization(user),
        "associated_projects": ListField(child=PrimaryKeyField(resolve=own_project(session, user))),
    }


def version_fields(session: Session, user: User, partial: bool) -> dict[str, Field]:
    """The fields of ThirdPartyModelVersionRequest with DRF's rules."""
    return {
        "title": CharField(required=not partial, max_length=500),
        "prompt": CharField(required=not partial),
        "provider": ChoiceField(choices=PROVIDERS),
        "provider_model_id": CharField(required=not partial, max_length=255),
        "max_few_shot_examples": IntegerField(min_value=0, allow_null=True),
        "model_provider_connection": PrimaryKeyField(
            allow_null=True, resolve=lambda pk: is_own_connection(session, user, pk)
        ),
        "organization": _own_organization(user),
        "parent_model": PrimaryKeyField(resolve=lambda pk: is_own_prompt(session, user, pk)),
    }


def example_fields(session: Session, user: User, partial: bool) -> dict[str, Field]:
    """The fields of FewShotExampleRequest: a task of the organization and its annotation."""
    return {
        "task": PrimaryKeyField(
            required=not partial, resolve=lambda pk: own_task(session, user, pk) is not None
        ),
        "annotation": PrimaryKeyField(
            required=not partial, resolve=lambda pk: annotation_task(session, user, pk) is not None
        ),
        "order": IntegerField(min_value=0),
    }


def _page_url(request: Request) -> str:
    return str(request.url.replace(query=""))


def render_prompts_get(session: Session, prompts: Sequence[Any]) -> list[dict[str, Any]]:
    """Prompts (ORM objects or rows of read columns) as ModelInterfaceSerializerGET, with their
    creators, projects and counts."""
    ids = [p.id for p in prompts]
    users = creators(session, [p.created_by_id for p in prompts])
    projects: dict[int, list[dict[str, Any]]] = {pk: [] for pk in ids}
    for prompt_id, project_id, title in session.connection().execute(
        select(col(PromptProject.prompt_id), col(PromptProject.project_id), col(Project.title))
        .outerjoin(Project, col(Project.id) == col(PromptProject.project_id))
        .where(col(PromptProject.prompt_id).in_(ids))
        .order_by(col(PromptProject.project_id))
    ):
        projects[prompt_id].append({"id": project_id, "title": title})
    stats = prompt_stats(session.connection(), ids)
    return [
        model_interface_get(
            p,
            users.get(p.created_by_id) if p.created_by_id is not None else None,
            projects[p.id],
            stats[p.id],
        )
        for p in prompts
    ]


def render_prompt(session: Session, prompt: Prompt) -> dict[str, Any]:
    users = creators(session, [prompt.created_by_id])
    creator = users.get(prompt.created_by_id) if prompt.created_by_id is not None else None
    return model_interface(prompt, creator, associated_project_ids(session, [prompt.id])[prompt.id])


def render_versions(session: Session, versions: Sequence[Any]) -> list[dict[str, Any]]:
    """Versions (ORM objects or rows of read columns) as ThirdPartyModelVersion."""
    users = creators(session, [v.created_by_id for v in versions])
    scores = version_scores(session, [v.id for v in versions])
    return [
        model_version(
            v, users.get(v.created_by_id) if v.created_by_id is not None else None, scores[v.id]
        )
        for v in versions
    ]


def render_examples(session: Session, examples: Sequence[FewShotExample]) -> list[dict[str, Any]]:
    datas = task_data(session, [e.task_id for e in examples])
    results = annotation_results(session, [e.annotation_id for e in examples])
    return [
        few_shot_example(e, datas.get(e.task_id, {}), results.get(e.annotation_id, []))
        for e in examples
    ]


# A page of prompts is read as rows of these columns, each prompt with its creator.
_PROMPT_PAGE_COLUMNS = (
    *(
        read_column(_PROMPTS.c[name])
        for name in (
            "id", "title", "description", "created_at", "updated_at", "organization_id",
            "input_fields", "output_classes", "skill_name",
        )
    ),
    _USERS.c.id.label("creator_id"),
    _USERS.c.first_name,
    _USERS.c.last_name,
    _USERS.c.email,
    _USERS.c.username,
)  # fmt: skip
_PROMPT_PROJECTS = Built(
    lambda dialect: (
        select(
            _PROMPT_PROJECTS_TABLE.c.prompt_id,
            _PROMPT_PROJECTS_TABLE.c.project_id,
            _PROJECTS.c.title,
        )
        .select_from(
            _PROMPT_PROJECTS_TABLE.outerjoin(
                _PROJECTS, _PROJECTS.c.id == _PROMPT_PROJECTS_TABLE.c.project_id
            )
        )
        .where(among_bound(dialect, _PROMPT_PROJECTS_TABLE.c.prompt_id, "prompts"))
        .order_by(_PROMPT_PROJECTS_TABLE.c.project_id)
    )
)


def _prompts_condition(search: str | None) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = _PROMPTS.c.organization_id == bindparam("organization")
    for term in (search or "").replace(",", " ").split():
        condition = and_(
            condition,
            or_(
                func.lower(_PROMPTS.c.title).contains(term.lower(), autoescape=True),
                func.lower(_PROMPTS.c.description).contains(term.lower(), autoescape=True),
            ),
        )
    return condition


def _prompts_queries(search: str | None, ordering: str | None) -> tuple[Select[Any], Select[Any]]:
    """The list's count and page statements (the organization, offset and limit bound when
    they run); without search terms built once for each ordering."""
    if not (search or "").replace(",", " ").split():
        return _prompts_queries_of(ordering)
    return _build_prompts_queries(search, ordering)


@lru_cache(maxsize=64)
def _prompts_queries_of(ordering: str | None) -> tuple[Select[Any], Select[Any]]:
    return _build_prompts_queries(None, ordering)


def _build_prompts_queries(
    search: str | None, ordering: str | None
) -> tuple[Select[Any], Select[Any]]:
    condition = _prompts_condition(search)
    count = select(func.count()).select_from(_PROMPTS).where(condition)
    page = (
        select(*_PROMPT_PAGE_COLUMNS)
        .select_from(_PROMPTS.outerjoin(_USERS, _USERS.c.id == _PROMPTS.c.created_by_id))
        .where(condition)
        .order_by(*ordering_terms(ordering, PROMPT_ORDERING), _PROMPTS.c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return count, page


def list_prompts_page(
    bind: Engine | Connection, user: User, url: str, params: dict[str, str]
) -> dict[str, Any]:
    """A page of the organization's prompts as ModelInterfaceSerializerGET, with their
    creators, projects and counts: rows of five statements, no session; given an engine, in
    one transaction of their own (given a connection, in the connection's)."""
    count_query, page_query = _prompts_queries(params.get("search"), params.get("ordering"))
    organization = {"organization": user.organization_id}
    with connected(bind) as connection:
        page = Page(connection.execute(count_query, organization).scalar_one(), url, params,
                    DEFAULT_PAGE_SIZE)  # fmt: skip
        bounds = {"limit": page.size, "offset": page.offset}
        rows = connection.execute(page_query, organization | bounds).all()
        ids = [row[0] for row in rows]
        projects: dict[int, list[dict[str, Any]]] = {pk: [] for pk in ids}
        dialect = connection.dialect.name
        for prompt_id, project_id, title in connection.execute(
            _PROMPT_PROJECTS(dialect), {"prompts": ids_value(dialect, ids)}
        ).all():
            projects[prompt_id].append({"id": project_id, "title": title})
        stats = prompt_stats(connection, ids)
    results = []
    for (pk, title, description, created_at, updated_at, organization_id, input_fields,
         output_classes, skill_name, creator_id, first_name, last_name, email, username) in rows:  # fmt: skip
        creator = None
        if creator_id is not None:
            creator = {"id": creator_id, "first_name": first_name, "last_name": last_name,
                       "email": email, "username": username, "avatar": None}  # fmt: skip
        results.append(
            {
                "id": pk,
                "created_by": creator,
                "title": title,
                "description": description,
                "created_at": created_at,
                "updated_at": updated_at,
                "organization": organization_id,
                "input_fields": input_fields,
                "output_classes": output_classes,
                "skill_name": skill_name,
                "associated_projects": projects[pk],
            }
            | stats[pk]
        )
    return page.answer(results)


@router.get(PROMPTS, summary="✨ List prompts")
async def list_prompts(request: Request, caller: CallerDep, engine: EngineDep) -> Response:
    """List all prompts."""
    url, params = _page_url(request), dict(request.query_params)
    return await caller.answer(
        engine, lambda bind, user: JSONResponse(list_prompts_page(bind, user, url, params))
    )


@router.post(PROMPTS, status_code=201, summary="✨ Create prompt")
def create_prompt_route(
    user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a new prompt."""
    values = validate(prompt_fields(session, user, partial=False), body.data, form=body.form)
    prompt = create_prompt(session, user, values, clock)
    return JSONResponse(render_prompt(session, prompt), status_code=201)


@router.get("/api/prompts/compatible-projects", summary="✨ List projects compatible with prompt")
def compatible_projects(
    request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Retrieve a list of compatible project for prompt."""
    params = dict(request.query_params)
    skill = params.get("project_type") or SKILLS[0]
    errors: dict[str, list[str]] = {}
    if skill not in SKILLS:
        errors["project_type"] = [
            f"Select a valid choice. {skill} is not one of the available choices."
        ]
    raw_ids = [i.strip() for v in request.query_params.getlist("ids") for i in v.split(",")]
    ids = None
    if raw_ids != [] and raw_ids != [""]:
        if not all(re.fullmatch(r"-?\d{1,12}", i) for i in raw_ids if i):
            errors["ids"] = ["Enter a number."]
        else:
            ids = [int(i) for i in raw_ids if i]
    if errors:
        raise ValidationFailed(errors)
    query = compatible_projects_query(session, user, skill, ids, params.get("title"))
    if params.get("archived") in BooleanField.TRUE or params.get("workspaces"):
        query = query.where(col(Project.id).is_(None))  # no project is in a workspace here
    query = query.order_by(
        *ordering_terms(params.get("ordering"), PROJECT_ORDERING), col(Project.id)
    )

    def render(rows: Sequence[Project]) -> list[dict[str, Any]]:
        facts = project_facts(session, list(rows))
        return [project(row, facts[row.id], DEFAULTS, "list") for row in rows]

    return JSONResponse(paginate(session, query, _page_url(request), params, render))


@router.get(PROMPT, summary="✨ Get prompt")
def get_prompt(id: int, user: CurrentUserDep, session: SessionDep) -> JSONResponse:
    """Retrieve a specific prompt."""
    prompt = own_prompt(session, user, id)
    return JSONResponse(render_prompts_get(session, [prompt])[0])


def _change_prompt(
    id: int, user: User, body: Body, session: Session, clock: Clock, partial: bool
) -> JSONResponse:
    prompt = own_prompt(session, user, id)
    values = validate(prompt_fields(session, user, partial), body.data, form=body.form)
    return JSONResponse(render_prompt(session, update_prompt(session, prompt, values, clock)))


@router.patch(PROMPT, summary="✨ Update prompt")
def patch_prompt(
    id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Update a specific prompt by ID."""
    return _change_prompt(id, user, body, session, clock, partial=True)


@router.put(PROMPT, summary="✨ Put prompt")
def put_prompt(
    id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Overwrite a specific prompt by ID."""
    return _change_prompt(id, user, body, session, clock, partial=False)


@router.delete(PROMPT, status_code=204, summary="✨ Delete prompt")
def delete_prompt_route(id: int, user: CurrentUserDep, session: SessionDep) -> Response:
    """Delete a prompt by ID"""
    delete_prompt(session, own_prompt(session, user, id))
    return Response(status_code=204)


@router.post(PROMPT + "duplicate/", summary="✨ Duplicate a prompt")
def duplicate_prompt_route(
    id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Copy a prompt with its versions and their few-shot examples."""
    prompt = own_prompt(session, user, id)
    values = validate(prompt_fields(session, user, partial=True), body.data, form=body.form)
    return JSONResponse(
        render_prompt(session, duplicate_prompt(session, user, prompt, values, clock))
    )


@router.get(
    "/api/prompts/{id}/get-default-version-name", summary="✨ Get default prompt version name"
)
def get_default_version_name(id: int, user: CurrentUserDep, session: SessionDep) -> JSONResponse:
    """Get default prompt version name"""
    prompt = own_prompt(session, user, id)
    return JSONResponse({"default_model_version_name": default_version_name(session, prompt)})


@lru_cache(maxsize=64)
def _versions_query(ordering: str | None) -> Select[Any]:
    """The versions list's one statement for an ordering, built once (the prompt bound when it
    runs): the prompt's organization, then each version with its creator and the totals of
    its scored run; a prompt without versions is one row of nulls after its organization."""
    return (
        core_select(
            _PROMPTS.c.organization_id.label("prompt_organization"),
            *(read_column(_VERSIONS.c[name]) for name in VERSION_COLUMNS),
            _USERS.c.id.label("creator_id"),
            _USERS.c.first_name,
            _USERS.c.last_name,
            _USERS.c.email,
            _USERS.c.username,
            _RUNS.c.total_predictions,
            _RUNS.c.total_correct_predictions,
        )
        .select_from(
            _PROMPTS.outerjoin(_VERSIONS, _VERSIONS.c.prompt_id == _PROMPTS.c.id)
            .outerjoin(_USERS, _USERS.c.id == _VERSIONS.c.created_by_id)
            .outerjoin(_RUNS, _RUNS.c.id == LATEST_SCORED_RUN)
        )
        .where(_PROMPTS.c.id == bindparam("prompt"))
        .order_by(*ordering_terms(ordering, VERSION_ORDERING), _VERSIONS.c.id)
    )


def list_versions_of(
    bind: Engine | Connection, user: User, prompt_id: int, ordering: str | None
) -> list[dict[str, Any]]:
    """The versions of a prompt of the user's organization as ThirdPartyModelVersion (one
    statement, no transaction around it), or Label Studio's 404."""
    rows: list[Any] = []
    if 0 < prompt_id <= MAX_ID:
        with single_read(bind) as connection:
            rows = list(connection.execute(_versions_query(ordering), {"prompt": prompt_id}).all())
    if not rows or rows[0][0] != user.organization_id:
        raise NotFound("ModelInterface")
    versions = []
    for row in rows:
        if row[1] is None:  # the prompt has no version
            break
        creator_id, first_name, last_name, email, username, predictions, correct = row[12:]
        creator = None
        if creator_id is not None:
            creator = {"id": creator_id, "first_name": first_name, "last_name": last_name,
                       "email": email, "username": username, "avatar": None}  # fmt: skip
        score = (correct or 0) / predictions if predictions else None
        versions.append(version_json(row[1:12], creator, score))
    return versions


@router.get(VERSIONS, summary="✨ List prompt versions")
async def list_versions(
    prompt_id: int, request: Request, caller: CallerDep, engine: EngineDep
) -> Response:
    """List all versions of a prompt."""
    ordering = request.query_params.get("ordering")
    return await caller.answer(
        engine, lambda bind, user: JSONResponse(list_versions_of(bind, user, prompt_id, ordering))
    )


@router.post(VERSIONS, status_code=201, summary="✨ Create prompt version")
def create_version_route(
    prompt_id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """Create a new version of a prompt."""
    prompt = own_prompt(session, user, prompt_id)
    values = validate(version_fields(session, user, partial=False), body.data, form=body.form)
    version = create_version(session, user, prompt, values, clock)
    return JSONResponse(render_versions(session, [version])[0], status_code=201)


@router.get(VERSION, summary="✨ Get prompt version")
def get_version(
    prompt_id: int, version_id: int, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Retrieve a specific prompt of a model."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    return JSONResponse(render_versions(session, [version])[0])


def _change_version(
    prompt_id: int,
    version_id: int,
    user: User,
    body: Body,
    session: Session,
    clock: Clock,
    partial: bool,
) -> JSONResponse:
    _, version = prompt_version(session, user, prompt_id, version_id)
    values = validate(version_fields(session, user, partial), body.data, form=body.form)
    version = update_version(session, version, values, clock)
    return JSONResponse(render_versions(session, [version])[0])


@router.patch(VERSION, summary="✨ Update prompt version")
def patch_version(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Update a specific prompt version by ID."""
    return _change_version(prompt_id, version_id, user, body, session, clock, partial=True)


@router.put(VERSION, summary="✨ Put prompt version")
def put_version(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Overwrite a specific prompt version by ID."""
    return _change_version(prompt_id, version_id, user, body, session, clock, partial=False)


@router.delete(VERSION, status_code=204, summary="✨ Delete prompt version")
def delete_version_route(
    prompt_id: int, version_id: int, user: CurrentUserDep, session: SessionDep
) -> Response:
    """Delete a prompt version by ID"""
    _, version = prompt_version(session, user, prompt_id, version_id)
    delete_version(session, version)
    return Response(status_code=204)


@router.post(VERSION + "/duplicate", summary="✨ Duplicate a prompt version")
def duplicate_version_route(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Duplicate an existing version, optionally overriding the model/connection."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    values = validate(version_fields(session, user, partial=True), body.data, form=body.form)
    copy = duplicate_version(session, user, prompt, version, values, clock)
    return JSONResponse(render_versions(session, [copy])[0])


@router.get(EXAMPLES, summary="✨ List few-shot examples")
def list_examples(
    prompt_id: int, version_id: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """The few-shot examples of a version, by order unless ordering says otherwise."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    terms = ordering_terms(request.query_params.get("ordering"), EXAMPLE_ORDERING)
    return JSONResponse(render_examples(session, examples_of(session, version, terms)))


@router.post(EXAMPLES, status_code=201, summary="✨ Create a few-shot example")
def create_example_route(
    prompt_id: int,
    version_id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Add a few-shot example to a version."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    values = validate(example_fields(session, user, partial=False), body.data, form=body.form)
    example = create_example(session, user, version, values, clock)
    return JSONResponse(render_examples(session, [example])[0], status_code=201)


@router.post(EXAMPLES + "/reorder", summary="✨ Reorder few-shot examples")
def reorder_examples_route(
    prompt_id: int, version_id: int, user: CurrentUserDep, body: BodyDep, session: SessionDep
) -> JSONResponse:
    """Accept ordered list of example IDs, update order fields."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    data = {"ids": body.data} if isinstance(body.data, list) else body.data
    fields: dict[str, Field] = {"ids": ListField(required=True, child=IntegerField(min_value=1))}
    values = validate(fields, data, form=body.form)
    examples = reorder_examples(session, version, values["ids"])
    return JSONResponse(render_examples(session, examples))


@router.patch(EXAMPLES + "/{id}", summary="✨ Update a few-shot example")
def patch_example(
    prompt_id: int,
    version_id: int,
    id: int,
    user: CurrentUserDep,
    body: BodyDep,
    session: SessionDep,
) -> JSONResponse:
    """Change a few-shot example's task, annotation or order."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    example = own_example(session, version, id)
    values = validate(example_fields(session, user, partial=True), body.data, form=body.form)
    example = update_example(session, user, example, values)
    return JSONResponse(render_examples(session, [example])[0])


@router.delete(EXAMPLES + "/{id}", status_code=204, summary="✨ Delete a few-shot example")
def delete_example_route(
    prompt_id: int, version_id: int, id: int, user: CurrentUserDep, session: SessionDep
) -> Response:
    """Remove a few-shot example from a version."""
    _, version = prompt_version(session, user, prompt_id, version_id)
    delete_example(session, own_example(session, version, id))
    return Response(status_code=204)


@router.get(VERSION + "/prompt-preview", summary="✨ Preview assembled prompt")
def prompt_preview(
    prompt_id: int, version_id: int, request: Request, user: CurrentUserDep, session: SessionDep
) -> JSONResponse:
    """Return the fully assembled prompt with few-shot examples injected."""
    prompt, version = prompt_version(session, user, prompt_id, version_id)
    params = validate(
        {"task": IntegerField(allow_null=True, min_value=-(2**63), max_value=2**63)},
        dict(request.query_params),
        form=True,
    )
    task = None
    if params.get("task") is not None:
        task = own_task(session, user, params["task"])
        if task is None:
            raise NotFound("Task")
    return JSONResponse({"rendered_prompt": preview(session, prompt, version, task)})
