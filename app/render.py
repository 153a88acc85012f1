"""Label Studio's JSON for each object, used by the Label Studio API and the control plane alike."""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Dialect, bindparam, type_coerce
from sqlalchemy import select as core_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import UserDefinedType
from sqlmodel import Session, col, select

from app.models import (
    SEED_EPOCH,
    FewShotExample,
    ModelRun,
    RunEvent,
    User,
    UTCDateTime,
    table_of,
)


def iso(value: datetime | None) -> str | None:
    """DRF's rendering of a UTC datetime: ISO 8601 with a trailing Z."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def iso_read(value: datetime | str | None) -> str | None:
    """``iso`` of a datetime as ``read_column`` answers it (ORM values too): text is already
    ``iso``'s, naive is UTC (SQLite stores it so), aware may be in the connection's zone."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    return iso(value if value.tzinfo is UTC else value.astimezone(UTC))


# --- columns read for long lists: what the ORM types do per value, done more cheaply ---


# Each byte of JSON text mapped to "0" (an ASCII digit) or to a space: 19 digits in a row are
# then one search in C for LONG_RUN (a regular expression tries a match at every digit, and
# took ten times longer over a batch of predictions).
_DIGIT_OR_NOT = bytes(ord("0") if chr(byte) in "0123456789" else ord(" ") for byte in range(256))
LONG_RUN = b"0" * 19


def orjson_reads_alike(data: bytes) -> bool:
    """Whether orjson reads this JSON text as json.loads does, if it reads it at all: 19 digits
    in a row may be an integer beyond 64 bits, which orjson reads as a float."""
    return data.translate(_DIGIT_OR_NOT).find(LONG_RUN) < 0


