"""The seed document (demo data): its schema, its checks and its loader (an upsert by id)."""

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import (
    JSON,
    Dialect,
    String,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    text,
    true,
    update,
)
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import sequences_statement, sync_sequences
from app.errors import BadRequest
from app.label_config import LabelConfigError, parse_label_config
from app.models import (
    MAX_ID,
    SEED_EPOCH,
    Annotation,
    FailedPrediction,
    FewShotExample,
    ModelProviderConnection,
    Organization,
    Prediction,
    Project,
    Prompt,
    PromptProject,
    PromptVersion,
    RunTask,
    Task,
    User,
    UTCDateTime,
    table_of,
)
from app.workspace.tasks import insert_tasks, next_inner_id, sync_ground_truth

DEFAULT_LABEL_CONFIG = "<View></View>"
DEMO_SEED = Path(__file__).with_name("demo_seed.yaml")
# The rows load_seed writes for the demo into an empty database (tests/lifecycle/test_seed.py
# holds them equal): each table's columns, then one row per line.
DEMO_ROWS = Path(__file__).with_name("demo_rows.json")
MAX_TASKS = 1_000_000
Id = Field(ge=1, le=MAX_ID)
Ref = Annotated[int, Field(ge=1, le=MAX_ID)]  # an id naming another entry


