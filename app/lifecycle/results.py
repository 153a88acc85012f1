"""What runs leave behind, read back: key indicators, comparisons of two runs, the tasks of a
subset with their predictions, re-evaluations and cost estimates. Predictions are read
generically: a ``choices`` result names its labels in ``value.choices``, and ``correct`` (set on
ground-truth tasks only) says whether a prediction matches the ground truth. No HTTP here."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import get_by_id
from app.errors import NotFound, ValidationFailed
from app.lifecycle import machine, pricing
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.lifecycle.refine import labels_of
from app.lifecycle.subsets import subset_query
from app.models import (
    MAX_ID,
    Annotation,
    FailedPrediction,
    ModelRun,
    Prediction,
    Project,
    ProjectSubset,
    Prompt,
    PromptProject,
    PromptVersion,
    Task,
    User,
    table_of,
)
from app.render import annotation_json, iso, prediction_json
from app.workspace.prompts import preview

# Runs over these subsets show no accuracy (Label Studio's Prompts page: accuracy needs a
# ground-truth subset).
NO_ACCURACY_SUBSETS = (ProjectSubset.ALL, ProjectSubset.SAMPLE)
INDICATOR_TITLES = {
    "accuracy": "Accuracy",
    "predictions": "Predictions",
    "failures": "Failed predictions",
    "cost": "Cost",
}
BULK_MAX_RUNS = 20
CORRECT = table_of(Prediction).c.correct
OUTCOMES = ("all", "true_positive", "false_positive", "false_negative")


def own_run(session: Session, user: User, run_id: int) -> ModelRun:
    """A run of the user's organization, or Label Studio's 404."""
    run = get_by_id(session, ModelRun, run_id) if 0 < run_id <= MAX_ID else None
    if run is None or run.organization_id != user.organization_id:
        raise NotFound("ModelRun")
    return run


# --- key indicators ---


def indicators(session: Session, runs: Sequence[ModelRun]) -> dict[int, dict[str, Any]]:
    """Each run's key indicators by key, ``{title, values}`` each, computed from its rows."""
    ids = [run.id for run in runs if run.id is not None]
    made = {
        run_id: (n, judged or 0, correct or 0, p_tok, c_tok, p_usd, c_usd, t_usd)
        for run_id, n, judged, correct, p_tok, c_tok, p_usd, c_usd, t_usd in session.execute(
            sa_select(
                col(Prediction.run_id),
                func.count(col(Prediction.id)),
                func.count(col(Prediction.correct)),
                func.sum(case((CORRECT.is_(True), 1), else_=0)),
                func.sum(col(Prediction.prompt_tokens)),
                func.sum(col(Prediction.completion_tokens)),
                func.sum(col(Prediction.prompt_cost_usd)),
                func.sum(col(Prediction.completion_cost_usd)),
                func.sum(col(Prediction.total_cost_usd)),
            )
            .where(col(Prediction.run_id).in_(ids))
            .group_by(col(Prediction.run_id))
        ).all()
    }
    failed = dict(
        session.exec(
            select(col(FailedPrediction.run_id), func.count(col(FailedPrediction.id)))
            .where(col(FailedPrediction.run_id).in_(ids))
            .group_by(col(FailedPrediction.run_id))
        ).all()
    )
    out: dict[int, dict[str, Any]] = {}
    for run in runs:
        assert run.id is not None  # stored runs only
        n, judged, correct, p_tok, c_tok, p_usd, c_usd, t_usd = made.get(
            run.id, (0, 0, 0, None, None, None, None, None)
        )
        correct = int(correct or 0)
        n_failed = failed.get(run.id, 0)
        accuracy = (
            round(correct / judged, 6)
            if judged and run.project_subset not in NO_ACCURACY_SUBSETS
            else None
        )
        attempted = n + n_failed
        values: dict[str, dict[str, Any]] = {
            "accuracy": {
                "accuracy": accuracy,
                "correct_predictions": correct,
                "judged_predictions": judged,
            },
            "predictions": {
                "total_tasks": run.total_tasks or 0,
                "predictions": n,
                "failed_predictions": n_failed,
                "remaining": max((run.total_tasks or 0) - attempted, 0),
            },
            "failures": {
                "failed_predictions": n_failed,
                "failure_rate": round(n_failed / attempted, 6) if attempted else None,
            },
            "cost": {
                "total_cost_usd": round(float(t_usd or 0.0), 8),
                "prompt_cost_usd": round(float(p_usd or 0.0), 8),
                "completion_cost_usd": round(float(c_usd or 0.0), 8),
                "prompt_tokens": int(p_tok or 0),
                "completion_tokens": int(c_tok or 0),
            },
        }
        out[run.id] = {
            key: {"title": INDICATOR_TITLES[key], "values": values[key]} for key in values
        }
    return out