def loads_stored(text: str) -> Any:
    """json.loads of stored JSON, by orjson where it reads the same (it refuses NaN and lone
    surrogates, which json.loads reads)."""
    data = text.encode("utf-8", "surrogatepass")
    if orjson_reads_alike(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class _StoredText(FunctionElement[Any]):
    """A column as the text the database stores or writes for it, read through the column's
    own result processor (SQLite hands its stored text over as it is)."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


class _JSONText(_StoredText):
    """A JSON column as its stored text: PostgreSQL's json type keeps the text it was given,
    which psycopg would decode with json.loads."""

    name = "json_text"
    inherit_cache = True


class _ISOText(_StoredText):
    """A timestamp column as ``iso``'s text with six fractional digits, written by
    PostgreSQL (in UTC) instead of parsed into a datetime and formatted again."""

    name = "iso_text"
    inherit_cache = True


@compiles(_StoredText)
def _stored_text(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_JSONText, "postgresql")
def _json_text_postgresql(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


@compiles(_ISOText, "postgresql")
def _iso_text_postgresql(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _loads_column(value: str | None) -> Any:
    return None if value is None or value == "null" else loads_stored(value)


class StoredJSON(UserDefinedType[Any]):
    """A JSON column read as its stored text, decoded by ``loads_stored``."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "JSON"

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return _JSONText(colexpr)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        return _loads_column


def _iso_of_text(value: str | None) -> str | None:
    """``iso``'s text from PostgreSQL's ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (no fraction when 0)."""
    if value is None or not value.endswith(".000000Z"):
        return value
    return value[:-8] + "Z"


class StoredDateTime(UserDefinedType[Any]):
    """A datetime column read as ``iso``'s text: on SQLite straight from the stored text
    (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), on PostgreSQL as it writes it."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "TIMESTAMP"

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        return _ISOText(colexpr)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "postgresql":
            return _iso_of_text
        if dialect.name != "sqlite":
            return iso_read
        parse = DateTime().dialect_impl(dialect).result_processor(dialect, coltype)
        assert parse is not None  # SQLite's DATETIME is text

        def process(value: str | None) -> str | None:
            if value is None:
                return None
            if len(value) == 26 and value[10] == " " and value[19] == ".":
                clock = value[11:19] if value.endswith(".000000") else value[11:]
                return f"{value[:10]}T{clock}Z"
            return iso_read(parse(value))

        return process


@cache
def _sqlite_stamp() -> Callable[[str | None], str | None]:
    """StoredDateTime's processor on SQLite, for values of another form than SQLAlchemy's (made
    when first needed: SQLite's dialect is no import of a PostgreSQL server's start)."""
    from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

    return StoredDateTime().result_processor(sqlite_dialect(), None)  # type: ignore[return-value]


def read_column(column: ColumnElement[Any], datetimes: bool = False) -> ColumnElement[Any]:
    """A column of a table read for rendering, under its own name: datetimes as ``iso``'s text
    (``iso_read`` passes it on; as the database answers them with ``datetimes``, for code that
    compares them), JSON through ``loads_stored``."""
    if isinstance(column.type, UTCDateTime):
        return type_coerce(column, DateTime() if datetimes else StoredDateTime()).label(column.key)
    if isinstance(column.type, JSON):
        return type_coerce(column, StoredJSON()).label(column.key)
    return column


def user_simple(user: Any) -> dict[str, Any]:
    """A user (an ORM object or a row of its columns) as UserSimple."""
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "username": user.username,
        "avatar": None,
    }


# The columns of a run that its JSON shows, in the order run_json reads them.
RUN_COLUMNS = (
    "id", "created_by_id", "project_id", "version_id", "prompt_id", "organization_id",
    "project_subset", "sample_subset_size", "filters_json", "task_ids", "source_model_run_id",
    "job_id", "status", "total_tasks", "total_predictions", "total_correct_predictions",
    "created_at", "triggered_at", "predictions_updated_at", "completed_at",
)  # fmt: skip


def run_json(values: Sequence[Any], creator: dict[str, Any]) -> dict[str, Any]:
    """A run, given as its RUN_COLUMNS values, as the API shows it (``only_missing_predictions``
    is write-only: never shown)."""
    (pk, _, project_id, version_id, prompt_id, organization_id, subset, sample_size, filters,
     task_ids, source_run_id, job_id, status, total_tasks, total_predictions, total_correct,
     created_at, triggered_at, predictions_updated_at, completed_at) = values  # fmt: skip
    return {
        "id": pk,
        "created_by": creator,
        "project": project_id,
        "model_version": version_id,
        "parent_model": prompt_id,
        "organization": organization_id,
        "project_subset": subset,
        "sample_subset_size": sample_size,
        "filters_json": filters,
        "task_ids": task_ids,
        "source_model_run": source_run_id,
        "job_id": job_id,
        "status": status,
        "total_tasks": total_tasks,
        "total_predictions": total_predictions,
        "total_correct_predictions": total_correct,
        "created_at": iso_read(created_at),
        "triggered_at": iso_read(triggered_at),
        "predictions_updated_at": iso_read(predictions_updated_at),
        "completed_at": iso_read(completed_at),
    }


def model_run(run: Any, creator: dict[str, Any]) -> dict[str, Any]:
    """A run (an ORM object or a row of the table) as the API shows it."""
    return run_json([getattr(run, name) for name in RUN_COLUMNS], creator)


def model_runs(session: Session, runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Runs (ORM objects or rows of the table) as the API shows them, with their creators
    loaded in one query."""
    users = creators(session, [run.created_by_id for run in runs])
    return [model_run(run, users[run.created_by_id]) for run in runs]


# Joins a column's texts so that they are converted by a few passes of str.replace in C
# instead of a Python call each: no stored datetime holds it.
_SEPARATOR = "\x00"


def _sqlite_stamps(values: Sequence[str | None]) -> list[str | None]:
    """A column of datetimes as SQLite stores them, as ``iso``'s text. Stored by SQLAlchemy they
    are ``YYYY-MM-DD HH:MM:SS.ffffff`` (26 characters, one space, one point), which becomes
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (no fraction when it is 0); a column holding any other form
    (the server default of rows older than a column) goes value by value through
    StoredDateTime's processor."""
    texts = [value or "" for value in values]
    joined = _SEPARATOR.join(texts) + _SEPARATOR
    present = len(texts) - texts.count("")
    if not (
        len(joined) == 27 * present + texts.count("")
        and joined.count(" ") == present
        and joined.count(".") == present
    ):
        stamp = _sqlite_stamp()
        return [stamp(value) for value in values]
    joined = joined.replace(".000000" + _SEPARATOR, _SEPARATOR).replace(" ", "T")
    stamps: list[Any] = joined.replace(_SEPARATOR, "Z" + _SEPARATOR).split(_SEPARATOR)
    stamps.pop()
    return stamps if present == len(texts) else [s if s != "Z" else None for s in stamps]


def _postgresql_stamps(values: Sequence[str | None]) -> list[str | None]:
    """A column of PostgreSQL's ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (``_ISOText``) as ``iso``'s
    text, as ``_iso_of_text`` makes each."""
    if not values:
        return []
    texts = [value or "" for value in values]
    joined = (_SEPARATOR.join(texts) + _SEPARATOR).replace(
        ".000000Z" + _SEPARATOR, "Z" + _SEPARATOR
    )
    stamps: list[Any] = joined.split(_SEPARATOR)
    stamps.pop()
    return stamps if "" not in texts else [s or None for s in stamps]


def _stamps(dialect: str) -> Callable[[Sequence[Any]], list[str | None]]:
    if dialect == "sqlite":
        return _sqlite_stamps
    if dialect == "postgresql":
        return _postgresql_stamps
    return lambda values: [iso_read(value) for value in values]


def stored_json(values: Sequence[str | None]) -> list[Any]:
    """A column of stored JSON decoded as ``_loads_column`` decodes each value (null for None),
    by one parse of all of them as one array where orjson reads it as json.loads does: a page
    of thousands costs half as much as a call for each."""
    present = [value for value in values if value is not None and value != "null"]
    if not present:
        return [None] * len(values)
    data = ("[" + ",".join(present) + "]").encode("utf-8", "surrogatepass")
    decoded: Any = None
    if orjson_reads_alike(data):
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError:  # NaN or a lone surrogate: json.loads reads those
            pass
    if decoded is None or len(decoded) != len(present):
        return [_loads_column(value) for value in values]
    if len(present) == len(values):
        return decoded  # type: ignore[no-any-return]
    found = iter(decoded)
    return [None if value is None or value == "null" else next(found) for value in values]


def run_rows(
    session: Session, rows: Sequence[Sequence[Any]], caller: Any = None
) -> tuple[list[dict[str, Any]], bool]:
    """Runs read as RUN_COLUMNS through ``read_column``, as the driver's cursor answers them
    (``driver_rows``: a poll may list thousands), as ``run_json`` shows them, with their
    creators (``caller`` as the request's authentication read it, the others in one query);
    and whether any float may be among their values (only their stored JSON can hold one).
    The datetimes and the stored JSON are converted a column at a time: the datetimes by a
    few passes over the whole column."""
    if not rows:
        return [], False
    users = creators(session, {row[1] for row in rows}, caller)
    filters = stored_json([row[8] for row in rows])
    task_ids = stored_json([row[9] for row in rows])
    floats = any(value is not None for value in filters) or any(
        value is not None for value in task_ids
    )
    stamps = _stamps(session.get_bind().dialect.name)
    created, triggered, updated, completed = (
        stamps([row[index] for row in rows]) for index in range(16, 20)
    )
    return [
        {
            "id": pk,
            "created_by": users[created_by],
            "project": project_id,
            "model_version": version_id,
            "parent_model": prompt_id,
            "organization": organization_id,
            "project_subset": subset,
            "sample_subset_size": sample_size,
            "filters_json": filters_json,
            "task_ids": ids,
            "source_model_run": source_run_id,
            "job_id": job_id,
            "status": status,
            "total_tasks": total_tasks,
            "total_predictions": total_predictions,
            "total_correct_predictions": total_correct,
            "created_at": created_at,
            "triggered_at": triggered_at,
            "predictions_updated_at": predictions_updated_at,
            "completed_at": completed_at,
        }
        for (pk, created_by, project_id, version_id, prompt_id, organization_id, subset,
             sample_size, _, _, source_run_id, job_id, status, total_tasks, total_predictions,
             total_correct, _, _, _, _), filters_json, ids, created_at, triggered_at,
            predictions_updated_at, completed_at
        in zip(rows, filters, task_ids, created, triggered, updated, completed, strict=True)
    ], floats  # fmt: skip


def run_history(session: Session, run: ModelRun) -> dict[str, Any]:
    """Every status change of a run, oldest first (the control plane's history)."""
    events = session.exec(
        select(RunEvent).where(RunEvent.run_id == run.id).order_by(col(RunEvent.id))
    )
    return {
        "run": run.id,
        "status": run.status,
        "events": [
            {
                "from": e.from_status,
                "to": e.to_status,
                "at": iso(e.at),
                "cause": e.cause,
                "reason": e.reason,
            }  # fmt: skip
            for e in events
        ],
    }


# --- prompts workspace: prompts, versions, few-shot examples, compatible projects ---


_USERS = table_of(User)
# Built once, the ids bound when it runs (see _SCORED_RUNS in app/workspace/prompts.py).
_USERS_SIMPLE = core_select(
    _USERS.c.id, _USERS.c.first_name, _USERS.c.last_name, _USERS.c.email, _USERS.c.username
).where(_USERS.c.id.in_(bindparam("ids", expanding=True)))


def creators(
    session: Session, user_ids: Iterable[int | None], known: Any = None
) -> dict[int, dict[str, Any]]:
    """The users of these ids as UserSimple, loaded in one query (of plain rows). ``known``, a
    user the request has read already (its caller, as authentication found it), is not read
    again: when every id is its, no query at all."""
    ids = {pk for pk in user_ids if pk is not None}
    users: dict[int, dict[str, Any]] = {}
    if known is not None and known.id in ids:
        ids.discard(known.id)
        users[known.id] = user_simple(known)
    if ids:
        rows = session.connection().execute(_USERS_SIMPLE, {"ids": list(ids)})
        users.update((row.id, user_simple(row)) for row in rows)
    return users


def model_interface(
    prompt: Any, creator: dict[str, Any] | None, project_ids: list[int]
) -> dict[str, Any]:
    """A prompt (an ORM object or a row of read columns) as Label Studio answers a create or
    update (ModelInterface)."""
    return {
        "id": prompt.id,
        "created_by": creator,
        "title": prompt.title,
        "description": prompt.description,
        "created_at": iso_read(prompt.created_at),
        "updated_at": iso_read(prompt.updated_at),
        "organization": prompt.organization_id,
        "input_fields": prompt.input_fields,
        "output_classes": prompt.output_classes,
        "skill_name": prompt.skill_name,
        "associated_projects": project_ids,
    }


def model_interface_get(
    prompt: Any,
    creator: dict[str, Any] | None,
    projects: list[dict[str, Any]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """A prompt as Label Studio lists and retrieves it (ModelInterfaceSerializerGET)."""
    body = model_interface(prompt, creator, [])
    body["associated_projects"] = projects
    return body | stats


def model_version(
    version: Any, creator: dict[str, Any] | None, score: float | None
) -> dict[str, Any]:
    """A prompt version (an ORM object or a row of read columns) as ThirdPartyModelVersion;
    accuracy and failure_rate are the emulator's and never shown."""
    return version_json(
        [
            iso_read(getattr(version, name)) if name in _STAMPS else getattr(version, name)
            for name in VERSION_COLUMNS
        ],
        creator,
        score,
    )


# The columns of a prompt version that its JSON shows, in the order version_json reads them.
VERSION_COLUMNS = (
    "id", "title", "prompt_id", "prompt", "provider", "provider_model_id",
    "max_few_shot_examples", "model_provider_connection_id", "organization_id", "created_at",
    "updated_at",
)  # fmt: skip


def version_json(
    values: Sequence[Any], creator: dict[str, Any] | None, score: float | None
) -> dict[str, Any]:
    """``model_version`` of a version given as its VERSION_COLUMNS values, datetimes already
    ``iso``'s text (as ``read_column`` reads them)."""
    (pk, title, prompt_id, prompt, provider, model_id, max_examples, connection_id,
     organization_id, created_at, updated_at) = values  # fmt: skip
    return {
        "id": pk,
        "created_by": creator,
        "title": title,
        "parent_model": prompt_id,
        "prompt": prompt,
        "provider": provider,
        "provider_model_id": model_id,
        "model_display_name": model_id,
        "max_few_shot_examples": max_examples,
        "model_provider_connection": connection_id,
        "organization": organization_id,
        "score": score,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def few_shot_example(
    example: FewShotExample, task_data: dict[str, Any], annotation_result: Any
) -> dict[str, Any]:
    return {
        "id": example.id,
        "task": example.task_id,
        "annotation": example.annotation_id,
        "order": example.order,
        "task_data": task_data,
        "annotation_result": annotation_result,
        "created_at": iso(example.created_at),
    }


# --- connections, projects, users and server (Label Studio's JSON) ---


def connection(row: Any, creator: dict[str, Any] | None) -> dict[str, Any]:
    """A ModelProviderConnection; its secrets are write-only and never shown."""
    return {
        "id": row.id,
        "created_by": creator,
        "model_params": {},
        "provider": row.provider,
        "deployment_name": row.deployment_name,
        "endpoint": row.endpoint,
        "scope": row.scope,
        "cached_available_models": row.cached_available_models,
        "google_project_id": row.google_project_id,
        "google_location": row.google_location,
        "is_internal": row.is_internal,
        "budget_limit": row.budget_limit,
        "budget_last_reset_date": iso(row.budget_last_reset_date),
        "budget_reset_period": row.budget_reset_period,
        "budget_total_spent": row.budget_total_spent,
        "budget_alert_threshold": row.budget_alert_threshold,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "organization": row.organization_id,
    }


def connections(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Connections with their creators loaded in one query."""
    ids = {row.created_by_id for row in rows}
    users = {u.id: user_simple(u) for u in session.exec(select(User).where(col(User.id).in_(ids)))}
    return [connection(row, users.get(row.created_by_id)) for row in rows]


def initials(user: User) -> str:
    """Label Studio's initials of a user: first letters of the names, else of the username."""
    if user.first_name and user.last_name:
        return (user.first_name[:1] + user.last_name[:1]).upper()
    if user.first_name or user.last_name:
        return (user.first_name or user.last_name)[:1].upper()
    return (user.username or user.email)[:2].upper() or "?"


def whoami(user: User, organization_title: str, now: datetime) -> dict[str, Any]:
    """WhoAmIUser: the user, their organization and their membership."""
    membership = {
        "active": True,
        "flex": None,
        "organization_id": user.organization_id,
        "role": "OWNER",
        "user_type": None,
    }
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "email": user.email,
        "last_activity": iso(now),
        "custom_hotkeys": {},
        "avatar": None,
        "initials": initials(user),
        "phone": "",
        "active_organization": user.organization_id,
        "active_organization_meta": {"title": organization_title},
        "allow_newsletters": None,
        "date_joined": iso(SEED_EPOCH),
        "org_membership": [membership],
        "organization_membership": membership,
        "lse_fields": {
            "active_organization_external_id": None,
            "email_notification_settings": {},
            "invite_activated": None,
            "invite_expired": None,
            "invite_expired_at": None,
            "invited_at": None,
            "invited_by": None,
            "onboarding_state": "complete",
            "social_auth_finished": None,
            "trial_company": None,
            "trial_experience_labeling": None,
            "trial_license_enterprise": None,
            "trial_models_in_production": None,
            "trial_role": None,
        },
        "pause": None,
        "permissions": [],
        "social_accounts": [],
    }


def version(server_version: str) -> dict[str, Any]:
    """VersionResponse: the server version (the one error envelopes carry) for every part."""
    part = {"version": server_version, "commit": None, "branch": None, "date": None}
    return {
        "release": server_version,
        "label-studio-os-package": part,
        "label-studio-os-backend": part,
        "label-studio-frontend": part,
        "dm2": part,
        "label-studio-converter": {"version": server_version},
        "lsf": part,
        "backend": part,
        "edition": "Enterprise",
    }


# Keys of LseProjectCreate (the answer to a create) and of AllRolesProjectList (a list's items)
# beyond LseProjectResponse's, as the contract lists them.
PROJECT_CREATE_OMITS = frozenset({
    "agreement_methodology", "agreement_threshold", "allow_stream", "annotation_limit_count",
    "annotation_limit_percent", "annotator_evaluation_continuous_tasks",
    "annotator_evaluation_metric", "annotator_evaluation_minimum_score",
    "annotator_evaluation_minimum_tasks", "annotator_evaluation_onboarding_tasks",
    "assignment_settings", "comment_classification_config", "custom_script",
    "custom_task_lock_ttl", "data_types", "duplication_done", "duplication_status",
    "is_dimensions_enabled", "max_additional_annotators_assignable", "members", "members_count",
    "pause_on_failed_annotator_evaluation", "permissions", "prompts", "queue_left", "ready",
    "rejected", "require_comment_on_skip", "review_settings", "review_total_tasks",
    "reviewed_number", "reviewer_queue_total", "show_unused_data_columns_to_annotators",
    "strict_task_overlap", "workspace_title",
})  # fmt: skip
PROJECT_LIST_OMITS = frozenset({"permissions", "task_data_login", "task_data_password"})
PROJECT_PERMISSIONS = ["projects.view", "projects.change", "projects.delete", "tasks.view"]


def _short(text: str | None, length: int = 300) -> str:
    text = text or ""
    return text if len(text) <= length else text[: length - 3] + "..."


def project(
    row: Any,
    facts: Any,
    defaults: dict[str, Any],
    shape: str = "detail",
    include: set[str] | None = None,
) -> dict[str, Any]:
    """A project as LseProjectResponse (``detail``), LseProjectCreate (``create``) or
    AllRolesProjectList (``list``, whose count fields ``include`` may narrow)."""
    stored = row.settings or {}
    values = {key: stored.get(key, default) for key, default in defaults.items()}
    config = facts.config
    parsed = config.parsed() if config is not None else {}
    finished = facts.ground_truth
    body: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "label_config": row.label_config,
        **{k: v for k, v in values.items() if k not in ("assignment_settings", "review_settings")},
        "created_by": facts.creator,
        "created_at": iso(row.created_at),
        "organization": row.organization_id,
        "pinned_at": iso(row.pinned_at),
        "source_interface_id": row.source_interface_id,
        "source_interface_version": stored.get("source_interface_version"),
        "workspace": row.organization_id,
        "workspace_title": "Default workspace",
        "state": "CREATED",
        "parsed_label_config": parsed,
        "data_types": config.data_types() if config is not None else {},
        "config_has_control_tags": bool(parsed),
        "config_suitable_for_bulk_annotation": bool(parsed)
        and all(
            c.type in ("Choices", "TextArea") and c.attrs.get("perRegion") != "true"
            for c in (config.controls if config is not None else [])
        ),
        "task_number": facts.tasks,
        "finished_task_number": finished,
        "total_predictions_number": facts.predictions,
        "total_annotations_number": facts.ground_truth,
        "num_tasks_with_annotations": facts.ground_truth,
        "useful_annotation_number": facts.ground_truth,
        "ground_truth_number": facts.ground_truth,
        "skipped_annotations_number": 0,
        "queue_total": facts.tasks,
        "queue_done": finished,
        "queue_left": facts.tasks - finished,
        "rejected": 0,
        "reviewed_number": 0,
        "review_total_tasks": 0,
        "reviewer_queue_total": 0,
        "ready": True,
        "allow_stream": True,
        "start_training_on_annotation_update": False,
        "is_dimensions_enabled": False,
        "members": [],
        "members_count": 0,
        "prompts": facts.prompts or [],
        "permissions": PROJECT_PERMISSIONS,
        "assignment_settings": {"id": row.id, "project": row.id, **values["assignment_settings"]},
        "review_settings": {
            "id": row.id,
            "project": row.id,
            "requeue_rejected_tasks_to_annotator": values["review_settings"].get(
                "requeue_rejected_tasks_mode"
            )
            == "requeue",
            **values["review_settings"],
        },
    }
    if shape == "create":
        return {k: v for k, v in body.items() if k not in PROJECT_CREATE_OMITS}
    if shape == "list":
        body = {k: v for k, v in body.items() if k not in PROJECT_LIST_OMITS}
        body["blueprints"] = []
        body["description_short"] = _short(row.description)
        body["internal_description_short"] = None
        if include is not None:
            counts = {
                "task_number", "finished_task_number", "total_predictions_number",
                "total_annotations_number", "num_tasks_with_annotations",
                "useful_annotation_number", "ground_truth_number", "skipped_annotations_number",
            }  # fmt: skip
            body = {k: v for k, v in body.items() if k not in counts or k in include}
    return body


# --- tasks workspace: tasks, annotations, predictions, imports ---


def annotation_json(annotation: Any) -> dict[str, Any]:
    """An annotation as a task's ``annotations`` list shows it."""
    return {
        "id": annotation.id,
        "result": annotation.result,
        "created_username": "",
        "created_ago": "",
        "completed_by": annotation.completed_by_id,
        "was_cancelled": annotation.was_cancelled,
        "ground_truth": annotation.ground_truth,
        "created_at": iso_read(annotation.created_at),
        "updated_at": iso_read(annotation.updated_at),
        "draft_created_at": None,
        "lead_time": annotation.lead_time,
        "import_id": annotation.import_id,
        "last_action": None,
        "bulk_created": False,
        "task": annotation.task_id,
        "project": annotation.project_id,
        "updated_by": annotation.completed_by_id,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }


# The columns of a prediction that its JSON shows (what the run's call cost is not shown).
PREDICTION_COLUMNS = (
    "id", "result", "model_version", "score", "cluster", "neighbors", "mislabeling",
    "created_at", "updated_at", "run_id", "task_id", "project_id",
)  # fmt: skip
_STAMPS = ("created_at", "updated_at")


def prediction_json(prediction: Any) -> dict[str, Any]:
    """Label Studio's Prediction (an ORM object or a row of the table)."""
    return prediction_row_json(
        [
            iso_read(getattr(prediction, name)) if name in _STAMPS else getattr(prediction, name)
            for name in PREDICTION_COLUMNS
        ]
    )


def prediction_row_json(values: Sequence[Any]) -> dict[str, Any]:
    """``prediction_json`` of a prediction read as its PREDICTION_COLUMNS through
    ``read_column`` (datetimes already ``iso``'s text): lists render thousands."""
    (pk, result, model_version, score, cluster, neighbors, mislabeling, created_at, updated_at,
     run_id, task_id, project_id) = values  # fmt: skip
    return {
        "id": pk,
        "result": result,
        "model_version": model_version,
        "created_ago": "",
        "score": score,
        "cluster": cluster,
        "neighbors": neighbors,
        "mislabeling": mislabeling,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "model": None,
        "model_run": run_id,
        "task": task_id,
        "project": project_id,
    }


def prediction_rows_json(rows: Sequence[Sequence[Any]], dialect: str) -> list[dict[str, Any]]:
    """``prediction_row_json`` of predictions read as PREDICTION_COLUMNS through ``read_column``
    as the driver's cursor answers them (``driver_rows``): their stored JSON and datetimes
    converted a column at a time (``stored_json``, ``_stamps``)."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    stamps = _stamps(dialect)
    results, neighbors = stored_json(columns[1]), stored_json(columns[5])
    created, updated = stamps(columns[7]), stamps(columns[8])
    return [
        prediction_row_json(values)
        for values in zip(
            columns[0], results, columns[2], columns[3], columns[4], neighbors, columns[6],
            created, updated, columns[9], columns[10], columns[11], strict=True
        )
    ]  # fmt: skip


@dataclass(slots=True)
class TaskPredictions:
    """What a task's JSON shows of its predictions, gathered oldest first: how many, their
    scores (those not null), their model versions (those not blank, each once) and, when the
    predictions are shown whole, their JSON."""

    count: int = 0
    scores: list[float] = field(default_factory=list)
    versions: dict[str, None] = field(default_factory=dict)
    shown: list[dict[str, Any]] = field(default_factory=list)

    def add(self, score: float | None, model_version: str | None) -> None:
        self.count += 1
        if score is not None:
            self.scores.append(score)
        if model_version:
            self.versions[model_version] = None


def task_json(
    task: Any, annotations: Sequence[Any], predictions: TaskPredictions, nested: bool = True
) -> dict[str, Any]:
    """Label Studio's LseTask (the admin's view); ``nested`` includes the annotations and
    predictions themselves (fields=all), else only their counts."""
    done = [a for a in annotations if not a.was_cancelled]
    cancelled = len(annotations) - len(done)
    annotators = list(dict.fromkeys(a.completed_by_id for a in annotations if a.completed_by_id))
    lead_times = [a.lead_time for a in done if a.lead_time is not None]
    scores = predictions.scores
    completed = max((a.created_at for a in done if a.created_at), default=None)
    return {
        "id": task.id,
        "agreement": 100.0 if len(done) == 1 else 0.0,
        "agreement_selected": 0.0,
        "allow_skip": task.allow_skip,
        "annotation_time": None,
        "annotations": [annotation_json(a) for a in annotations] if nested else [],
        "annotations_ids": ", ".join(str(a.id) for a in annotations),
        "annotations_results": "",
        "annotators": [{"user_id": user_id} for user_id in annotators],
        "annotators_count": len(annotators),
        "avg_lead_time": sum(lead_times) / len(lead_times) if lead_times else 0.0,
        "cancelled_annotations": cancelled,
        "comment_authors": [],
        "comment_authors_count": 0,
        "comment_count": 0,
        "comments": "",
        "completed_at": iso_read(completed),
        "created_at": iso_read(task.created_at),
        "data": task.data,
        "draft_exists": False,
        "drafts": [],
        "file_upload": None,
        "ground_truth": task.has_ground_truth,
        "inner_id": task.inner_id,
        "is_labeled": bool(done),
        "last_comment_updated_at": None,
        "meta": task.meta,
        "overlap": 1,
        "precomputed_agreement": None,
        "predictions": predictions.shown if nested else [],
        "predictions_model_versions": ", ".join(predictions.versions),
        "predictions_results": "",
        "predictions_score": sum(scores) / len(scores) if scores else 0.0,
        "project": task.project_id,
        "review_time": None,
        "reviewed": False,
        "reviewers": [],
        "reviewers_count": 0,
        "reviews_accepted": 0,
        "reviews_rejected": 0,
        "state": "",
        "storage_filename": None,
        "total_annotations": len(done),
        "total_predictions": predictions.count,
        "unresolved_comment_count": 0,
        "updated_at": iso_read(task.updated_at or task.created_at),
        "updated_by": [],
    }


def project_import_json(record: Any) -> dict[str, Any]:
    """Label Studio's ProjectImport: the status of an import."""
    return {
        "id": record.id,
        "project": record.project_id,
        "preannotated_from_fields": record.preannotated_from_fields,
        "commit_to_project": record.commit_to_project,
        "return_task_ids": record.return_task_ids,
        "status": record.status,
        "url": None,
        "error": record.error,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "finished_at": iso(record.finished_at),
        "task_count": record.task_count,
        "annotation_count": record.annotation_count,
        "prediction_count": record.prediction_count,
        "duration": record.duration,
        "file_upload_ids": [],
        "could_be_tasks_list": False,
        "found_formats": [],
        "data_columns": [],
        "tasks": None,
        "task_ids": record.task_ids,
    }


# --- results: refinement jobs ---


def refined_prompt(
    job: Any, previous_version: dict[str, Any] | None, refined: Any | None
) -> dict[str, Any]:
    """A refinement job as RefinedPromptResponse: the refined prompt once Completed."""
    return {
        "title": refined.title if refined is not None else None,
        "reasoning": job.reasoning,
        "prompt": refined.prompt if refined is not None else "",
        "refinement_job_id": job.id,
        "refinement_status": job.status,
        "total_cost": f"{job.total_cost_usd:.8f}" if job.total_cost_usd is not None else None,
        "previous_version": previous_version,
    }
