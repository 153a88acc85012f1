"""Database tables. Names follow Label Studio's nouns; emulator-only columns say so."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    String,
    Table,
    TypeDecorator,
    event,
    false,
    text,
)
from sqlmodel import Field, SQLModel, col


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(nullable: bool = True, index: bool = False) -> Any:
    """A UTC datetime column."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


# When rows that existed before a column was added were created, as far as anyone knows.
EPOCH_DEFAULT = "1970-01-01 00:00:00+00:00"


def stamp() -> Any:
    """A required UTC datetime column; rows older than the column read the epoch."""
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=False, server_default=text(f"'{EPOCH_DEFAULT}'")),
    )


def json_list() -> Any:
    """A JSON column holding a list by default."""
    return Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )


class RunStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.IN_PROGRESS)
# Ids and counts are 32-bit integer columns (PostgreSQL refuses larger values): a larger id
# names no row.
MAX_ID = 2**31 - 1
MIN_INT = -(2**31)


class ProjectSubset(StrEnum):
    ALL = "All"
    HAS_GT = "HasGT"
    SAMPLE = "Sample"
    CUSTOM = "Custom"


class TableModel(SQLModel):
    """The tables' base. Their pydantic validators and serializers are built when first used,
    not as each class is defined: rows are built by SQLAlchemy and by SQLModel's table
    constructor, neither of which validates, so most starts use none of them (about 6 ms of a
    start's CPU for the 21 tables)."""

    # Merged with SQLModel's own (whose type, SQLModelConfig, is not exported).
    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]


class Organization(TableModel, table=True):
    id: int = Field(primary_key=True)
    title: str
    legacy_api_tokens_enabled: bool = True


class User(TableModel, table=True):
    id: int = Field(primary_key=True)
    email: str = ""
    username: str
    first_name: str = ""
    last_name: str = ""
    organization_id: int = Field(foreign_key="organization.id", index=True)
    # The legacy API token ("Authorization: Token <key>").
    token: str = Field(unique=True)


class AccessToken(TableModel, table=True):
    """A personal access token: a refresh JWT created through POST /api/token/."""

    __tablename__ = "access_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    jti: str = Field(unique=True)
    token: str
    created_at: datetime = when(nullable=False)
    expires_at: datetime = when(nullable=False)
    # When the token was revoked (blacklist or rotate); a revoked token refreshes nothing.
    blacklisted_at: datetime | None = when()