def indicator(session: Session, run: ModelRun, key: str) -> dict[str, Any]:
    """One key indicator of a run; an unknown key is a 404."""
    if key not in INDICATOR_TITLES:
        raise NotFound("KeyIndicator")
    assert run.id is not None
    found: dict[str, Any] = indicators(session, [run])[run.id][key]
    return found


def parse_ids(name: str, raw: str | None, limit: int) -> list[int]:
    """Comma-separated ids from a query parameter (each once, in the order given)."""
    if raw is None or not raw.strip():
        raise ValidationFailed.field(name, "This field is required.")
    ids: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 < int(part) <= MAX_ID:
            raise ValidationFailed.field(name, f'"{part}" is not a valid run id.')
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > limit:
        raise ValidationFailed.field(name, f"Ensure this field has no more than {limit} elements.")
    return ids


def bulk_indicators(session: Session, user: User, run_ids: list[int]) -> list[dict[str, Any]]:
    """The indicators of several runs of the organization, in the order asked (others skipped)."""
    runs = session.exec(
        select(ModelRun).where(
            col(ModelRun.id).in_(run_ids), col(ModelRun.organization_id) == user.organization_id
        )
    ).all()
    by_id = {run.id: run for run in runs}
    ordered = [by_id[i] for i in run_ids if i in by_id]
    versions = {
        v.id: v
        for v in session.exec(
            select(PromptVersion).where(col(PromptVersion.id).in_([r.version_id for r in ordered]))
        ).all()
    }
    computed = indicators(session, ordered)
    out = []
    for run in ordered:
        assert run.id is not None
        version = versions.get(run.version_id)
        out.append(
            {
                "run_id": run.id,
                "model_version_id": run.version_id,
                "model_version_title": version.title if version else "",
                "model_display_name": version.provider_model_id if version else None,
                "project_subset": run.project_subset,
                "status": run.status,
                "created_at": _iso(run.created_at),
                "completed_at": _iso(run.completed_at),
                "total_tasks": run.total_tasks,
                "total_predictions": run.total_predictions,
                "total_correct_predictions": run.total_correct_predictions,
                "indicators": computed[run.id],
            }
        )
    return out


def _iso(value: datetime | None) -> str | None:
    return iso(value)


# --- regressions ---


def outcomes(session: Session, run: ModelRun) -> dict[int, tuple[int | None, bool]]:
    """Task -> (prediction id or None when failed, correct) over the run's ground-truth tasks;
    a failed prediction counts as incorrect."""
    found: dict[int, tuple[int | None, bool]] = {
        task_id: (pid, bool(correct))
        for pid, task_id, correct in session.exec(
            select(col(Prediction.id), col(Prediction.task_id), col(Prediction.correct)).where(
                col(Prediction.run_id) == run.id, col(Prediction.correct).is_not(None)
            )
        ).all()
    }
    failed = session.exec(
        select(col(FailedPrediction.task_id))
        .join(Task, col(Task.id) == col(FailedPrediction.task_id))
        .where(col(FailedPrediction.run_id) == run.id, col(Task.has_ground_truth))
    ).all()
    for task_id in failed:
        found.setdefault(task_id, (None, False))
    return found


REGRESSION_KEYS = (
    "improvements",
    "regressions",
    "new",
    "removed",
    "stable_correct",
    "stable_incorrect",
)


