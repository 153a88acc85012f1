"""Prompts (ModelInterface), their versions (ThirdPartyModelVersion) and the versions' few-shot
examples: create, change, duplicate, delete, as Label Studio keeps them. Each function stores
its change whole (one transaction) or raises a domain error and stores nothing."""

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Float, bindparam, case, cast, delete, func, or_, select, update
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session, col
from sqlmodel import select as select_model

from app.db import get_by_id, mark_seed_changed
from app.errors import NotFound, ValidationFailed
from app.lifecycle.bulk import Built, among_bound, ids_value
from app.lifecycle.clock import Clock
from app.models import (
    MAX_ID,
    Annotation,
    FailedPrediction,
    FewShotExample,
    ModelProviderConnection,
    ModelRun,
    Prediction,
    Project,
    Prompt,
    PromptProject,
    PromptVersion,
    RunEvent,
    RunStatus,
    RunTask,
    Task,
    User,
    table_of,
)

SKILLS = ["TextClassification", "NamedEntityRecognition"]
PROVIDERS = ["OpenAI", "AzureOpenAI", "AzureAIFoundry", "VertexAI", "Gemini", "Anthropic", "Custom"]
DUPLICATE_TITLE = "A version with this name already exists."
PROMPT_COLUMNS = ("title", "description", "skill_name", "input_fields", "output_classes")
VERSION_COLUMNS = ("title", "prompt", "provider", "provider_model_id", "max_few_shot_examples")

# Tables other resources add later in the revision chain: used once they exist.


# --- lookups: another organization's objects do not exist for the user ---


def own_prompt(session: Session, user: User, prompt_id: int) -> Prompt:
    """A prompt of the user's organization, or Label Studio's 404."""
    prompt = get_by_id(session, Prompt, prompt_id)
    if prompt is None or prompt.organization_id != user.organization_id:
        raise NotFound("ModelInterface")
    return prompt


_PROMPT_ORGANIZATION = select(table_of(Prompt).c.organization_id).where(
    table_of(Prompt).c.id == bindparam("prompt")
)


def is_own_prompt(session: Session, user: User, pk: int) -> bool:
    """Whether an id names a prompt of the user's organization (one plain-row query)."""
    if not 0 < pk <= MAX_ID:
        return False
    found = session.connection().execute(_PROMPT_ORGANIZATION, {"prompt": pk}).first()
    return found is not None and found[0] == user.organization_id


def own_task(session: Session, user: User, task_id: int) -> Task | None:
    """A task of a project of the user's organization."""
    if not 0 < task_id <= MAX_ID:
        return None
    task = session.get(Task, task_id)
    if task is None:
        return None
    project = session.get(Project, task.project_id)
    return task if project is not None and project.organization_id == user.organization_id else None


def is_own_connection(session: Session, user: User, pk: int) -> bool:
    """Whether an id names a model provider connection of the user's organization."""
    connection = session.get(ModelProviderConnection, pk)
    return connection is not None and connection.organization_id == user.organization_id


def annotation_task(session: Session, user: User, pk: int) -> int | None:
    """The task of an annotation of the user's organization (None: no such annotation)."""
    annotation = session.get(Annotation, pk)
    if annotation is None or own_task(session, user, annotation.task_id) is None:
        return None
    task_id: int = annotation.task_id
    return task_id


def own_example(session: Session, version: PromptVersion, example_id: int) -> FewShotExample:
    example = get_by_id(session, FewShotExample, example_id)
    if example is None or example.version_id != version.id:
        raise NotFound("FewShotExample")
    return example


# --- prompts ---


def _set_projects(session: Session, prompt_id: int, project_ids: Sequence[int]) -> None:
    session.execute(delete(PromptProject).where(col(PromptProject.prompt_id) == prompt_id))
    for project_id in dict.fromkeys(project_ids):
        session.add(PromptProject(prompt_id=prompt_id, project_id=project_id))