# When seed rows without a time of their own were made (projects' created_at, users' date_joined).
SEED_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class Project(TableModel, table=True):
    id: int = Field(primary_key=True)
    title: str | None = None
    organization_id: int = Field(foreign_key="organization.id", index=True)
    # --- projects: Label Studio's project fields (revision 0004) ---
    description: str | None = ""
    label_config: str | None = "<View></View>"
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime | None = when()
    pinned_at: datetime | None = when()
    source_interface_id: int | None = None
    # Every other writable field of LseProjectResponse that was set (defaults are not stored).
    settings: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Task(TableModel, table=True):
    __table_args__ = (Index("ix_task_project_gt", "project_id", "has_ground_truth", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    # Whether the task carries a ground-truth annotation (the HasGT subset); kept in step with
    # the task's annotations by app.workspace.tasks.
    has_ground_truth: bool = False
    # --- tasks workspace: Label Studio's Task fields ---
    data: Any = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )
    meta: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Position of the task in its project, from 1.
    inner_id: int | None = Field(default=None, sa_type=BigInteger)
    allow_skip: bool | None = True
    created_at: datetime | None = when()
    updated_at: datetime | None = when()


class ProjectTaskCount(TableModel, table=True):
    """How many tasks a project has, and how many with ground truth: kept by triggers on ``task``
    (revision 0009 on SQLite, 0011 on PostgreSQL), so that a project's subsets are counted
    without reading its tasks."""

    __tablename__ = "project_task_count"

    project_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    tasks: int = 0
    ground_truth: int = 0


# The triggers that keep ProjectTaskCount, as revision 0009 makes them, for a database created
# from the models (an empty one, at start-up): without them its counts would stay empty.
_COUNT_ADD = (
    "INSERT INTO project_task_count (project_id, tasks, ground_truth) "
    "VALUES (NEW.project_id, 1, {gt}) ON CONFLICT (project_id) DO UPDATE SET "
    "tasks = project_task_count.tasks + 1, "
    "ground_truth = project_task_count.ground_truth + excluded.ground_truth"
)
_COUNT_TAKE = (
    "UPDATE project_task_count SET tasks = tasks - 1, ground_truth = ground_truth - {gt} "
    "WHERE project_id = OLD.project_id"
)
TASK_COUNT_TRIGGERS = {
    "task_count_insert": "AFTER INSERT ON task BEGIN "
    f"{_COUNT_ADD.format(gt='NEW.has_ground_truth')}; END",
    "task_count_delete": "AFTER DELETE ON task BEGIN "
    f"{_COUNT_TAKE.format(gt='OLD.has_ground_truth')}; END",
    "task_count_update": "AFTER UPDATE OF project_id, has_ground_truth ON task BEGIN "
    f"{_COUNT_TAKE.format(gt='OLD.has_ground_truth')}; {_COUNT_ADD.format(gt='NEW.has_ground_truth')}; END",
}
# On PostgreSQL, as revision 0011 makes them: once per statement, from its transition tables
# (a row trigger there made a new version of the project's row per task).
_COUNTED = (
    "SELECT project_id, count(*) AS tasks, count(*) FILTER (WHERE has_ground_truth) "
    "AS ground_truth FROM {rows} GROUP BY project_id"
)
_UPSERT = (
    "INSERT INTO project_task_count (project_id, tasks, ground_truth) {counts} "
    "ON CONFLICT (project_id) DO UPDATE SET "
    "tasks = project_task_count.tasks + excluded.tasks, "
    "ground_truth = project_task_count.ground_truth + excluded.ground_truth"
)
_MOVED = (
    "SELECT project_id, sum(tasks), sum(ground_truth) FROM ("
    "SELECT project_id, 1 AS tasks, has_ground_truth::int AS ground_truth FROM new_tasks "
    "UNION ALL SELECT project_id, -1, -(has_ground_truth::int) FROM old_tasks) AS moved "
    "GROUP BY project_id HAVING sum(tasks) <> 0 OR sum(ground_truth) <> 0"
)
_TAKE = (
    "UPDATE project_task_count SET tasks = project_task_count.tasks - gone.tasks, "
    "ground_truth = project_task_count.ground_truth - gone.ground_truth "
    f"FROM ({_COUNTED.format(rows='old_tasks')}) AS gone "
    "WHERE project_task_count.project_id = gone.project_id"
)
TASK_COUNT_STATEMENT_TRIGGERS = {
    "task_count_insert": (
        "INSERT ON task REFERENCING NEW TABLE AS new_tasks",
        _UPSERT.format(counts=_COUNTED.format(rows="new_tasks")),
    ),
    "task_count_delete": ("DELETE ON task REFERENCING OLD TABLE AS old_tasks", _TAKE),
    "task_count_update": (
        "UPDATE ON task REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks",
        _UPSERT.format(counts=_MOVED),
    ),
}
# After every table exists: a trigger names both task and project_task_count.
for _name, _body in TASK_COUNT_TRIGGERS.items():
    event.listen(
        SQLModel.metadata,
        "after_create",
        DDL(f"CREATE TRIGGER {_name} {_body}").execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
    )
for _name, (_event, _body) in TASK_COUNT_STATEMENT_TRIGGERS.items():
    for _ddl in (
        f"CREATE FUNCTION {_name}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {_body}; RETURN NULL; END $$",
        f"CREATE TRIGGER {_name} AFTER {_event} FOR EACH STATEMENT EXECUTE FUNCTION {_name}()",
    ):
        event.listen(
            SQLModel.metadata,
            "after_create",
            DDL(_ddl).execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
        )
    # Dropping the table drops its triggers, not their functions.
    event.listen(
        SQLModel.metadata,
        "after_drop",
        DDL(f"DROP FUNCTION IF EXISTS {_name}()").execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
    )


class Prompt(TableModel, table=True):
    """A prompt (Label Studio's ModelInterface)."""

    id: int = Field(primary_key=True)
    title: str
    organization_id: int = Field(foreign_key="organization.id", index=True)
    # --- prompts workspace: Label Studio's ModelInterface fields ---
    description: str | None = None
    skill_name: str = Field(
        default="TextClassification",
        sa_type=String,
        sa_column_kwargs={"server_default": "TextClassification"},
    )
    input_fields: Any = json_list()
    output_classes: Any = json_list()
    # The creator; no foreign key: Label Studio keeps the prompt when its creator goes (null).
    created_by_id: int | None = None
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class PromptProject(TableModel, table=True):
    """A prompt's associated projects."""

    __tablename__ = "prompt_project"

    prompt_id: int = Field(foreign_key="prompt.id", primary_key=True)
    project_id: int = Field(foreign_key="project.id", primary_key=True)


class PromptVersion(TableModel, table=True):
    """A prompt version (Label Studio's ThirdPartyModelVersion)."""

    __tablename__ = "prompt_version"

    id: int = Field(primary_key=True)
    prompt_id: int = Field(foreign_key="prompt.id", index=True)
    title: str
    prompt: str = ""
    provider: str = "OpenAI"
    provider_model_id: str = ""
    # Emulator knobs: share of ground-truth tasks predicted correctly, share of predictions failing.
    accuracy: float = 0.8
    failure_rate: float = 0.0
    # --- prompts workspace: Label Studio's ThirdPartyModelVersion fields ---
    max_few_shot_examples: int | None = None
    # A connection of the organization (model_provider_connection): no foreign key, as that
    # table comes later in the revision chain.
    model_provider_connection_id: int | None = None
    organization_id: int | None = None
    created_by_id: int | None = None
    created_at: datetime = stamp()
    updated_at: datetime = stamp()


class FewShotExample(TableModel, table=True):
    """A few-shot example of a prompt version: a task and one of its annotations, in order."""

    __tablename__ = "few_shot_example"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="prompt_version.id", index=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    # An annotation of the task; no foreign key, as that table comes later in the chain.
    annotation_id: int
    order: int = 0
    created_at: datetime = when(nullable=False)


# The runs with a due step in the order the worker claims them: the first due run is the first
# entry, where ix_model_run_due has a range per status, which every claim read whole and sorted
# (revision 0014). Runs without a due step are not in it: its WHERE is set for the dialect of
# the database creating the table, just before it does (_partial_due_order). Given here, as
# ``sqlite_where`` and ``postgresql_where``, it made SQLAlchemy import both dialects to check
# those names at every start (about 20 ms for PostgreSQL's on SQLite, 6 ms for SQLite's on
# PostgreSQL).
DUE_ORDER = Index("ix_model_run_due_order", "next_due_at", "id")
DUE_ORDER_WHERE = "next_due_at IS NOT NULL"


class ModelRun(TableModel, table=True):
    """An inference run of a prompt version over a project subset."""

    __tablename__ = "model_run"
    __table_args__ = (
        Index("ix_model_run_due", "status", "next_due_at"),
        DUE_ORDER,
        # A version's runs in the order its score is read: its latest Completed HasGT run is
        # the last entry of one range, read from the index alone (revision 0013).
        Index(
            "ix_model_run_scored", "version_id", "status", "project_subset", "completed_at", "id"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    project_id: int = Field(foreign_key="project.id", index=True)
    prompt_id: int = Field(foreign_key="prompt.id")
    version_id: int = Field(foreign_key="prompt_version.id")
    created_by_id: int = Field(foreign_key="user.id")
    status: str = Field(default=RunStatus.PENDING, sa_type=String)
    project_subset: str = Field(default=ProjectSubset.HAS_GT, sa_type=String)
    sample_subset_size: int | None = None
    filters_json: Any = Field(default=None, sa_type=JSON)
    job_id: str | None = Field(default=None, max_length=255)
    only_missing_predictions: bool = False
    task_ids: Any = Field(default=None, sa_type=JSON)
    source_model_run_id: int | None = None
    total_tasks: int | None = 0
    total_predictions: int | None = 0
    total_correct_predictions: int | None = 0
    created_at: datetime = when(nullable=False)
    triggered_at: datetime | None = when()
    completed_at: datetime | None = when()
    predictions_updated_at: datetime | None = when()
    # Emulator lifecycle: failed predictions so far, when the next step is due, forced outcome.
    total_failed: int = 0
    next_due_at: datetime | None = when()
    outcome: str | None = Field(default=None, sa_type=String)
    # Who makes the predictions: "simulated" (the emulator, on the virtual clock) or "external"
    # (a worker posting them through the batch endpoints).
    inference_mode: str = Field(
        default="simulated", sa_type=String, sa_column_kwargs={"server_default": "simulated"}
    )
    # The last task of its frozen subset a step consumed (null before the first): the next step
    # reads run_task after it, not through the index entries of the rows already deleted, which
    # PostgreSQL keeps until a vacuum (revision 0012).
    tasks_done_through: int | None = Field(default=None, sa_type=BigInteger)


@event.listens_for(ModelRun.__table__, "before_create")  # type: ignore[attr-defined]
def _partial_due_order(_table: Table, connection: Any, **_: Any) -> None:
    """Make ix_model_run_due_order partial on the database creating it."""
    DUE_ORDER.dialect_kwargs[f"{connection.dialect.name}_where"] = text(DUE_ORDER_WHERE)


class RunTask(TableModel, table=True):
    """The tasks a started run still has to predict (its frozen subset), consumed in id order."""

    __tablename__ = "run_task"

    run_id: int = Field(foreign_key="model_run.id", primary_key=True)
    task_id: int = Field(primary_key=True, sa_type=BigInteger)


class Prediction(TableModel, table=True):
    """Label Studio's Prediction: made by a run (run and version set: a successful prediction
    of that version) or posted through the API (run and version null unless it names a run)."""

    __table_args__ = (
        Index("ix_prediction_version_task", "version_id", "task_id"),
        # A task's predictions in id order with what a page of tasks counts of them (scores,
        # versions): a page's thousands are read from the index alone (revision 0013).
        Index("ix_prediction_task", "task_id", "id", "score", "model_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="model_run.id", index=True)
    task_id: int = Field(foreign_key="task.id")
    # The version of the run, and the project of the task, that the row names: no foreign key
    # of their own, which each row written would have checked (revision 0015; the run's and
    # the task's are checked, and the versions and projects are deleted after their runs and
    # tasks with what those made).
    version_id: int | None = None
    # Null on tasks without ground truth: correctness is only known against ground truth.
    correct: bool | None = None
    created_at: datetime = when(nullable=False)
    # --- tasks workspace: Label Studio's Prediction fields ---
    project_id: int | None = Field(default=None, index=True)
    result: Any = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    score: float | None = None
    model_version: str = Field(default="", sa_column_kwargs={"server_default": ""})
    cluster: int | None = None
    neighbors: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    mislabeling: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime | None = when()
    # --- results: what the model's call cost (the inference service reports it per task) ---
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_cost_usd: float | None = None
    completion_cost_usd: float | None = None
    total_cost_usd: float | None = None
    inference_time: float | None = None


Index("uq_prediction_run_task", col(Prediction.run_id), col(Prediction.task_id), unique=True)


class FailedPrediction(TableModel, table=True):
    __tablename__ = "failed_prediction"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="model_run.id", index=True)
    task_id: int = Field(foreign_key="task.id")
    version_id: int = Field(foreign_key="prompt_version.id")
    error_type: str = "ProviderError"
    message: str = ""
    created_at: datetime = when(nullable=False)
    # --- results: what the model's call cost, when it was made ---
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_cost_usd: float | None = None


Index(
    "uq_failed_prediction_run_task",
    col(FailedPrediction.run_id),
    col(FailedPrediction.task_id),
    unique=True,
)


# --- tasks workspace: annotations and imports ---


class Annotation(TableModel, table=True):
    """Label Studio's Annotation; a ground-truth one makes its task a HasGT task."""

    # A task's annotations in id order: its first ground truth is the first entry of its range.
    __table_args__ = (Index("ix_annotation_task", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id")
    project_id: int | None = Field(default=None, foreign_key="project.id", index=True)
    result: Any = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ground_truth: bool = False
    was_cancelled: bool = False
    completed_by_id: int | None = Field(default=None, foreign_key="user.id")
    lead_time: float | None = None
    import_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime | None = when()
    updated_at: datetime | None = when()


class ProjectImport(TableModel, table=True):
    """An import of tasks into a project (Label Studio Enterprise imports asynchronously)."""

    __tablename__ = "project_import"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    status: str = Field(default="created", sa_type=String)
    error: str | None = None
    commit_to_project: bool = True
    return_task_ids: bool = False
    preannotated_from_fields: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    task_count: int = 0
    annotation_count: int = 0
    prediction_count: int = 0
    duration: int = 0
    task_ids: Any = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = when(nullable=False)
    updated_at: datetime = when(nullable=False)
    finished_at: datetime | None = when()


class RunEvent(TableModel, table=True):
    """One status change of a run: the run's history."""

    __tablename__ = "run_event"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="model_run.id", index=True)
    from_status: str | None = Field(default=None, sa_type=String)
    to_status: str = Field(sa_type=String)
    at: datetime = when(nullable=False)
    # schedule | control | cancel | outcome | restart | error
    cause: str = Field(sa_type=String)
    reason: str = ""


# --- connections: model provider connections (revision 0004) ---


class ModelProviderConnection(TableModel, table=True):
    """A connection to a model provider (Label Studio's ModelProviderConnection). The secrets
    (api_key, auth_token, google_application_credentials) are never answered."""

    __tablename__ = "model_provider_connection"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    provider: str = Field(default="OpenAI", sa_type=String)
    scope: str = Field(default="Organization", sa_type=String)
    api_key: str | None = None
    auth_token: str | None = None
    google_application_credentials: str | None = None
    deployment_name: str | None = None
    endpoint: str | None = None
    google_project_id: str | None = None
    google_location: str | None = None
    cached_available_models: str | None = None
    is_internal: bool | None = False
    budget_alert_threshold: float | None = None
    budget_limit: float | None = None
    budget_reset_period: str | None = Field(default=None, sa_type=String)
    budget_total_spent: float | None = None
    budget_last_reset_date: datetime | None = when()
    created_at: datetime = when(nullable=False)
    updated_at: datetime = when(nullable=False)


class EmulatorState(TableModel, table=True):
    """The one row of shared emulator state: signing key, virtual clock, lifecycle policy."""

    __tablename__ = "emulator_state"

    # A serial column on PostgreSQL, as the first revision made it (1 is the model's default,
    # not the column's).
    id: int = Field(
        default=1, primary_key=True, sa_column_kwargs={"autoincrement": True, "default": None}
    )
    secret_key: str
    # The virtual clock: wall time plus offset, or a fixed instant while frozen.
    clock_offset_seconds: float = 0.0
    clock_frozen_at: datetime | None = when()
    policy: Any = Field(default=None, sa_type=JSON)
    # Whether the seed tables may differ from the configured seed document (after a seed
    # upsert or an import), so that a reset must reload them rather than keep them.
    seed_changed: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


# --- Fault rules of the control plane (revision 0006) ---------------------------------------


class FaultRule(TableModel, table=True):
    """A fault the emulator injects into matching Label Studio API requests: an error status,
    a delay or a dropped connection. Its counters are updated atomically, so that a rule holds
    across every process sharing the database."""

    __tablename__ = "fault_rule"

    id: int | None = Field(default=None, primary_key=True)
    # Null matches every method; a glob on the request path.
    method: str | None = None
    path: str
    status: int | None = None
    delay_ms: int | None = None
    drop: bool = False
    retry_after: int | None = None
    times: int | None = None
    probability: float | None = None
    after: int = 0
    user_id: int | None = None
    organization_id: int | None = None
    # How many requests matched it (method, path, caller), and how many of them it faulted.
    matched: int = 0
    fired: int = 0


# --- results: prompt refinement jobs (revision 0008) ---------------------------------------


class RefineJob(TableModel, table=True):
    """A refinement of a prompt version by a teacher model: Pending, then InProgress, then
    Completed with a new version holding the refined prompt, each step due at an instant of the
    virtual clock. Ids of versions and projects carry no foreign key: deleting them leaves the
    job, which then names what is gone."""

    __tablename__ = "refine_job"

    # The refinement_job_id Label Studio answers (a string).
    id: str = Field(primary_key=True, max_length=64, sa_column_kwargs={"autoincrement": False})
    organization_id: int = Field(index=True)
    prompt_id: int
    version_id: int = Field(index=True)
    project_id: int
    created_by_id: int | None = None
    teacher_model_name: str
    teacher_connection_id: int
    status: str = Field(default="Pending", sa_type=String)
    created_at: datetime = when(nullable=False)
    # When the next step is due (null once the job has ended).
    next_due_at: datetime | None = when(index=True)
    completed_at: datetime | None = when()
    refined_version_id: int | None = None
    reasoning: str | None = None
    total_cost_usd: float | None = None


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for statements that need no ORM objects."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it, undeclared
    return table


def utcnow() -> datetime:
    """Wall-clock time, for the few things that must not follow the virtual clock."""
    return datetime.now(UTC)