def regressions(session: Session, run_a: ModelRun, run_b: ModelRun) -> dict[str, Any]:
    """How each ground-truth task moved from run A to run B: regression (correct in A,
    incorrect in B), improvement, stable_correct, stable_incorrect, new (judged in B only),
    removed (judged in A only); failed predictions count as incorrect."""
    a, b = outcomes(session, run_a), outcomes(session, run_b)
    groups: dict[str, list[dict[str, Any]]] = {key: [] for key in REGRESSION_KEYS}
    for task_id in sorted(set(a) | set(b)):
        in_a, in_b = a.get(task_id), b.get(task_id)
        if in_a is None:
            key = "new"
        elif in_b is None:
            key = "removed"
        elif in_a[1] and in_b[1]:
            key = "stable_correct"
        elif in_a[1]:
            key = "regressions"
        elif in_b[1]:
            key = "improvements"
        else:
            key = "stable_incorrect"
        groups[key].append(
            {
                "task_id": task_id,
                "prediction_a": in_a[0] if in_a else None,
                "correct_a": in_a[1] if in_a else None,
                "prediction_b": in_b[0] if in_b else None,
                "correct_b": in_b[1] if in_b else None,
            }
        )
    return {
        "run_a": run_a.id,
        "run_b": run_b.id,
        **groups,
        "summary": {key: len(groups[key]) for key in REGRESSION_KEYS},
    }


# --- re-evaluation: a new run over chosen tasks ---


def _source(session: Session, user: User, values: dict[str, Any], name: str) -> ModelRun:
    pk = values.get(name)
    if pk is None:
        raise ValidationFailed.field(name, "This field is required.")
    run = get_by_id(session, ModelRun, pk)
    if run is None or run.organization_id != user.organization_id:
        raise ValidationFailed.field(name, f'Invalid pk "{pk}" - object does not exist.')
    return run


def re_evaluate(
    session: Session, user: User, values: dict[str, Any], clock: Clock
) -> tuple[ModelRun, list[int]]:
    """Start a run of ``model_version_id`` over chosen tasks: ``custom`` the ``task_ids`` given
    (tasks of one project of the organization); ``failed`` the tasks whose prediction failed in
    ``source_model_run_id``; ``incorrect`` those predicted incorrectly there (score below 1);
    ``regressions`` those correct in the source run and incorrect in ``run_b_id``. The new run
    judges its predictions against the ground truth as it is now."""
    version = session.get(PromptVersion, values["model_version_id"])
    assert version is not None  # resolved by validation
    mode = values["mode"]
    source: ModelRun | None = None
    if mode == "custom":
        task_ids = list(dict.fromkeys(values.get("task_ids") or []))
        if not task_ids:
            raise ValidationFailed.field("task_ids", "This list may not be empty.")
        projects = session.exec(
            select(col(Task.project_id)).where(col(Task.id).in_(task_ids)).distinct()
        ).all()
        if len(projects) > 1:
            raise ValidationFailed.field("task_ids", "The tasks must belong to one project.")
        project_id = projects[0]
        subset = ProjectSubset.ALL.value
        if values.get("source_model_run_id") is not None:
            source = _source(session, user, values, "source_model_run_id")
    else:
        source = _source(session, user, values, "source_model_run_id")
        project_id = source.project_id
        subset = source.project_subset
        if mode == "failed":
            task_ids = list(
                session.exec(
                    select(col(FailedPrediction.task_id))
                    .where(col(FailedPrediction.run_id) == source.id)
                    .order_by(col(FailedPrediction.task_id))
                ).all()
            )
        elif mode == "incorrect":
            task_ids = list(
                session.exec(
                    select(col(Prediction.task_id))
                    .where(col(Prediction.run_id) == source.id, col(Prediction.correct).is_(False))
                    .order_by(col(Prediction.task_id))
                ).all()
            )
        else:
            run_b = _source(session, user, values, "run_b_id")
            found = regressions(session, source, run_b)
            task_ids = [item["task_id"] for item in found["regressions"]]
        if not task_ids:
            raise ValidationFailed.field("mode", f'The "{mode}" mode selects no task to re-run.')
    prompt = session.get(Prompt, version.prompt_id)
    assert prompt is not None
    now = clock.now(session)
    run = ModelRun(
        organization_id=user.organization_id,
        project_id=project_id,
        prompt_id=prompt.id,
        version_id=version.id,
        created_by_id=user.id,
        project_subset=subset,
        sample_subset_size=source.sample_subset_size if source else None,
        filters_json=source.filters_json if source else None,
        task_ids=task_ids,
        source_model_run_id=source.id if source else None,
        created_at=now,
    )
    machine.schedule_new(run, Policy.load(session), now)
    session.add(run)
    session.commit()
    return run, task_ids