class StrictModel(BaseModel):
    """A document part whose unknown keys are refused, not ignored, and whose text has no null
    characters (PostgreSQL cannot store them) and no lone surrogates (UTF-8 cannot encode them).

    Its validators are built on its first validation, not as its class is defined: a start
    defines fifteen such models (the seed document's, the control plane's bodies) and most
    starts validate none of them (about 10 ms of a start's CPU)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    @field_validator("*")
    @classmethod
    def _no_null_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("null characters are not allowed")
        if isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError("surrogate characters are not allowed")
        return value


class SeedOrganization(StrictModel):
    id: int = Id
    title: str
    # Off unless given, as for a new organization of recent Label Studio (JWTSettings).
    legacy_api_tokens_enabled: bool = False


class SeedUser(StrictModel):
    id: int = Id
    email: str = ""
    username: str = Field(min_length=1)
    first_name: str = ""
    last_name: str = ""
    organization: Ref
    token: str = Field(min_length=1, pattern=r"^\S+$")


# --- tasks workspace: tasks given one by one ---


class SeedAnnotation(StrictModel):
    result: list[dict[str, Any]] = []
    ground_truth: bool = False
    was_cancelled: bool = False
    lead_time: float | None = None


class SeedPrediction(StrictModel):
    result: list[dict[str, Any]] = []
    score: float | None = None
    model_version: str = ""


class SeedTask(StrictModel):
    data: dict[str, Any]
    meta: dict[str, Any] = {}
    annotations: list[SeedAnnotation] = []
    predictions: list[SeedPrediction] = []


class SeedProject(StrictModel):
    id: int = Id
    title: str
    organization: Ref
    # A number of generated tasks, or the tasks themselves.
    tasks: Annotated[int, Field(ge=0, le=MAX_TASKS)] | list[SeedTask] = 0
    ground_truth: int = Field(default=0, ge=0)
    # --- projects: Label Studio's project fields ---
    description: str = ""
    label_config: str = DEFAULT_LABEL_CONFIG
    # The creating user (of the same organization); default: its first user.
    created_by: Ref | None = None
    created_at: AwareDatetime = SEED_EPOCH
    pinned_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ground_truth_within_tasks(self) -> "SeedProject":
        if isinstance(self.tasks, list):
            if self.ground_truth:
                raise ValueError(
                    "ground_truth counts generated tasks: with a list of tasks, mark their "
                    "annotations ground_truth: true instead"
                )
            if len(self.tasks) > MAX_TASKS:
                raise ValueError(f"at most {MAX_TASKS} tasks")
        elif self.ground_truth > self.tasks:
            raise ValueError(f"ground_truth ({self.ground_truth}) exceeds tasks ({self.tasks})")
        return self

    @field_validator("label_config")
    @classmethod
    def _label_config_parses(cls, value: str) -> str:
        try:
            parse_label_config(value)
        except LabelConfigError as error:
            raise ValueError(f"label_config: {error}") from None
        return value


class SeedConnection(StrictModel):
    """A model provider connection; its secrets are write-only in the API."""

    id: int = Id
    organization: Ref
    created_by: Ref | None = None
    provider: Literal["OpenAI", "AzureOpenAI", "AzureAIFoundry", "VertexAI", "Gemini",
                      "Anthropic", "Custom"] = "OpenAI"  # fmt: skip
    scope: Literal["Organization", "User", "Model"] = "Organization"
    api_key: str | None = None
    auth_token: str | None = None
    google_application_credentials: str | None = None
    deployment_name: str | None = Field(default=None, max_length=512)
    endpoint: str | None = Field(default=None, max_length=512)
    google_project_id: str | None = Field(default=None, max_length=255)
    google_location: str | None = Field(default=None, max_length=255)
    cached_available_models: str | None = Field(default=None, max_length=4096)
    is_internal: bool = False
    budget_limit: float | None = Field(default=None, allow_inf_nan=False)
    budget_alert_threshold: float | None = Field(default=None, allow_inf_nan=False)
    budget_reset_period: Literal["Monthly", "Yearly"] | None = None
    budget_total_spent: float | None = Field(default=None, allow_inf_nan=False)


# --- prompts workspace: prompts, versions and their few-shot examples ---
SKILLS = ("TextClassification", "NamedEntityRecognition")


class SeedFewShotExample(StrictModel):
    task: Ref
    annotation: Ref
    order: int = Field(default=0, ge=0, le=MAX_ID)


class SeedVersion(StrictModel):
    id: int = Id
    title: str
    prompt: str = ""
    provider: str = "OpenAI"
    provider_model_id: str = ""
    accuracy: float = Field(default=0.8, ge=0, le=1)
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    max_few_shot_examples: int | None = Field(default=None, ge=0, le=MAX_ID)
    few_shot_examples: list[SeedFewShotExample] = []


class SeedPrompt(StrictModel):
    id: int = Id
    title: str
    organization: Ref
    associated_projects: list[Ref] = []
    versions: list[SeedVersion] = []
    description: str | None = None
    skill_name: str = Field(default="TextClassification", pattern=f"^({'|'.join(SKILLS)})$")
    input_fields: list[str] = []
    output_classes: list[str] = []
    # The user who created it: the organization's first user when not given.
    created_by: Ref | None = None


class SeedDocument(StrictModel):
    organizations: list[SeedOrganization] = []
    users: list[SeedUser] = []
    projects: list[SeedProject] = []
    prompts: list[SeedPrompt] = []
    connections: list[SeedConnection] = []


class SeedError(BadRequest):
    """A seed document that cannot be loaded; the message names the source, entry and problem."""


# What pydantic says of a union's branch that the value's type does not fit at all.
WRONG_TYPE = {"int_type", "int_parsing", "list_type", "dict_type", "model_type"}


def _is_branch(part: Any) -> bool:
    """A union's branch in an error location ("constrained-int", "list[SeedTask]"), which no
    field name is."""
    return isinstance(part, str) and ("[" in part or "-" in part)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if _is_branch(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _problems(errors: list[Any]) -> list[str]:
    """One line per problem; of a union (``tasks``: a count or a list), a branch the value's
    type does not fit is quiet when another branch has something to say."""

    def root(loc: tuple[Any, ...]) -> tuple[Any, ...]:
        return next((loc[:i] for i, part in enumerate(loc) if _is_branch(part)), loc)

    spoken = [e["loc"] for e in errors if e["type"] not in WRONG_TYPE]
    kept = [
        e
        for e in errors
        if e["type"] not in WRONG_TYPE
        or root(e["loc"]) == e["loc"]
        or not any(loc[: len(root(e["loc"]))] == root(e["loc"]) for loc in spoken)
    ]
    return list(dict.fromkeys(f"{_where(e['loc'])}: {e['msg']}" for e in kept))


def parse_seed(data: Any, source: str) -> SeedDocument:
    """Validate a parsed seed document; errors say which source, which entry, what is wrong."""
    try:
        document = SeedDocument.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_problems(error.errors()))
        raise SeedError(f"{source}: {problems}") from None
    _check_unique(document, source)
    return document


def read_seed_file(path: Path) -> SeedDocument:
    """Read a YAML or JSON seed file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SeedError(f"{path}: cannot be read ({error.strerror})") from None
    import yaml  # only when a seed is read: it is slow to import and rarely needed

    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise SeedError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}"
        ) from None
    return parse_seed(data, str(path))


