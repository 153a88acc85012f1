"""Projects of an organization: list (filtered, ordered, paginated), create, read, change and
delete with everything that depends on them. Task counts are computed from the task table."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, or_
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import OrderByList
from sqlmodel import Session, col, select

from app.db import get_by_id, mark_seed_changed
from app.errors import NotFound, ValidationFailed
from app.label_config import LabelConfig, LabelConfigError, parse_label_config
from app.lifecycle.clock import Clock
from app.lookups import ordering_terms
from app.models import (
    MAX_ID,
    Annotation,
    FailedPrediction,
    FewShotExample,
    ModelRun,
    Prediction,
    Project,
    ProjectImport,
    Prompt,
    PromptProject,
    RunEvent,
    RunTask,
    Task,
    User,
)
from app.render import user_simple
from app.validation import (
    BooleanField,
    BoundedCharField,
    CharField,
    ChoiceField,
    DateTimeField,
    DecimalField,
    Field,
    FieldError,
    IntegerField,
    JSONField,
    validate,
)

DEFAULT_LABEL_CONFIG = "<View></View>"
# The state every project is in (Label Studio Enterprise's project state machine is not
# public; a project the emulator holds is always ready to use).
STATE = "CREATED"
# Fields stored as columns; every other writable field lives in Project.settings.
COLUMNS = ("title", "description", "label_config", "pinned_at", "source_interface_id")

# Writable fields' values when never set: the defaults of Label Studio's model.
DEFAULTS: dict[str, Any] = {
    "agreement_methodology": "pairwise",
    "agreement_threshold": None,
    "annotation_limit_count": None,
    "annotation_limit_percent": None,
    "annotator_evaluation_continuous_tasks": 0,
    "annotator_evaluation_enabled": False,
    "annotator_evaluation_metric": "gt_agreement",
    "annotator_evaluation_minimum_score": "95.00",
    "annotator_evaluation_minimum_tasks": 10,
    "annotator_evaluation_onboarding_tasks": 0,
    "color": "#FFFFFF",
    "comment_classification_config": "",
    "control_weights": {},
    "custom_interface_code": None,
    "custom_interface_compiled": None,
    "custom_interface_params": None,
    "custom_script": "",
    "custom_task_lock_ttl": None,
    "duplication_done": False,
    "duplication_status": "",
    "enable_empty_annotation": True,
    "evaluate_predictions_automatically": False,
    "expert_instruction": "",
    "input_schema": None,
    "internal_description": None,
    "is_draft": False,
    "is_published": False,
    "max_additional_annotators_assignable": None,
    "maximum_annotations": 1,
    "min_annotations_to_start_training": 0,
    "model_version": "",
    "output_schema": None,
    "overlap_cohort_percentage": 100,
    "pause_on_failed_annotator_evaluation": False,
    "require_comment_on_skip": False,
    "reveal_preannotations_interactively": False,
    "sampling": "Sequential sampling",
    "show_annotation_history": False,
    "show_collab_predictions": True,
    "show_ground_truth_first": False,
    "show_instruction": False,
    "show_overlap_first": False,
    "show_skip_button": True,
    "show_unused_data_columns_to_annotators": True,
    "skip_queue": "REQUEUE_FOR_OTHERS",
    "strict_task_overlap": True,
    "task_data_login": None,
    "task_data_password": None,
    "use_custom_interface": False,
    "assignment_settings": {"label_stream_task_distribution": "auto_distribution"},
    "review_settings": {
        "annotator_batch_percent": "100.00",
        "anonymize_annotations": False,
        "instruction": "",
        "only_finished_tasks": False,
        "requeue_rejected_tasks_mode": "requeue",
        "require_comment_on_reject": False,
        "review_criteria": "all",
        "review_only_manual_assignments": False,
        "review_task_limit_percent": "100.00",
        "sampling": "task_id",
        "show_agreement_to_reviewers": False,
        "show_data_manager_to_reviewers": True,
        "show_instruction": False,
        "show_unused_data_columns_to_reviewers": True,
    },
}
# Fields of PatchedLseProjectUpdateRequest that LseProjectCreateRequest does not have.
UPDATE_ONLY = {
    "agreement_methodology", "agreement_threshold", "annotation_limit_count",
    "annotation_limit_percent", "annotator_evaluation_continuous_tasks",
    "annotator_evaluation_metric", "annotator_evaluation_minimum_score",
    "annotator_evaluation_minimum_tasks", "annotator_evaluation_onboarding_tasks",
    "assignment_settings", "review_settings", "comment_classification_config", "custom_script",
    "custom_task_lock_ttl", "max_additional_annotators_assignable",
    "pause_on_failed_annotator_evaluation", "require_comment_on_skip",
    "show_unused_data_columns_to_annotators", "strict_task_overlap",
}  # fmt: skip
BOOLEANS = (
    "annotator_evaluation_enabled", "duplication_done", "enable_empty_annotation",
    "evaluate_predictions_automatically", "is_draft", "is_published", "require_comment_on_skip",
    "reveal_preannotations_interactively", "show_annotation_history", "show_collab_predictions",
    "show_ground_truth_first", "show_instruction", "show_overlap_first", "show_skip_button",
    "strict_task_overlap", "use_custom_interface",
)  # fmt: skip
ORDERING: dict[str, Mapped[Any]] = {
    "id": col(Project.id),
    "title": col(Project.title),
    "created_at": col(Project.created_at),
    "pinned_at": col(Project.pinned_at),
}
COUNT_FIELDS = (
    "task_number", "finished_task_number", "total_predictions_number", "total_annotations_number",
    "num_tasks_with_annotations", "useful_annotation_number", "ground_truth_number",
    "skipped_annotations_number",
)  # fmt: skip


class _JSONObject(JSONField):
    """A JSON field that must hold an object (refused with DRF's DictField message)."""

    def convert(self, value: Any) -> Any:
        value = super().convert(value)
        if not isinstance(value, dict):
            kind = type(value).__name__
            raise FieldError(f'Expected a dictionary of items but got type "{kind}".')
        return value


def _text(max_length: int | None = None) -> CharField:
    return CharField(max_length=max_length, allow_blank=True, allow_null=True)


def project_fields(create: bool) -> dict[str, Field]:
    """LseProjectCreateRequest (create) or PatchedLseProjectUpdateRequest, with DRF's rules;
    ``organization``, ``created_by`` and ``workspace`` are checked and otherwise ignored."""
    fields: dict[str, Field] = {
        "title": BoundedCharField(min_length=3, max_length=50, allow_blank=True, allow_null=True),
        "description": _text(),
        "label_config": _text(),
        "expert_instruction": _text(),
        "color": _text(16),
        "model_version": _text(),
        "comment_classification_config": CharField(allow_blank=True),
        "custom_script": CharField(allow_blank=True),
        "duplication_status": CharField(allow_blank=True),
        "task_data_login": _text(256),
        "task_data_password": _text(256),
        "custom_interface_code": _text(),
        "custom_interface_compiled": _text(),
        "custom_interface_params": JSONField(allow_null=True),
        "input_schema": JSONField(allow_null=True),
        "output_schema": JSONField(allow_null=True),
        "internal_description": JSONField(allow_null=True),
        "control_weights": _JSONObject(allow_null=True),
        "assignment_settings": _JSONObject(),
        "review_settings": _JSONObject(),
        **{name: BooleanField() for name in BOOLEANS},
        "pause_on_failed_annotator_evaluation": BooleanField(allow_null=True),
        "show_unused_data_columns_to_annotators": BooleanField(allow_null=True),
        "maximum_annotations": IntegerField(),
        "min_annotations_to_start_training": IntegerField(),
        "overlap_cohort_percentage": IntegerField(),
        "annotation_limit_count": IntegerField(min_value=1, allow_null=True),
        "annotator_evaluation_continuous_tasks": IntegerField(min_value=0),
        "annotator_evaluation_minimum_tasks": IntegerField(min_value=0, allow_null=True),
        "annotator_evaluation_onboarding_tasks": IntegerField(min_value=0),
        "custom_task_lock_ttl": IntegerField(min_value=1, max_value=86400, allow_null=True),
        "max_additional_annotators_assignable": IntegerField(allow_null=True),
        "source_interface_id": IntegerField(allow_null=True),
        "source_interface_version": IntegerField(allow_null=True),
        "workspace": IntegerField(),
        "organization": IntegerField(allow_null=True),
        "sampling": ChoiceField(
            choices=["Sequential sampling", "Uniform sampling", "Uncertainty sampling"],
            allow_null=True,
        ),
        "skip_queue": ChoiceField(
            choices=["REQUEUE_FOR_ME", "REQUEUE_FOR_OTHERS", "IGNORE_SKIPPED"], allow_null=True
        ),
        "agreement_methodology": ChoiceField(choices=["consensus", "pairwise"]),
        "annotator_evaluation_metric": ChoiceField(
            choices=["gt_agreement", "acceptance_score", "rejection_rate"], allow_null=True
        ),
        "agreement_threshold": DecimalField(max_digits=3, decimal_places=2, allow_null=True),
        "annotation_limit_percent": DecimalField(max_digits=5, decimal_places=2, allow_null=True),
        "annotator_evaluation_minimum_score": DecimalField(
            max_digits=5, decimal_places=2, allow_null=True
        ),
        "pinned_at": DateTimeField(allow_null=True),
    }
    if create:
        fields = {k: v for k, v in fields.items() if k not in UPDATE_ONLY}
    return fields


def _checked(data: Any, form: bool, create: bool) -> dict[str, Any]:
    """Validated values: every bad field at once, the label config's problem among them."""
    fields = project_fields(create)
    config_field = {"label_config": fields.pop("label_config")}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    try:
        values = validate(fields, data, form=form)
    except ValidationFailed as failure:
        errors.update(failure.validation_errors or {})
    try:
        config = validate(config_field, data, form=form)
    except ValidationFailed as failure:
        errors.update(failure.validation_errors or {})
    else:
        if "label_config" in config:
            try:
                parse_label_config(config["label_config"])
            except LabelConfigError as error:
                errors["label_config"] = [str(error)]
            values.update(config)
    if errors:
        raise ValidationFailed(errors)
    for ignored in ("workspace", "organization"):
        values.pop(ignored, None)
    if values.get("title") == "":
        values["title"] = None  # a title is 3 to 50 characters or none at all
    return values


def _apply(project: Project, values: dict[str, Any]) -> None:
    settings = dict(project.settings or {})
    for key, value in values.items():
        if key in COLUMNS:
            setattr(project, key, value)
        elif key in ("assignment_settings", "review_settings"):
            settings[key] = {**DEFAULTS[key], **settings.get(key, {}), **value}
        else:
            settings[key] = value
    project.settings = settings


def create_project(session: Session, user: User, data: Any, form: bool, clock: Clock) -> Project:
    values = _checked(data, form, create=True)
    project = Project(  # type: ignore[call-arg]  # the database gives the id
        organization_id=user.organization_id,
        created_by_id=user.id,
        created_at=clock.now(session),
        title=None,
        description="",
        label_config=DEFAULT_LABEL_CONFIG,
    )
    _apply(project, values)
    session.add(project)
    mark_seed_changed(session)
    session.commit()
    return project


def get_project(session: Session, user: User, project_id: int, lock: bool = False) -> Project:
    """A project of the user's organization, or Label Studio's 404."""
    project = get_by_id(session, Project, project_id, lock=lock)
    if project is None or project.organization_id != user.organization_id:
        raise NotFound("Project")
    return project


def update_project(session: Session, user: User, project_id: int, data: Any, form: bool) -> Project:
    project = get_project(session, user, project_id)
    values = _checked(data, form, create=False)
    _apply(project, values)
    session.add(project)
    mark_seed_changed(session)
    session.commit()
    return project


def delete_project(session: Session, user: User, project_id: int) -> None:
    """Delete a project with what Label Studio's model deletes with it (its runs and their
    history, its tasks with their annotations, predictions and few-shot uses, its imports, its
    prompt associations), in one transaction."""
    project = get_project(session, user, project_id, lock=True)
    runs = select(ModelRun.id).where(ModelRun.project_id == project.id)
    tasks = select(Task.id).where(Task.project_id == project.id)
    # Runs locked first, in the order a lifecycle step takes them, so a step under way ends
    # before its run disappears.
    session.exec(runs.with_for_update()).all()
    session.execute(delete(RunEvent).where(col(RunEvent.run_id).in_(runs)))
    session.execute(delete(RunTask).where(col(RunTask.run_id).in_(runs)))
    session.execute(
        delete(Prediction).where(
            or_(col(Prediction.run_id).in_(runs), col(Prediction.task_id).in_(tasks))
        )
    )
    session.execute(
        delete(FailedPrediction).where(
            or_(col(FailedPrediction.run_id).in_(runs), col(FailedPrediction.task_id).in_(tasks))
        )
    )
    session.execute(delete(ModelRun).where(col(ModelRun.project_id) == project.id))
    for model in (Annotation, FewShotExample):
        session.execute(delete(model).where(col(model.task_id).in_(tasks)))
    session.execute(delete(ProjectImport).where(col(ProjectImport.project_id) == project.id))
    session.execute(delete(Task).where(col(Task.project_id) == project.id))
    session.execute(delete(PromptProject).where(col(PromptProject.project_id) == project.id))
    session.delete(project)
    mark_seed_changed(session)
    session.commit()


@dataclass
class ProjectFacts:
    """What a project's JSON needs beyond its row: counts, creator, prompts, parsed config."""

    tasks: int = 0
    ground_truth: int = 0
    predictions: int = 0
    creator: dict[str, Any] | None = None
    prompts: list[dict[str, Any]] | None = None
    config: LabelConfig | None = None


def project_counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """(tasks, tasks with ground truth, predictions) per project, in two queries."""
    if not ids:
        return {}
    tasks = session.execute(
        select(
            Task.project_id,
            func.count(),
            func.coalesce(func.sum(case((col(Task.has_ground_truth), 1), else_=0)), 0),
        )
        .where(col(Task.project_id).in_(ids))
        .group_by(col(Task.project_id))
    ).all()
    predictions = dict(
        session.execute(
            select(Task.project_id, func.count())
            .join(Prediction, col(Prediction.task_id) == col(Task.id))
            .where(col(Task.project_id).in_(ids))
            .group_by(col(Task.project_id))
        ).all()
    )
    out = {pid: (0, 0, int(predictions.get(pid, 0))) for pid in ids}
    for pid, total, gt in tasks:
        out[pid] = (int(total), int(gt), int(predictions.get(pid, 0)))
    return out


def parsed_config(project: Project) -> LabelConfig | None:
    """The project's config parsed (a stored config that no longer parses shows as empty)."""
    try:
        return parse_label_config(project.label_config or DEFAULT_LABEL_CONFIG)
    except LabelConfigError:
        return None


@dataclass
class ProjectFilters:
    archived: bool | None = None
    pinned: str = "all"
    ids: list[int] | None = None
    search: str | None = None
    source_interface_id: float | None = None
    state: str | None = None
    title: str | None = None
    workspaces: float | None = None
    ordering: str | None = None


def _int_list(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise ValidationFailed({"ids": ["Enter a whole number."]}) from None
        out.append(value)
    return out


def _number(name: str, text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed({name: ["Enter a number."]}) from None


def read_filters(params: dict[str, str]) -> ProjectFilters:
    """The list's query parameters as django-filter reads them (a bad number is a 400)."""
    archived = params.get("archived")
    return ProjectFilters(
        archived={"true": True, "1": True, "false": False, "0": False}.get(
            (archived or "").lower()
        ),
        pinned=params.get("filter") or "all",
        ids=_int_list(params["ids"]) if params.get("ids") else None,
        search=params.get("search") or None,
        source_interface_id=_number("source_interface_id", params.get("source_interface_id")),
        state=params.get("state") or None,
        title=params.get("title") or None,
        workspaces=_number("workspaces", params.get("workspaces")),
        ordering=params.get("ordering"),
    )


def project_query(user: User, filters: ProjectFilters) -> Select[Any]:
    """The user's organization's projects, filtered and ordered (pinned first by default, then
    the newest)."""
    query = select(Project).where(Project.organization_id == user.organization_id)
    nothing = col(Project.id) < 0
    if filters.archived:
        query = query.where(nothing)  # the organization's one workspace is never archived
    if filters.pinned == "pinned_only":
        query = query.where(col(Project.pinned_at).is_not(None))
    elif filters.pinned == "exclude_pinned":
        query = query.where(col(Project.pinned_at).is_(None))
    if filters.ids is not None:
        query = query.where(col(Project.id).in_([i for i in filters.ids if 0 < i <= MAX_ID]))
    if filters.search:
        pattern = f"%{filters.search.lower()}%"
        query = query.where(
            or_(
                func.lower(col(Project.title)).like(pattern),
                func.lower(col(Project.description)).like(pattern),
            )
        )
    if filters.title:
        query = query.where(func.lower(col(Project.title)).like(f"%{filters.title.lower()}%"))
    if filters.source_interface_id is not None:
        value = filters.source_interface_id
        query = query.where(
            col(Project.source_interface_id) == int(value)
            if value.is_integer() and abs(value) <= MAX_ID
            else nothing
        )
    if filters.state is not None and filters.state != STATE:
        query = query.where(nothing)
    if filters.workspaces is not None and filters.workspaces != user.organization_id:
        query = query.where(nothing)
    terms: Sequence[ColumnElement[Any] | OrderByList] = ordering_terms(filters.ordering, ORDERING)
    if not terms:
        terms = [
            col(Project.pinned_at).is_(None),
            col(Project.pinned_at).desc(),
            col(Project.created_at).desc(),
        ]
    return query.order_by(*terms, col(Project.id).desc())


def project_facts(session: Session, projects: list[Project]) -> dict[int, ProjectFacts]:
    """Counts, creators, associated prompts and parsed configs of projects, a query each."""
    ids = [p.id for p in projects]
    counts = project_counts(session, ids)
    creator_ids = {p.created_by_id for p in projects if p.created_by_id is not None}
    creators = {
        u.id: user_simple(u)
        for u in session.exec(select(User).where(col(User.id).in_(creator_ids)))
    }
    prompts: dict[int, list[dict[str, Any]]] = {pid: [] for pid in ids}
    for project_id, prompt_id, title in session.execute(
        select(PromptProject.project_id, Prompt.id, Prompt.title)
        .join(Prompt, col(Prompt.id) == col(PromptProject.prompt_id))
        .where(col(PromptProject.project_id).in_(ids))
        .order_by(col(Prompt.id))
    ).all():
        prompts[project_id].append({"id": prompt_id, "title": title})
    out = {}
    for p in projects:
        tasks, gt, predictions = counts.get(p.id, (0, 0, 0))
        out[p.id] = ProjectFacts(
            tasks=tasks,
            ground_truth=gt,
            predictions=predictions,
            creator=creators.get(p.created_by_id) if p.created_by_id is not None else None,
            prompts=prompts.get(p.id, []),
            config=parsed_config(p),
        )
    return out