def associated_project_ids(session: Session, prompt_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each prompt's associated projects, by project id."""
    found: dict[int, list[int]] = {pk: [] for pk in prompt_ids}
    rows = session.execute(
        select(col(PromptProject.prompt_id), col(PromptProject.project_id))
        .where(col(PromptProject.prompt_id).in_(prompt_ids))
        .order_by(col(PromptProject.project_id))
    )
    for prompt_id, project_id in rows:
        found[prompt_id].append(project_id)
    return found


def create_prompt(session: Session, user: User, values: dict[str, Any], clock: Clock) -> Prompt:
    """A prompt of the user's organization, created by the user, from a validated body."""
    now = clock.now(session)
    prompt = Prompt(
        organization_id=user.organization_id,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
        **{name: values[name] for name in PROMPT_COLUMNS if name in values},
    )
    session.add(prompt)
    session.flush()
    _set_projects(session, prompt.id, values.get("associated_projects", []))
    mark_seed_changed(session)
    session.commit()
    return prompt


def update_prompt(session: Session, prompt: Prompt, values: dict[str, Any], clock: Clock) -> Prompt:
    """Change the fields given; associated_projects, when given, replaces the list."""
    for name in PROMPT_COLUMNS:
        if name in values:
            setattr(prompt, name, values[name])
    if "associated_projects" in values:
        _set_projects(session, prompt.id, values["associated_projects"])
    prompt.updated_at = clock.now(session)
    session.add(prompt)
    mark_seed_changed(session)
    session.commit()
    return prompt


def _delete_versions(
    session: Session, version_ids: Sequence[int], prompt_id: int | None = None
) -> None:
    """Delete versions with what depends on them: their runs (with their tasks, events,
    predictions and failed predictions), predictions made for them, few-shot examples. With
    ``prompt_id``, the runs recorded under that prompt go too, whatever their version (Label
    Studio cascades a run from its prompt as from its version)."""
    run_of: ColumnElement[bool] = col(ModelRun.version_id).in_(version_ids)
    if prompt_id is not None:
        run_of = or_(run_of, col(ModelRun.prompt_id) == prompt_id)
    runs = select(col(ModelRun.id)).where(run_of)
    # Wait for a lifecycle step under way on these runs (it holds the run's row).
    session.execute(runs.with_for_update()).all()
    for model in (Prediction, FailedPrediction):
        session.execute(
            delete(model).where(
                or_(col(model.run_id).in_(runs), col(model.version_id).in_(version_ids))
            )
        )
    session.execute(delete(RunTask).where(col(RunTask.run_id).in_(runs)))
    session.execute(delete(RunEvent).where(col(RunEvent.run_id).in_(runs)))
    session.execute(delete(ModelRun).where(run_of))
    if not version_ids:
        return
    session.execute(delete(FewShotExample).where(col(FewShotExample.version_id).in_(version_ids)))
    session.execute(delete(PromptVersion).where(col(PromptVersion.id).in_(version_ids)))


def delete_prompt(session: Session, prompt: Prompt) -> None:
    """Delete a prompt, its versions and everything that depends on them (Label Studio's
    cascades), in one transaction."""
    version_ids = session.execute(
        select(col(PromptVersion.id)).where(col(PromptVersion.prompt_id) == prompt.id)
    ).scalars()
    # Runs are recorded under their version's prompt; an imported state may still record one
    # under this prompt with another prompt's version: it goes with this prompt.
    _delete_versions(session, list(version_ids), prompt.id)
    session.execute(delete(PromptProject).where(col(PromptProject.prompt_id) == prompt.id))
    session.execute(delete(Prompt).where(col(Prompt.id) == prompt.id))
    mark_seed_changed(session)
    session.commit()


def _copy_examples(
    session: Session, source: PromptVersion, target: PromptVersion, now: Any
) -> None:
    for example in examples_of(session, source, []):
        session.add(
            FewShotExample(
                version_id=target.id,
                task_id=example.task_id,
                annotation_id=example.annotation_id,
                order=example.order,
                created_at=now,
            )
        )


def _copy_version(
    session: Session, user: User, version: PromptVersion, prompt: Prompt, changes: dict[str, Any]
) -> PromptVersion:
    now = changes["created_at"]
    copy = PromptVersion(
        prompt_id=prompt.id,
        organization_id=prompt.organization_id,
        created_by_id=user.id,
        updated_at=now,
        accuracy=version.accuracy,
        failure_rate=version.failure_rate,
        model_provider_connection_id=version.model_provider_connection_id,
        **{name: getattr(version, name) for name in VERSION_COLUMNS},
    )
    for name, value in changes.items():
        setattr(copy, name, value)
    session.add(copy)
    session.flush()
    _copy_examples(session, version, copy, now)
    return copy


def duplicate_prompt(
    session: Session, user: User, prompt: Prompt, values: dict[str, Any], clock: Clock
) -> Prompt:
    """A copy of a prompt with its associated projects, versions and their few-shot examples
    (not its runs); the body's fields replace the copied ones."""
    now = clock.now(session)
    copy = Prompt(
        organization_id=prompt.organization_id,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
        **{name: getattr(prompt, name) for name in PROMPT_COLUMNS},
    )
    for name in PROMPT_COLUMNS:
        if name in values:
            setattr(copy, name, values[name])
    if "title" not in values:
        copy.title = f"{prompt.title} (copy)"[:500]
    session.add(copy)
    session.flush()
    projects = values.get("associated_projects")
    if projects is None:
        projects = associated_project_ids(session, [prompt.id])[prompt.id]
    _set_projects(session, copy.id, projects)
    versions = session.execute(
        select(PromptVersion)
        .where(col(PromptVersion.prompt_id) == prompt.id)
        .order_by(col(PromptVersion.id))
    ).scalars()
    for version in list(versions):
        _copy_version(session, user, version, copy, {"created_at": now})
    mark_seed_changed(session)
    session.commit()
    return copy


def _version_titles(session: Session, prompt_id: int) -> set[str]:
    return set(
        session.execute(
            select(col(PromptVersion.title)).where(col(PromptVersion.prompt_id) == prompt_id)
        ).scalars()
    )


def default_version_name(session: Session, prompt: Prompt) -> str:
    """The name the next version of a prompt gets by default: v<N>, the first unused from the
    number of versions plus one."""
    titles = _version_titles(session, prompt.id)
    number = len(titles) + 1
    while f"v{number}" in titles:
        number += 1
    return f"v{number}"


# --- versions ---


def _check_unique_title(session: Session, prompt_id: int, title: str, own_id: int | None) -> None:
    query = select(col(PromptVersion.id)).where(
        col(PromptVersion.prompt_id) == prompt_id, col(PromptVersion.title) == title
    )
    if own_id is not None:
        query = query.where(col(PromptVersion.id) != own_id)
    if session.execute(query).first() is not None:
        raise ValidationFailed({"non_field_errors": [DUPLICATE_TITLE]})


def create_version(
    session: Session, user: User, prompt: Prompt, values: dict[str, Any], clock: Clock
) -> PromptVersion:
    """A version of a prompt from a validated body; its title is unique within the prompt."""
    _check_unique_title(session, prompt.id, values["title"], None)
    now = clock.now(session)
    version = PromptVersion(
        prompt_id=prompt.id,
        organization_id=prompt.organization_id,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
        model_provider_connection_id=values.get("model_provider_connection"),
        **{name: values[name] for name in VERSION_COLUMNS if name in values},
    )
    session.add(version)
    mark_seed_changed(session)
    session.commit()
    return version


def update_version(
    session: Session, version: PromptVersion, values: dict[str, Any], clock: Clock
) -> PromptVersion:
    """Change the fields given (the title stays unique within the prompt)."""
    if "title" in values:
        _check_unique_title(session, version.prompt_id, values["title"], version.id)
    for name in VERSION_COLUMNS:
        if name in values:
            setattr(version, name, values[name])
    if "model_provider_connection" in values:
        version.model_provider_connection_id = values["model_provider_connection"]
    version.updated_at = clock.now(session)
    session.add(version)
    mark_seed_changed(session)
    session.commit()
    return version


def delete_version(session: Session, version: PromptVersion) -> None:
    """Delete a version with its runs, predictions and few-shot examples, in one transaction."""
    _delete_versions(session, [version.id])
    mark_seed_changed(session)
    session.commit()


def duplicate_version(
    session: Session,
    user: User,
    prompt: Prompt,
    version: PromptVersion,
    values: dict[str, Any],
    clock: Clock,
) -> PromptVersion:
    """A copy of a version (with its few-shot examples) in the same prompt; the body's fields
    replace the copied ones. Without a title the copy is "<title> (copy)", numbered if taken."""
    changes: dict[str, Any] = {name: values[name] for name in VERSION_COLUMNS if name in values}
    if "model_provider_connection" in values:
        changes["model_provider_connection_id"] = values["model_provider_connection"]
    if "title" in changes:
        _check_unique_title(session, prompt.id, changes["title"], None)
    else:
        titles = _version_titles(session, prompt.id)
        base = f"{version.title} (copy"
        title, number = f"{base})", 1
        while title in titles:
            number += 1
            title = f"{base} {number})"
        changes["title"] = title[:500]
    changes["created_at"] = clock.now(session)
    copy = _copy_version(session, user, version, prompt, changes)
    mark_seed_changed(session)
    session.commit()
    return copy


_RUNS = table_of(ModelRun)
_VERSIONS = table_of(PromptVersion)


def _score(predictions: int | None, correct: int | None) -> float | None:
    return (correct or 0) / predictions if predictions else None


# Built once (its list of versions bound when it runs): building a statement, and the key
# under which SQLAlchemy finds it compiled, cost about as much as running this one.
_SCORED_RUNS = (
    select(_RUNS.c.version_id, _RUNS.c.total_predictions, _RUNS.c.total_correct_predictions)
    .where(
        _RUNS.c.version_id.in_(bindparam("versions", expanding=True)),
        _RUNS.c.status == RunStatus.COMPLETED,
        _RUNS.c.project_subset == "HasGT",
    )
    .order_by(_RUNS.c.completed_at, _RUNS.c.id)
)


def version_scores(session: Session, version_ids: Sequence[int]) -> dict[int, float | None]:
    """Each version's score: the share of correct predictions of its latest Completed run on
    the HasGT subset (None without one)."""
    scores: dict[int, float | None] = {pk: None for pk in version_ids}
    rows = session.connection().execute(_SCORED_RUNS, {"versions": list(version_ids)})
    for version_id, predictions, correct in rows:  # the latest run comes last
        scores[version_id] = _score(predictions, correct)
    return scores


_SCORED = _RUNS.alias("scored")
# A version's latest Completed run on the HasGT subset, whose share of correct predictions is
# its score: the last in _SCORED_RUNS' order (each order is the other's reverse on both
# backends, nulls included).
LATEST_SCORED_RUN = (
    select(_SCORED.c.id)
    .where(
        _SCORED.c.version_id == _VERSIONS.c.id,
        _SCORED.c.status == RunStatus.COMPLETED,
        _SCORED.c.project_subset == "HasGT",
    )
    .order_by(_SCORED.c.completed_at.desc(), _SCORED.c.id.desc())
    .limit(1)
    .correlate(_VERSIONS)
    .scalar_subquery()
)
# Each prompt's versions and the best of their scores (_score's division, of two integers
# made doubles, is the same in Python and in SQL), then each prompt's runs: two statements
# built once, the prompts bound when they run.
_PROMPT_VERSIONS = Built(
    lambda dialect: (
        select(
            _VERSIONS.c.prompt_id,
            func.count(),
            func.max(
                case(
                    (
                        _RUNS.c.total_predictions != 0,
                        cast(func.coalesce(_RUNS.c.total_correct_predictions, 0), Float)
                        / _RUNS.c.total_predictions,
                    ),
                )
            ),
        )
        .select_from(_VERSIONS.outerjoin(_RUNS, _RUNS.c.id == LATEST_SCORED_RUN))
        .where(among_bound(dialect, _VERSIONS.c.prompt_id, "prompts"))
        .group_by(_VERSIONS.c.prompt_id)
    )
)
_PROMPT_RUNS = Built(
    lambda dialect: (
        select(_RUNS.c.prompt_id, func.count())
        .where(among_bound(dialect, _RUNS.c.prompt_id, "prompts"))
        .group_by(_RUNS.c.prompt_id)
    )
)


def prompt_stats(connection: Connection, prompt_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """versions_count, runs_count and best_score (the best version score) of each prompt."""
    stats: dict[int, dict[str, Any]] = {
        pk: {"versions_count": 0, "runs_count": 0, "best_score": None} for pk in prompt_ids
    }
    dialect = connection.dialect.name
    ids = {"prompts": ids_value(dialect, prompt_ids)}
    for prompt_id, count, best in connection.execute(_PROMPT_VERSIONS(dialect), ids).all():
        entry = stats[prompt_id]
        entry["versions_count"] = count
        entry["best_score"] = None if best is None else float(best)
    for prompt_id, count in connection.execute(_PROMPT_RUNS(dialect), ids).all():
        stats[prompt_id]["runs_count"] = count
    return stats


# --- few-shot examples ---


def examples_of(session: Session, version: PromptVersion, terms: list[Any]) -> list[FewShotExample]:
    """A version's few-shot examples, in ``terms`` order then by order and id."""
    rows = session.execute(
        select(FewShotExample)
        .where(col(FewShotExample.version_id) == version.id)
        .order_by(*terms, col(FewShotExample.order), col(FewShotExample.id))
    ).scalars()
    return list(rows)


def _check_annotation(values: dict[str, Any], task_of_annotation: int | None) -> None:
    if task_of_annotation and task_of_annotation != values.get("task"):
        raise ValidationFailed({"non_field_errors": ["The annotation is not one of the task's."]})


def create_example(
    session: Session, user: User, version: PromptVersion, values: dict[str, Any], clock: Clock
) -> FewShotExample:
    """A few-shot example (a task and one of its annotations); without an order it comes last."""
    _check_annotation(values, annotation_task(session, user, values["annotation"]))
    order = values.get("order")
    if order is None:
        last = session.execute(
            select(func.max(col(FewShotExample.order))).where(
                col(FewShotExample.version_id) == version.id
            )
        ).scalar()
        order = 0 if last is None else min(last + 1, MAX_ID)
    example = FewShotExample(
        version_id=version.id,
        task_id=values["task"],
        annotation_id=values["annotation"],
        order=order,
        created_at=clock.now(session),
    )
    session.add(example)
    mark_seed_changed(session)
    session.commit()
    return example


def update_example(
    session: Session, user: User, example: FewShotExample, values: dict[str, Any]
) -> FewShotExample:
    """Change the fields given; the annotation stays one of the task's."""
    merged = {"task": example.task_id, "annotation": example.annotation_id, **values}
    if "annotation" in values or "task" in values:
        _check_annotation(merged, annotation_task(session, user, merged["annotation"]))
    example.task_id = merged["task"]
    example.annotation_id = merged["annotation"]
    example.order = values.get("order", example.order)
    session.add(example)
    mark_seed_changed(session)
    session.commit()
    return example


def delete_example(session: Session, example: FewShotExample) -> None:
    session.delete(example)
    mark_seed_changed(session)
    session.commit()


def reorder_examples(
    session: Session, version: PromptVersion, ids: list[int]
) -> list[FewShotExample]:
    """Give the listed examples the orders 0, 1, ... in the order listed; the others follow, in
    their previous order."""
    examples = {e.id: e for e in examples_of(session, version, [])}
    unknown = [pk for pk in ids if pk not in examples]
    if unknown:
        raise ValidationFailed({"ids": [f'Invalid pk "{unknown[0]}" - object does not exist.']})
    listed = list(dict.fromkeys(ids))
    rest = [pk for pk in examples if pk not in listed]
    for position, pk in enumerate(listed + rest):
        session.execute(
            update(FewShotExample).where(col(FewShotExample.id) == pk).values(order=position)
        )
    mark_seed_changed(session)
    session.commit()
    session.expire_all()
    return examples_of(session, version, [])


def task_data(session: Session, task_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each task's data."""
    tasks = session.execute(select(Task).where(col(Task.id).in_(task_ids))).scalars()
    return {task.id: task.data or {} for task in tasks if task.id is not None}


def annotation_results(session: Session, annotation_ids: Sequence[int]) -> dict[int, Any]:
    """Each annotation's result."""
    rows = session.execute(
        select(col(Annotation.id), col(Annotation.result)).where(
            col(Annotation.id).in_(annotation_ids)
        )
    )
    return {pk: result for pk, result in rows}


# --- the assembled prompt ---

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(text: str, data: dict[str, Any]) -> str:
    """Replace {field} placeholders by the task data's values (others are kept)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in data:
            return match[0]
        found = data[name]
        return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)

    return PLACEHOLDER.sub(value, text)


def _answer(result: Any) -> str:
    """An annotation result as the answer of an example: its choices, or its labelled spans."""
    parts: list[str] = []
    for region in result if isinstance(result, list) else []:
        value = region.get("value") if isinstance(region, dict) else None
        if not isinstance(value, dict):
            continue
        for choice in value.get("choices") or []:
            parts.append(str(choice))
        for label in value.get("labels") or []:
            span = value.get("text")
            parts.append(f"{span}: {label}" if span is not None else str(label))
    if parts or not result:
        return ", ".join(parts)
    return json.dumps(result, ensure_ascii=False)


def preview(session: Session, prompt: Prompt, version: PromptVersion, task: Task | None) -> str:
    """The prompt as sent to the model: the version's prompt with its few-shot examples (at most
    max_few_shot_examples; 0 disables them) after it, and with a task, its {field}
    placeholders filled from the task's data."""
    text = version.prompt
    limit = version.max_few_shot_examples
    examples = examples_of(session, version, [])
    if limit is not None:
        examples = examples[:limit]
    if examples:
        datas = task_data(session, [e.task_id for e in examples])
        results = annotation_results(session, [e.annotation_id for e in examples])
        blocks = []
        for number, example in enumerate(examples, 1):
            data = datas.get(example.task_id, {})
            fields = [f for f in prompt.input_fields or [] if isinstance(f, str)] or list(data)
            lines = [f"Example {number}:"]
            lines += [f"{name}: {_fill('{' + name + '}', data)}" for name in fields if name in data]
            lines.append(f"Answer: {_answer(results.get(example.annotation_id, []))}")
            blocks.append("\n".join(lines))
        text = f"{text}\n\n" + "\n\n".join(blocks)
    if task is not None:
        text = _fill(text, task.data or {})
    return text


# --- projects a prompt can run on ---


def _config_fits(label_config: str | None, skill: str) -> bool:
    """Whether a labeling configuration suits a skill: a Text input with Choices
    (TextClassification) or Labels (NamedEntityRecognition). No configuration: any skill."""
    if not label_config:
        return True
    tags = {tag.lower() for tag in re.findall(r"<\s*([A-Za-z]+)", label_config)}
    control = "choices" if skill == "TextClassification" else "labels"
    return "text" in tags and control in tags


def compatible_projects_query(
    session: Session, user: User, skill: str, ids: list[int] | None, title: str | None
) -> Select[Any]:
    """The user's organization's projects a skill can run on, with the filters given."""
    query = select_model(Project).where(col(Project.organization_id) == user.organization_id)
    if ids is not None:
        query = query.where(col(Project.id).in_([pk for pk in ids if 0 < pk <= MAX_ID]))
    if title:
        query = query.where(func.lower(col(Project.title)).contains(title.lower(), autoescape=True))
    fitting = [
        p.id for p in session.execute(query).scalars() if _config_fits(p.label_config, skill)
    ]
    return query.where(col(Project.id).in_(fitting))