def configured_seed(settings: Any) -> tuple[SeedDocument, str]:
    """The seed document the settings name (the built-in demo by default), and its source."""
    path = settings.seed_file or DEMO_SEED
    return read_seed_file(path), str(path)


def load_configured_seed(session: Session, settings: Any) -> None:
    """Load the configured seed into an empty database. The built-in demo's rows are inserted
    as they are, one statement a table: loading its document (YAML, an upsert entry by entry,
    tasks generated in SQL) cost a first start 50 ms of CPU on SQLite, and on PostgreSQL about
    0.2 s (a round trip for most rows)."""
    if settings.seed_file is not None:
        load_seed(session, *configured_seed(settings))
        return
    for table, rows in _demo_rows():
        session.connection().execute(insert(table), rows)
    sync_sequences(session)


def _demo_rows() -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """app/demo_rows.json's tables, parents first, and their rows as inserts take them."""
    tables = orjson.loads(DEMO_ROWS.read_bytes())
    for table in SQLModel.metadata.sorted_tables:  # parents first
        if table.name not in tables:
            continue
        names = tables[table.name]["columns"]
        rows = [dict(zip(names, values, strict=True)) for values in tables[table.name]["rows"]]
        for name in names:
            if isinstance(table.columns[name].type, UTCDateTime):
                for row in rows:
                    if row[name] is not None:
                        row[name] = datetime.fromisoformat(row[name])
        yield table, rows


def demo_rows_script(dialect: Dialect) -> str:
    """The demo's rows and the sequences after them, as one PostgreSQL script with the values
    written in (shipped as app/early_demo.sql, app.early). A JSON value is written as the
    text the driver would have sent for it (``json.dumps``: None is JSON's null, as the
    column's type stores it)."""
    statements = []
    for table, rows in _demo_rows():
        for column in table.columns:
            if isinstance(column.type, JSON):
                for row in rows:
                    if column.name in row:
                        row[column.name] = literal(json.dumps(row[column.name]), String())
        statement = insert(table).values(rows)
        statements.append(
            str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        )
    statements.append(sequences_statement())
    return ";\n".join(statements)


def _check_unique(document: SeedDocument, source: str) -> None:
    ids = {
        "organizations": [o.id for o in document.organizations],
        "users": [u.id for u in document.users],
        "projects": [p.id for p in document.projects],
        "prompts": [p.id for p in document.prompts],
        "versions": [v.id for p in document.prompts for v in p.versions],
        "connections": [c.id for c in document.connections],
    }
    for name, entry_ids in ids.items():
        seen: set[int] = set()
        for index, entry_id in enumerate(entry_ids):
            if entry_id in seen:
                raise SeedError(f"{source}: {name}[{index}].id: id {entry_id} appears twice")
            seen.add(entry_id)
    tokens: set[str] = set()
    for index, user in enumerate(document.users):
        if user.token in tokens:
            raise SeedError(f"{source}: users[{index}].token: the token is already another user's")
        tokens.add(user.token)


