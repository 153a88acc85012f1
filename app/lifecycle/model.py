"""A prompt version on a project, ready to predict: the version, its prompt and the shape of
its predictions on the project (the label config parsed once per session), and the task inputs
a batch needs, fetched for the whole batch at once. No HTTP here."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, cast
from sqlalchemy import select as sa_select
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import Session, col, select

from app.db import driver_rows
from app.lifecycle.bulk import among
from app.lifecycle.inference import Made, Version, predict_on
from app.lifecycle.outputs import Shape, shared_shape
from app.models import (
    Annotation,
    ModelRun,
    Project,
    Prompt,
    PromptVersion,
    RunTask,
    Task,
)
from app.render import loads_stored

DECODED_CACHE_SIZE = 4096
MODELS_KEPT = 256  # run models kept for the process before starting again


@dataclass(frozen=True)
class VersionModel:
    version: PromptVersion
    prompt: Prompt
    project_id: int
    shape: Shape

    @cached_property
    def _settings(self) -> Version:
        """What every prediction of the version takes, read once (not per task) from its rows."""
        v = self.version
        assert v.id is not None  # a stored version
        fields = [f for f in self.prompt.input_fields or [] if isinstance(f, str)]
        return Version(
            v.id, v.accuracy, v.failure_rate, v.provider, v.provider_model_id, v.prompt, fields,
            self.shape,
        )  # fmt: skip

    def predict(
        self, seed: int, task_id: int, data: Any, ground_truth: Any, whole: bool = True
    ) -> Made:
        return predict_on(self._settings, seed, task_id, data, ground_truth, whole)


def version_model(
    session: Session, version: PromptVersion, project_id: int, prompt: Prompt | None = None
) -> VersionModel:
    """A version on a project; cached in the session (a run's batches parse the config once)."""
    cache: dict[tuple[int, int], VersionModel] = session.info.setdefault("version_models", {})
    key = (version.id, project_id)
    if key not in cache:
        prompt = prompt or session.get(Prompt, version.prompt_id)
        project = session.get(Project, project_id)
        assert prompt is not None  # a version always has its prompt
        config = project.label_config if project is not None else None
        cache[key] = VersionModel(
            version, prompt, project_id, shared_shape(config, prompt.output_classes)
        )
    return cache[key]


# What a run's model is made of, read in one statement: the version's, its prompt's and its
# project's columns that the model takes. A model is kept for the process by these values (a
# change to any of them reads as another model), as a run's steps are spread over many
# sessions, each of which found the three rows again.
_MODEL_OF = (
    sa_select(
        col(PromptVersion.id),
        col(PromptVersion.title),
        col(PromptVersion.accuracy),
        col(PromptVersion.failure_rate),
        col(PromptVersion.provider),
        col(PromptVersion.provider_model_id),
        col(PromptVersion.prompt),
        cast(col(Prompt.input_fields), Text),
        cast(col(Prompt.output_classes), Text),
        col(Project.label_config),
    )  # fmt: skip
    .join(Prompt, col(Prompt.id) == col(PromptVersion.prompt_id))
    .outerjoin(Project, col(Project.id) == bindparam("project_id"))
    .where(col(PromptVersion.id) == bindparam("version_id"))
)
_MODELS: dict[tuple[Any, ...], VersionModel] = {}


def run_model(session: Session, run: ModelRun) -> VersionModel:
    """The version of a run on its project."""
    cache: dict[tuple[int, int], VersionModel] = session.info.setdefault("version_models", {})
    hit = cache.get((run.version_id, run.project_id))
    if hit is not None:
        return hit
    found = (
        session.connection()
        .execute(_MODEL_OF, {"version_id": run.version_id, "project_id": run.project_id})
        .one_or_none()
    )
    assert found is not None  # a run's version is kept while the run exists
    key = (run.project_id, *found)
    model = _MODELS.get(key)
    if model is None:
        version = session.get(PromptVersion, run.version_id)
        assert version is not None
        made = version_model(session, version, run.project_id)
        # Copies, kept beyond this session (whose objects expire at its end).
        prompt = made.prompt.model_copy()
        model = VersionModel(version.model_copy(), prompt, run.project_id, made.shape)
        if len(_MODELS) >= MODELS_KEPT:
            _MODELS.clear()
        _MODELS[key] = model
    cache[(run.version_id, run.project_id)] = model
    return model


def first_ground_truth(task_id: Any = None) -> ScalarSelect[Any]:
    """The result of a task's first ground-truth annotation (by id), as JSON text, correlated
    to the column ``task_id`` (``task.id`` by default)."""
    return (
        select(cast(col(Annotation.result), Text))
        .where(
            col(Annotation.task_id) == (col(Task.id) if task_id is None else task_id),
            col(Annotation.ground_truth),
            ~col(Annotation.was_cancelled),
        )
        .order_by(col(Annotation.id))
        .limit(1)
        .scalar_subquery()
    )


# JSON texts already decoded, by text (what a text decodes to never changes), shared by the
# process's sessions: a run's steps are spread over many transactions.
_DECODED: dict[str, Any] = {}


def decoded(session: Session, text: str | None) -> Any:
    """JSON text read from the database, decoded once: runs of one project read the same
    tasks, and ground truths repeat. Callers never change what it answers."""
    if text is None:
        return None
    found = _DECODED.get(text, _DECODED)
    if found is _DECODED:
        if len(_DECODED) >= DECODED_CACHE_SIZE:
            _DECODED.clear()
        found = _DECODED[text] = loads_stored(text)
    return found


def task_inputs(session: Session, task_ids: Sequence[int]) -> tuple[dict[int, Any], dict[int, Any]]:
    """The data of tasks and the result of each one's ground-truth annotation (the first by id),
    in one query."""
    rows = (
        session.connection()
        .execute(
            sa_select(col(Task.id), cast(col(Task.data), Text), first_ground_truth()).where(
                among(session, col(Task.id), task_ids)
            )
        )
        .all()
    )
    data: dict[int, Any] = {}
    truths: dict[int, Any] = {}
    for task_id, task_data, result in rows:
        data[task_id] = decoded(session, task_data)
        if result is not None:
            truths[task_id] = decoded(session, result)
    return data, truths


def task_texts(session: Session, task_ids: Sequence[int]) -> dict[int, str]:
    """The data of tasks as its stored JSON text (for ``decoded``), in one query."""
    rows = session.connection().execute(
        sa_select(col(Task.id), cast(col(Task.data), Text)).where(
            among(session, col(Task.id), task_ids)
        )
    )
    return dict(rows.all())  # type: ignore[arg-type]  # rows of two columns


class RunInput(NamedTuple):
    """A task a run waits for, as its next batch needs it; ``exists`` is False for a task deleted
    since the run started."""

    task_id: int
    exists: bool
    has_ground_truth: bool
    data: Any
    ground_truth: Any


# The statements of next_inputs, built once: the run's next ids (the LIMIT kept in a subquery,
# which the planner keeps apart from the join, see next_inputs), joined to their tasks.
_NEXT_IDS = (
    sa_select(col(RunTask.task_id))
    .where(col(RunTask.run_id) == bindparam("run_id"))
    .order_by(col(RunTask.task_id))
    .limit(bindparam("limit"))
)


def _inputs_of(ids: Any) -> Any:
    following = ids.subquery("following")
    return (
        sa_select(
            following.c.task_id,
            col(Task.id).is_not(None),
            col(Task.has_ground_truth),
            cast(col(Task.data), Text),
            first_ground_truth(),
        )
        .select_from(following.outerjoin(Task, col(Task.id) == following.c.task_id))
        .order_by(following.c.task_id)
    )


_NEXT_INPUTS = _inputs_of(_NEXT_IDS)
_NEXT_INPUTS_AFTER = _inputs_of(_NEXT_IDS.where(col(RunTask.task_id) > bindparam("after")))


def next_inputs(
    session: Session, run_id: int, limit: int, after: int | None = None
) -> list[RunInput]:
    """The next ``limit`` tasks of a run's frozen subset (in id order, after task ``after``) with
    their data and ground truth, in one statement: the ids in a subquery with its LIMIT, then
    their tasks. With the LIMIT outside (a plain join), PostgreSQL planned by run_task's
    statistics, which a large run's start leaves stale: it joined every task the run still
    waited for (or walked the task table from its first id) before keeping the first
    ``limit``, so a step's cost grew with the project. A subquery with a LIMIT is not merged
    into the query around it, so the join sees at most ``limit`` ids."""
    # The driver's own rows, fetched all at once: SQLAlchemy's Row and its processing of each
    # value cost about what the database's reading of the row does.
    if after is None:
        rows = driver_rows(session.connection(), _NEXT_INPUTS, {"run_id": run_id, "limit": limit})
    else:
        params = {"run_id": run_id, "limit": limit, "after": after}
        rows = driver_rows(session.connection(), _NEXT_INPUTS_AFTER, params)
    return [
        RunInput(task_id, bool(exists), bool(has_gt), decoded(session, data),
                 decoded(session, truth))
        for task_id, exists, has_gt, data, truth in rows
    ]  # fmt: skip


def try_task(
    session: Session,
    prompt: Prompt,
    version: PromptVersion,
    project_id: int,
    task_id: int,
    seed: int,
    prompt_override: str | None = None,
) -> dict[str, Any]:
    """What the version answers on one task, as a run of it would (nothing is stored), in
    Label Studio's TryTaskResponse shape; a prompt override changes only what is sent."""
    model = version_model(session, version, project_id, prompt)
    if prompt_override:
        changed = version.model_copy(update={"prompt": prompt_override})
        model = VersionModel(changed, prompt, project_id, model.shape)
    data, truths = task_inputs(session, [task_id])
    made = model.predict(seed, task_id, data.get(task_id), truths.get(task_id))
    usage: dict[str, Any] = {
        "prompt_tokens": made.prompt_tokens,
        "completion_tokens": made.completion_tokens,
        "total_tokens": made.prompt_tokens + made.completion_tokens,
        "prompt_cost_usd": made.prompt_cost_usd,
        "completion_cost_usd": made.completion_cost_usd,
        "total_cost_usd": made.total_cost_usd,
        "inference_time": made.inference_time,
    }
    body: dict[str, Any] = {
        "task_id": task_id,
        "annotation_result": made.result,
        "parsed_result": made.output,
        "raw_response": made.raw_response,
        "usage": usage,
    }
    if made.error_type is not None:
        body["error"] = {"error_type": made.error_type, "message": made.message}
    return body