def own_version(session: Session, user: User) -> Any:
    """Whether an id names a prompt version of the user's organization."""

    def resolve(pk: int) -> bool:
        version = session.get(PromptVersion, pk)
        if version is None:
            return False
        prompt = session.get(Prompt, version.prompt_id)
        return prompt is not None and prompt.organization_id == user.organization_id

    return resolve


def own_task_ids(session: Session, user: User, ids: Iterable[int]) -> list[int]:
    """The ids among ``ids`` that name no task of the user's organization."""
    wanted = [i for i in ids if 0 < i <= MAX_ID]
    found = set(
        session.exec(
            select(col(Task.id))
            .join(Project, col(Project.id) == col(Task.project_id))
            .where(col(Task.id).in_(wanted), col(Project.organization_id) == user.organization_id)
        ).all()
    )
    return [i for i in ids if i not in found]


# --- the tasks of a subset with their predictions ---


def chosen_labels(result: Any, from_name: str | None = None) -> set[str]:
    """The labels a result chooses (choices, labels, taxonomy...), of one control or all."""
    labels: set[str] = set()
    if not isinstance(result, list):
        return labels
    for region in result:
        if not isinstance(region, dict):
            continue
        if from_name is not None and region.get("from_name") != from_name:
            continue
        value = region.get("value")
        if not isinstance(value, dict):
            continue
        for key in ("choices", "labels", "rectanglelabels", "polygonlabels", "taxonomy"):
            for item in value.get(key) or []:
                labels.add(str(item if not isinstance(item, list) else "/".join(map(str, item))))
    return labels


def subset_task_ids(
    session: Session,
    project: Project,
    subset: str,
    *,
    run: ModelRun | None,
    policy: Policy,
) -> list[int]:
    """The task ids of a project subset, in id order (a run's Custom or re-evaluated subset:
    its own tasks, chosen with its sample size and filters as the run chose them)."""
    sample = (
        run.sample_subset_size
        if run is not None and run.sample_subset_size is not None
        else policy.sample_subset_size
    )
    filters = run.filters_json if run is not None else None
    if subset == ProjectSubset.CUSTOM and filters is None:
        raise ValidationFailed.field(
            "project_subset", "The Custom subset is only known through a run (model_run)."
        )
    own_tasks = run is not None and run.project_subset == subset and isinstance(run.task_ids, list)
    query = subset_query(
        project.id,
        subset,
        sample_size=sample,
        filters=filters,
        task_ids=run.task_ids if run is not None and own_tasks else None,
    )
    inner = query.subquery()
    return list(session.exec(select(inner.c.id).order_by(inner.c.id)).all())