def ground_truth_positions(tasks: int, ground_truth: int) -> list[bool]:
    """Which of a project's tasks (in id order) carry ground truth: spread evenly."""
    return [(p + 1) * ground_truth // tasks > p * ground_truth // tasks for p in range(tasks)]


def load_seed(
    session: Session, document: SeedDocument, source: str
) -> dict[str, dict[str, list[int]]]:
    """Upsert a seed document by id; answers the ids created and changed, per kind."""
    now = SEED_EPOCH
    result: dict[str, dict[str, list[int]]] = {"created": {}, "updated": {}}

    def record(kind: str, row_id: int, created: bool) -> None:
        result["created" if created else "updated"].setdefault(kind, []).append(row_id)

    def org_of(kind: str, index: int, org_id: int) -> None:
        if session.get(Organization, org_id) is None:
            raise SeedError(
                f"{source}: {kind}[{index}].organization: organization {org_id} does not exist"
            )

    for org_entry in document.organizations:
        values = org_entry.model_dump()
        if session.get(Organization, org_entry.id) is not None:
            # An upsert that does not name the flag keeps the organization's (the default is
            # for new organizations only).
            values = org_entry.model_dump(exclude_unset=True)
        record("organizations", org_entry.id, _upsert(session, Organization, org_entry.id, values))
    session.flush()
    for index, user_entry in enumerate(document.users):
        org_of("users", index, user_entry.organization)
        owner = session.exec(
            select(User).where(User.token == user_entry.token, User.id != user_entry.id)
        ).first()
        if owner is not None:
            raise SeedError(
                f"{source}: users[{index}].token: the token is already user {owner.id}'s"
            )
        values = user_entry.model_dump(exclude={"organization"}) | {
            "organization_id": user_entry.organization
        }
        record("users", user_entry.id, _upsert(session, User, user_entry.id, values))

    def user_of(kind: str, index: int, user_id: int | None, org_id: int) -> int | None:
        """The creating user of an entry (the organization's first user when not given)."""
        if user_id is None:
            return session.exec(
                select(User.id).where(User.organization_id == org_id).order_by(col(User.id))
            ).first()
        user = session.get(User, user_id)
        if user is None or user.organization_id != org_id:
            raise SeedError(
                f"{source}: {kind}[{index}].created_by: user {user_id} does not exist in "
                f"organization {org_id}"
            )
        return user_id

    session.flush()
    for index, project_entry in enumerate(document.projects):
        org_of("projects", index, project_entry.organization)
        values = {
            "title": project_entry.title,
            "organization_id": project_entry.organization,
            "description": project_entry.description,
            "label_config": project_entry.label_config,
            "created_by_id": user_of(
                "projects", index, project_entry.created_by, project_entry.organization
            ),
            "created_at": project_entry.created_at,
            "pinned_at": project_entry.pinned_at,
        }
        created = _upsert(session, Project, project_entry.id, values)
        session.flush()
        _set_tasks(session, project_entry, source, index, now)
        record("projects", project_entry.id, created)
    for index, prompt_entry in enumerate(document.prompts):
        org_of("prompts", index, prompt_entry.organization)
        creator = prompt_entry.created_by or _first_user(session, prompt_entry.organization)
        values = {
            "title": prompt_entry.title,
            "organization_id": prompt_entry.organization,
            "description": prompt_entry.description,
            "skill_name": prompt_entry.skill_name,
            "input_fields": prompt_entry.input_fields,
            "output_classes": prompt_entry.output_classes,
            "created_by_id": creator,
            "created_at": SEED_EPOCH,
            "updated_at": SEED_EPOCH,
        }
        record("prompts", prompt_entry.id, _upsert(session, Prompt, prompt_entry.id, values))
        session.flush()
        for project_id in prompt_entry.associated_projects:
            project = session.get(Project, project_id)
            if project is None or project.organization_id != prompt_entry.organization:
                raise SeedError(
                    f"{source}: prompts[{index}].associated_projects: project {project_id} "
                    f"does not exist in organization {prompt_entry.organization}"
                )
            if session.get(PromptProject, (prompt_entry.id, project_id)) is None:
                session.add(PromptProject(prompt_id=prompt_entry.id, project_id=project_id))
        for version in prompt_entry.versions:
            existing = session.get(PromptVersion, version.id)
            if existing is not None and existing.prompt_id != prompt_entry.id:
                raise SeedError(
                    f"{source}: prompts[{index}].versions: version {version.id} belongs to "
                    f"prompt {existing.prompt_id}"
                )
            values = version.model_dump(exclude={"few_shot_examples"}) | {
                "prompt_id": prompt_entry.id,
                "organization_id": prompt_entry.organization,
                "created_by_id": creator,
                "created_at": SEED_EPOCH,
                "updated_at": SEED_EPOCH,
            }
            record("versions", version.id, _upsert(session, PromptVersion, version.id, values))
            session.flush()
            _set_few_shot_examples(session, version, prompt_entry.organization, source, index)
    session.flush()
    for index, connection in enumerate(document.connections):
        org_of("connections", index, connection.organization)
        values = connection.model_dump(exclude={"organization", "created_by"}) | {
            "organization_id": connection.organization,
            "created_by_id": user_of(
                "connections", index, connection.created_by, connection.organization
            ),
        }
        stored = session.get(ModelProviderConnection, connection.id)
        if stored is None:
            values |= {"created_at": SEED_EPOCH, "updated_at": SEED_EPOCH}
        created = _upsert(session, ModelProviderConnection, connection.id, values)
        record("connections", connection.id, created)
    session.flush()
    # Rows were written with explicit ids: PostgreSQL's id sequences must follow them.
    sync_sequences(session)
    return result


def _first_user(session: Session, organization: int) -> int | None:
    return session.exec(select(func.min(User.id)).where(User.organization_id == organization)).one()


def _set_few_shot_examples(
    session: Session, version: SeedVersion, organization: int, source: str, index: int
) -> None:
    """Replace a seeded version's few-shot examples by the document's (tasks of the org)."""
    session.execute(delete(FewShotExample).where(col(FewShotExample.version_id) == version.id))
    for example in version.few_shot_examples:
        task = session.get(Task, example.task)
        project = session.get(Project, task.project_id) if task is not None else None
        if project is None or project.organization_id != organization:
            raise SeedError(
                f"{source}: prompts[{index}].versions: few-shot example task {example.task} "
                f"does not exist in organization {organization}"
            )
        # As the API requires: the example's answer is an annotation of its own task.
        annotation = session.get(Annotation, example.annotation)
        if annotation is None or annotation.task_id != example.task:
            raise SeedError(
                f"{source}: prompts[{index}].versions: few-shot example annotation "
                f"{example.annotation} is not one of task {example.task}'s"
            )
        session.add(
            FewShotExample(
                version_id=version.id,
                task_id=example.task,
                annotation_id=example.annotation,
                order=example.order,
                created_at=SEED_EPOCH,
            )
        )


def _upsert(session: Session, model: type, row_id: int, values: dict[str, Any]) -> bool:
    values = {k: v for k, v in values.items() if k != "id"}
    row = session.get(model, row_id)
    if row is None:
        session.add(model(id=row_id, **values))
        return True
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    return False


def _set_tasks(
    session: Session, entry: SeedProject, source: str, index: int, now: datetime
) -> None:
    """Give a project exactly its tasks: ``tasks`` generated ones, ``ground_truth`` of them with
    a ground-truth annotation, or the tasks listed."""
    count = len(entry.tasks) if isinstance(entry.tasks, list) else entry.tasks
    ids = _resize(session, entry, count, source, index)
    if isinstance(entry.tasks, list):
        _set_listed_tasks(session, entry.id, entry.tasks, ids, now)
        return
    flags = ground_truth_positions(entry.tasks, entry.ground_truth)
    first = None
    if len(ids) < entry.tasks:
        # Explicit ids, so that loading the same seed into an empty database (a reset) gives
        # the same ids on every backend. Plain integers per row; the rest is set in SQL below.
        top = session.execute(select(func.coalesce(func.max(col(Task.id)), 0))).scalar_one()
        first = int(top) + 1
        inner = next_inner_id(session, entry.id) - len(ids)
        # The table's INSERT, not the ORM's: no per-row defaults in Python (data and meta
        # start as the column's default and are set below).
        if session.get_bind().dialect.name == "postgresql":
            # One statement of two arrays: psycopg sends an executemany as one INSERT per row,
            # and the task counts' triggers (revision 0011) run once per statement.
            session.execute(
                text(
                    "INSERT INTO task (id, project_id, has_ground_truth) "
                    "SELECT id, :project, flag FROM unnest(CAST(:ids AS bigint[]), "
                    "CAST(:flags AS boolean[])) AS new (id, flag)"
                ),
                {
                    "project": entry.id,
                    "ids": list(range(first, first + entry.tasks - len(ids))),
                    "flags": flags[len(ids) :],
                },
            )
        else:
            session.execute(
                table_of(Task).insert(),
                [
                    {
                        "id": first + position - len(ids),
                        "project_id": entry.id,
                        "has_ground_truth": flags[position],
                    }  # fmt: skip
                    for position in range(len(ids), entry.tasks)
                ],
            )
        inner_id = col(Task.id) - first + inner + len(ids)
        session.execute(
            update(Task)
            .where(col(Task.project_id) == entry.id, col(Task.id) >= first)
            .values(
                inner_id=inner_id,
                allow_skip=True,
                data=_sample_data_sql(session, inner_id),
                meta=literal({}, JSON),
                created_at=now,
                updated_at=now,
            )
        )
    if ids:
        session.execute(
            update(Task)
            .where(col(Task.project_id) == entry.id, col(Task.id) <= ids[-1])
            .values(has_ground_truth=False)
        )
        gt_ids = [task_id for task_id, flag in zip(ids, flags, strict=False) if flag]
        for chunk in range(0, len(gt_ids), 500):
            session.execute(
                update(Task)
                .where(col(Task.id).in_(gt_ids[chunk : chunk + 500]))
                .values(has_ground_truth=True)
            )
    _ground_truth_annotations(session, entry.id, now)


def _ground_truth_annotations(session: Session, project_id: int, now: datetime) -> None:
    """Make the annotations agree with has_ground_truth for generated tasks, in SQL: a task
    flagged gets a ground-truth annotation (its sentiment), one not flagged loses its own."""
    has_gt = exists().where(
        col(Annotation.task_id) == Task.id, col(Annotation.ground_truth) == true()
    )
    flagged = select(Task.id).where(Task.project_id == project_id, Task.has_ground_truth == true())
    unflagged = (
        col(Annotation.project_id) == project_id,
        col(Annotation.ground_truth) == true(),
        col(Annotation.task_id).not_in(flagged),
    )
    _delete_few_shot_uses(session, select(Annotation.id).where(*unflagged))
    session.execute(delete(Annotation).where(*unflagged))
    issue = _issue_sql(func.coalesce(Task.inner_id, Task.id))
    result = case(
        *[
            (issue == index, literal(sample_ground_truth_for(label), JSON))
            for index, (_, label) in enumerate(SAMPLE_TICKETS)
        ]
    )
    session.execute(
        insert(Annotation).from_select(
            [
                "task_id",
                "project_id",
                "result",
                "ground_truth",
                "was_cancelled",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            # Core's select: SQLModel's select takes at most four columns.
            core_select(
                col(Task.id),
                col(Task.project_id),
                result,
                literal(True),
                literal(False),
                literal(now, UTCDateTime()),
                literal(now, UTCDateTime()),
            )
            .where(
                col(Task.project_id) == project_id, col(Task.has_ground_truth) == true(), ~has_gt
            )
            # Annotation ids follow task ids whatever order the database scans the tasks in.
            .order_by(col(Task.id)),
        )
    )


def _delete_few_shot_uses(
    session: Session, annotation_ids: SelectOfScalar[int] | SelectOfScalar[None]
) -> None:
    """Remove the few-shot examples answered by annotations about to go, as deleting their task
    would."""
    session.execute(
        delete(FewShotExample).where(col(FewShotExample.annotation_id).in_(annotation_ids))
    )


def _issue_sql(inner_id: Any) -> Any:
    """Which of SAMPLE_TICKETS a generated task is about, as ``sample_ticket`` picks it."""
    return ((inner_id - 1) // len(OPENINGS)) % len(SAMPLE_TICKETS)


def _sample_data_sql(session: Session, inner_id: Any) -> Any:
    """The generated data of a task as an SQL expression of its inner id: {"text", "ticket"},
    the text being ``sample_ticket(inner_id)``."""
    position = inner_id - 1
    opening = case(*[(position % len(OPENINGS) == i, literal(o)) for i, o in enumerate(OPENINGS)])
    issue = _issue_sql(inner_id)
    body = case(*[(issue == i, literal(t)) for i, (t, _) in enumerate(SAMPLE_TICKETS)])
    turn = (position // (len(OPENINGS) * len(SAMPLE_TICKETS))) % len(SIGN_OFFS)
    sign_off = case(*[(turn == i, literal(s)) for i, s in enumerate(SIGN_OFFS)])
    sentence = opening + body + sign_off
    build = (
        func.json_build_object
        if session.get_bind().dialect.name == "postgresql"
        else func.json_object
    )
    return build(literal("text"), sentence, literal("ticket"), inner_id)


def _resize(session: Session, entry: SeedProject, count: int, source: str, index: int) -> list[int]:
    """Cut a project's tasks down to ``count`` (not below tasks with predictions or in a run);
    answers the ids kept, in id order."""
    ids = [
        task_id
        for task_id in session.exec(
            select(Task.id).where(Task.project_id == entry.id).order_by(col(Task.id))
        )
        if task_id is not None
    ]
    if len(ids) > count:
        cutoff = ids[count - 1] if count else 0
        surplus = select(Task.id).where(Task.project_id == entry.id, col(Task.id) > cutoff)
        if any(
            session.exec(select(exists().where(col(model.task_id).in_(surplus)))).one()
            for model in (Prediction, FailedPrediction, RunTask, FewShotExample)
        ):
            raise SeedError(
                f"{source}: projects[{index}].tasks: cannot shrink project {entry.id} to "
                f"{count} tasks: tasks beyond that have predictions or are in a run"
            )
        session.execute(delete(Annotation).where(col(Annotation.task_id).in_(surplus)))
        session.execute(delete(Task).where(col(Task.project_id) == entry.id, col(Task.id) > cutoff))
        ids = ids[:count]
    return ids


def _set_listed_tasks(
    session: Session, project_id: int, tasks: list[SeedTask], ids: list[int], now: datetime
) -> None:
    """The listed tasks: existing ones (in id order) take the data, annotations and predictions
    of their entry; the rest are created."""
    specs = [task.model_dump() for task in tasks]
    for task_id, spec in zip(ids, specs, strict=False):
        session.execute(
            update(Task)
            .where(col(Task.id) == task_id)
            .values(data=spec["data"], meta=spec["meta"], updated_at=now)
        )
        _delete_few_shot_uses(
            session, select(Annotation.id).where(col(Annotation.task_id) == task_id)
        )
        session.execute(delete(Annotation).where(col(Annotation.task_id) == task_id))
        # Predictions of runs stay (runs counted them); listed ones replace the others.
        session.execute(
            delete(Prediction).where(
                col(Prediction.task_id) == task_id, col(Prediction.run_id).is_(None)
            )
        )
        rows = [{"task_id": task_id, "project_id": project_id, "result": a["result"],
                 "ground_truth": a["ground_truth"], "was_cancelled": a["was_cancelled"],
                 "lead_time": a["lead_time"], "created_at": now, "updated_at": now}
                for a in spec["annotations"]]  # fmt: skip
        if rows:
            session.execute(insert(Annotation), rows)
        predictions = [{"task_id": task_id, "project_id": project_id, "created_at": now,
                        "updated_at": now, **p} for p in spec["predictions"]]  # fmt: skip
        if predictions:
            session.execute(insert(Prediction), predictions)
    sync_ground_truth(session, ids)
    if len(specs) > len(ids):
        insert_tasks(session, project_id, specs[len(ids) :], now)


# Generated tasks read like support tickets: an opening, an issue and a sign-off, so that 360
# tasks in a row all differ; their ground truth is the issue's sentiment.
OPENINGS = ("", "Hi team, ", "Hello. ", "Hi there! ", "Good morning, ")
SIGN_OFFS = ("", " Thanks.", " Order A-1042.", " Sent from my phone.", " Best, Sam",
             " Account 88-311.")  # fmt: skip
SAMPLE_TICKETS = (
    ("Thanks a lot, the new release fixed my sync problem right away!", "Positive"),
    ("My order arrived damaged and nobody answers my emails.", "Negative"),
    ("How do I change the billing address on my account?", "Neutral"),
    ("Great support today, Maria solved everything in five minutes.", "Positive"),
    ("The app crashes every time I open the settings page.", "Negative"),
    ("Is there a way to export my invoices as CSV?", "Neutral"),
    ("I love the dark mode, it makes late shifts much easier.", "Positive"),
    ("I was charged twice for the same subscription this month.", "Negative"),
    ("Can I add a second user to my plan?", "Neutral"),
    ("Delivery was faster than promised, thank you!", "Positive"),
    ("Your checkout page keeps rejecting my card.", "Negative"),
    ("Where can I find the API documentation?", "Neutral"),
)


def sample_ticket(inner_id: int) -> tuple[str, str]:
    """The text of the generated task with this inner id (1, 2, ...) and its sentiment."""
    position = inner_id - 1
    text, label = SAMPLE_TICKETS[(position // len(OPENINGS)) % len(SAMPLE_TICKETS)]
    turn = (position // (len(OPENINGS) * len(SAMPLE_TICKETS))) % len(SIGN_OFFS)
    return OPENINGS[position % len(OPENINGS)] + text + SIGN_OFFS[turn], label


def sample_ground_truth_for(label: str) -> list[dict[str, Any]]:
    """The ground-truth result of a generated task whose sentiment is ``label``."""
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices",
             "origin": "manual", "value": {"choices": [label]}}]  # fmt: skip


def database_is_empty(session: Session) -> bool:
    # The table, not the entity: a start needs no ORM mapper configured (app.main).
    organizations = table_of(Organization)
    empty = core_select(~exists().where(organizations.c.id.is_not(None)))
    return bool(session.connection().execute(empty).scalar_one())