def subset_items(
    session: Session,
    project: Project,
    task_ids: list[int],
    *,
    run: ModelRun | None,
    version_id: int | None,
    prompt_id: int | None,
) -> dict[int, dict[str, Any]]:
    """Each task's item: data, ground truth, the chosen prediction or failure, score."""
    tasks = {t.id: t for t in session.exec(select(Task).where(col(Task.id).in_(task_ids))).all()}
    truths: dict[int, Annotation] = {}
    for annotation in session.exec(
        select(Annotation)
        .where(col(Annotation.task_id).in_(task_ids), col(Annotation.ground_truth))
        .order_by(col(Annotation.id))
    ).all():
        truths.setdefault(annotation.task_id, annotation)
    query = select(Prediction).where(col(Prediction.task_id).in_(task_ids))
    failures = select(FailedPrediction).where(col(FailedPrediction.task_id).in_(task_ids))
    if run is not None:
        query = query.where(col(Prediction.run_id) == run.id)
        failures = failures.where(col(FailedPrediction.run_id) == run.id)
    elif version_id is not None:
        query = query.where(col(Prediction.version_id) == version_id)
        failures = failures.where(col(FailedPrediction.version_id) == version_id)
    else:
        versions = select(col(PromptVersion.id)).where(col(PromptVersion.prompt_id) == prompt_id)
        query = query.where(col(Prediction.version_id).in_(versions))
        failures = failures.where(col(FailedPrediction.version_id).in_(versions))
    # The latest prediction of each task wins (ids grow with time).
    predictions = {p.task_id: p for p in session.exec(query.order_by(col(Prediction.id))).all()}
    failed = {f.task_id: f for f in session.exec(failures.order_by(col(FailedPrediction.id))).all()}
    items: dict[int, dict[str, Any]] = {}
    for task_id in task_ids:
        task = tasks.get(task_id)
        if task is None:
            continue
        item: dict[str, Any] = {"id": task_id, "data": task.data}
        truth = truths.get(task_id)
        if truth is not None:
            item["ground_truth"] = annotation_json(truth)
        prediction = predictions.get(task_id)
        failure = failed.get(task_id)
        if failure is not None and (
            prediction is None
            or failure.id is not None
            and failure.created_at >= prediction.created_at
        ):
            item["error"] = {"message": failure.message, "error_type": failure.error_type}
            item["score"] = None
        elif prediction is not None:
            body = prediction_json(prediction)
            body["correct"] = prediction.correct
            item["prediction"] = body
            item["score"] = (
                (1.0 if prediction.correct else 0.0)
                if prediction.correct is not None
                else prediction.score
            )
        else:
            item["score"] = None
        items[task_id] = item
    return items


def alignment(item: dict[str, Any], label: str | None, from_name: str | None) -> set[str]:
    """The alignment outcomes of an item: true_positive, false_positive, false_negative, for
    one class or (without ``label``) for the prediction as a whole."""
    prediction, truth = item.get("prediction"), item.get("ground_truth")
    if prediction is None or truth is None:
        return set()
    predicted = chosen_labels(prediction["result"], from_name)
    expected = chosen_labels(truth["result"], from_name)
    if label is None:
        if prediction.get("correct") is True or (predicted and predicted == expected):
            return {"true_positive"}
        found = set()
        if predicted - expected:
            found.add("false_positive")
        if expected - predicted:
            found.add("false_negative")
        return found or {"false_positive"}
    found = set()
    if label in predicted and label in expected:
        found.add("true_positive")
    if label in predicted and label not in expected:
        found.add("false_positive")
    if label not in predicted and label in expected:
        found.add("false_negative")
    return found


def subset_tasks(
    session: Session,
    user: User,
    project: Project,
    params: dict[str, str],
) -> list[dict[str, Any]]:
    """The items of a project subset after the query's filters, in the asked order."""
    policy = Policy.load(session)
    run: ModelRun | None = None
    errors: dict[str, list[str]] = {}
    numbers: dict[str, int | None] = {}
    for name in ("model_run", "model_version", "parent_model"):
        raw = params.get(name)
        numbers[name] = None
        if raw is not None and raw != "":
            try:
                numbers[name] = int(raw)
            except ValueError:
                errors[name] = ["A valid integer is required."]
    outcome = params.get("alignment_outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        errors["alignment_outcome"] = [
            f"Select a valid choice. {outcome} is not one of the available choices."
        ]
    subset = params.get("project_subset") or None
    if subset is not None and subset not in [s.value for s in ProjectSubset]:
        errors["project_subset"] = [
            f"Select a valid choice. {subset} is not one of the available choices."
        ]
    if errors:
        raise ValidationFailed(errors)
    if numbers["model_run"] is not None:
        run = own_run(session, user, numbers["model_run"])
        if run.project_id != project.id:
            raise NotFound("ModelRun")
    elif numbers["parent_model"] is None:
        raise ValidationFailed.field("parent_model", "This field is required.")
    prompt_id = numbers["parent_model"]
    if run is None and prompt_id is not None:
        prompt = session.get(Prompt, prompt_id) if 0 < prompt_id <= MAX_ID else None
        if prompt is None or prompt.organization_id != user.organization_id:
            raise NotFound("ModelInterface")
    subset = subset or (run.project_subset if run is not None else ProjectSubset.HAS_GT.value)
    task_ids = subset_task_ids(session, project, subset, run=run, policy=policy)
    version_filter = params.get("prediction_version_ids")
    if version_filter:
        wanted = [int(v) for v in version_filter.split(",") if v.strip().isdigit()]
        for version_id in wanted:
            have = set(
                session.exec(
                    select(col(Prediction.task_id)).where(
                        col(Prediction.version_id) == version_id,
                        col(Prediction.task_id).in_(task_ids),
                    )
                ).all()
            )
            task_ids = [t for t in task_ids if t in have]
    items = subset_items(
        session,
        project,
        task_ids,
        run=run,
        version_id=numbers["model_version"] if run is None else None,
        prompt_id=prompt_id,
    )
    ordered = [items[t] for t in task_ids if t in items]
    output_class = params.get("output_class") or None
    if output_class is not None:
        from_name = params.get("output_from_name") or None
        ordered = [
            i
            for i in ordered
            if "prediction" in i
            and output_class in chosen_labels(i["prediction"]["result"], from_name)
        ]
    label = params.get("alignment_class") or None
    if outcome is not None or label is not None:
        from_name = params.get("alignment_from_name") or None
        keep = set(OUTCOMES[1:]) if outcome in (None, "all") else {outcome}
        ordered = [i for i in ordered if alignment(i, label, from_name) & keep]
    ordering = (params.get("ordering") or "").strip()
    if ordering.removeprefix("-") in ("id", "score"):
        key = ordering.removeprefix("-")
        reverse = ordering.startswith("-")
        ordered.sort(key=lambda i: (i.get(key) is None, i.get(key) or 0, i["id"]), reverse=reverse)
    return ordered


# --- cost estimate ---


def estimate_cost(
    session: Session, prompt: Prompt, version: PromptVersion, params: dict[str, str]
) -> dict[str, Any]:
    """What a run of the version would cost: per task, the prompt filled with the task's data
    (and the version's few-shot examples) in prompt tokens, the longest label in completion
    tokens, priced from the model's row of the price table. Over ``project`` (default: the
    prompt's first associated project) and ``project_subset`` (default HasGT)."""

    def error(kind: str, message: str) -> dict[str, Any]:
        return {
            "prompt_cost_usd": None,
            "completion_cost_usd": None,
            "total_cost_usd": None,
            "is_error": True,
            "error_type": kind,
            "error_message": message,
        }

    raw_project = params.get("project")
    project_id: int | None
    if raw_project:
        project_id = int(raw_project) if raw_project.isdigit() else None
        if project_id is None:
            raise ValidationFailed.field("project", "A valid integer is required.")
    else:
        project_id = session.exec(
            select(func.min(col(PromptProject.project_id))).where(
                col(PromptProject.prompt_id) == prompt.id
            )
        ).one()
        if project_id is None:
            return error("ValidationError", "The prompt has no associated project to estimate.")
    project = session.get(Project, project_id) if 0 < project_id <= MAX_ID else None
    if project is None or project.organization_id != prompt.organization_id:
        raise ValidationFailed.field(
            "project", f'Invalid pk "{project_id}" - object does not exist.'
        )
    subset = params.get("project_subset") or ProjectSubset.HAS_GT.value
    if subset not in (ProjectSubset.ALL, ProjectSubset.HAS_GT, ProjectSubset.SAMPLE):
        raise ValidationFailed.field(
            "project_subset",
            f"Select a valid choice. {subset} is not one of the available choices.",
        )
    policy = Policy.load(session)
    inner = subset_query(project.id, subset, sample_size=policy.sample_subset_size).subquery()
    tasks = session.exec(select(Task).where(col(Task.id).in_(select(inner.c.id)))).all()
    labels = labels_of(session, prompt, project.id) or [""]
    completion_per_task = max(1, max(pricing.count_tokens(label) for label in labels))
    prompt_tokens = sum(
        pricing.count_tokens(preview(session, prompt, version, task)) for task in tasks
    )
    completion_tokens = completion_per_task * len(tasks)
    prompt_usd, completion_usd = pricing.cost(
        version.provider_model_id, prompt_tokens, completion_tokens
    )
    return {
        "prompt_cost_usd": f"{prompt_usd:.8f}",
        "completion_cost_usd": f"{completion_usd:.8f}",
        "total_cost_usd": f"{prompt_usd + completion_usd:.8f}",
        "is_error": False,
        "error_type": None,
        "error_message": None,
    }
