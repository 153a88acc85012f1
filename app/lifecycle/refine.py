"""Prompt refinement jobs: a teacher model rewrites a version's prompt, and the rewrite is saved
as a new version of the prompt.

A job is Pending for the policy's queue delay, then InProgress for ``REFINE_SECONDS``, then
Completed; each step is due at an instant of the virtual clock and applied, in time order, by
the lifecycle worker or when the clock is moved (``settle_due``), stamped with the instant it
was due. The rewrite is deterministic: the old prompt, the project's labels and a few-shot hint;
its accuracy knob is a little higher than the old one's, capped. No HTTP here.
"""

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import mark_seed_changed, write_session
from app.errors import NotFound, ValidationFailed
from app.label_config import LabelConfigError, parse_label_config
from app.lifecycle import pricing
from app.lifecycle.clock import Clock
from app.lifecycle.policy import Policy
from app.models import (
    FewShotExample,
    Project,
    Prompt,
    PromptVersion,
    RefineJob,
    User,
)

PENDING, IN_PROGRESS, COMPLETED = "Pending", "InProgress", "Completed"
# How long the teacher model works on a prompt once the job has left the queue.
REFINE_SECONDS = 10.0
# How much a refinement raises a version's accuracy knob, and the most it can reach.
ACCURACY_GAIN = 0.05
ACCURACY_CAP = 0.98
TITLE_MAX = 500


def job_id(session: Session, version_id: int, created_at: datetime) -> str:
    """A job id unique among the jobs (a hash of the version, the instant and the count)."""
    taken = session.exec(select(col(RefineJob.id))).all()
    seed = f"{version_id}:{created_at.isoformat()}:{len(taken)}"
    candidate = hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()
    while candidate in taken:
        candidate = hashlib.blake2b(candidate.encode(), digest_size=16).hexdigest()
    return candidate


def start_refinement(
    session: Session,
    user: User,
    prompt: Prompt,
    version: PromptVersion,
    values: dict[str, Any],
    clock: Clock,
    wait: bool,
) -> RefineJob:
    """A new refinement job of a version from a validated RefinePromptRequest body; with
    ``wait`` (``async=false``), it runs to its end at once."""
    now = clock.now(session)
    policy = Policy.load(session)
    job = RefineJob(
        id=job_id(session, version.id, now),
        organization_id=user.organization_id,
        prompt_id=prompt.id,
        version_id=version.id,
        project_id=values["project_id"],
        created_by_id=user.id,
        teacher_model_name=values["teacher_model_name"],
        teacher_connection_id=values["teacher_model_provider_connection_id"],
        status=PENDING,
        created_at=now,
        next_due_at=now + timedelta(seconds=policy.queue_delay_seconds),
    )
    session.add(job)
    if wait:
        while job.next_due_at is not None:
            _step(session, job, policy, job.next_due_at)
    session.commit()
    return job


def own_job(session: Session, version: PromptVersion, refinement_job_id: str | None) -> RefineJob:
    """A refinement job of the version, or a 404 (another version's or organization's too)."""
    if refinement_job_id is None:
        raise ValidationFailed.field("refinement_job_id", "This field is required.")
    job = session.get(RefineJob, refinement_job_id[:64])
    if job is None or job.version_id != version.id or job.prompt_id != version.prompt_id:
        raise NotFound("RefinementJob")
    return job


def labels_of(session: Session, prompt: Prompt, project_id: int) -> list[str]:
    """The classes a prompt chooses from: its output classes, else the project's choices."""
    classes = [str(c) for c in prompt.output_classes or []]
    if classes:
        return classes
    project = session.get(Project, project_id)
    try:
        config = parse_label_config(project.label_config if project else None)
    except LabelConfigError:
        return []
    return [label for control in config.controls for label in control.labels]


def refined_text(old: str, labels: list[str], examples: int) -> str:
    """The teacher's rewrite of a prompt: the task, then the labels, then a few-shot hint."""
    lines = [old.rstrip() or "Classify the task."]
    if labels:
        lines.append("")
        lines.append("Answer with exactly one of these labels: " + ", ".join(labels) + ".")
    lines.append(
        "Before answering, compare the task with the labelled examples"
        + (f" ({examples} given)" if examples else "")
        + " and pick the label of the most similar one; never answer anything else."
    )
    return "\n".join(lines)


def _free_title(session: Session, prompt_id: int, base: str) -> str:
    titles = set(
        session.exec(
            select(col(PromptVersion.title)).where(col(PromptVersion.prompt_id) == prompt_id)
        ).all()
    )
    base = base[:TITLE_MAX]
    title, n = base, 1
    while title in titles:
        n += 1
        suffix = f" ({n})"
        title = base[: TITLE_MAX - len(suffix)] + suffix
    return title


def _complete(session: Session, job: RefineJob, at: datetime) -> None:
    """Save the refined prompt as a new version of the prompt, stamped ``at``."""
    version = session.get(PromptVersion, job.version_id)
    prompt = session.get(Prompt, job.prompt_id)
    job.status = COMPLETED
    job.completed_at = at
    job.next_due_at = None
    if version is None or prompt is None:  # deleted while refined: nothing to save it to
        job.reasoning = "The prompt version was deleted before its refinement completed."
        session.add(job)
        return
    labels = labels_of(session, prompt, job.project_id)
    examples = len(
        session.exec(
            select(col(FewShotExample.id)).where(col(FewShotExample.version_id) == version.id)
        ).all()
    )
    text = refined_text(version.prompt, labels, examples)
    # The id comes from the table's sequence (the model declares it required).
    refined = PromptVersion(  # type: ignore[call-arg]
        prompt_id=prompt.id,
        organization_id=version.organization_id,
        created_by_id=job.created_by_id,
        title=_free_title(session, prompt.id, f"{version.title} (refined)"),
        prompt=text,
        provider=version.provider,
        provider_model_id=version.provider_model_id,
        model_provider_connection_id=version.model_provider_connection_id,
        max_few_shot_examples=version.max_few_shot_examples,
        accuracy=max(version.accuracy, min(version.accuracy + ACCURACY_GAIN, ACCURACY_CAP)),
        failure_rate=version.failure_rate,
        created_at=at,
        updated_at=at,
    )
    session.add(refined)
    session.flush()
    prompt_cost, completion_cost = pricing.cost(
        job.teacher_model_name, pricing.count_tokens(version.prompt), pricing.count_tokens(text)
    )
    job.refined_version_id = refined.id
    job.total_cost_usd = round(prompt_cost + completion_cost, 8)
    job.reasoning = (
        "Listed the labels the project accepts"
        + (f" ({', '.join(labels)})" if labels else "")
        + " and asked for one of them only, comparing with labelled examples first."
    )
    session.add(job)
    mark_seed_changed(session)


def _step(session: Session, job: RefineJob, policy: Policy, at: datetime) -> None:
    """Apply the job's step due at ``at``."""
    if job.status == PENDING:
        job.status = IN_PROGRESS
        job.next_due_at = at + timedelta(seconds=REFINE_SECONDS)
        session.add(job)
    elif job.status == IN_PROGRESS:
        _complete(session, job, at)


def settle_due(engine: Engine, until: datetime) -> int:
    """Apply, in time order, every step of a refinement job due up to ``until``; answers how
    many steps were applied. Jobs are claimed with row locks other workers skip. It takes the
    write lock: the lifecycle calls it once its look has seen a job due."""
    due = select(RefineJob).where(
        col(RefineJob.next_due_at).is_not(None), col(RefineJob.next_due_at) <= until
    )
    steps = 0
    with write_session(engine) as session:
        policy = Policy.load(session)
        while True:
            job = session.exec(
                due.order_by(col(RefineJob.next_due_at), col(RefineJob.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if job is None or job.next_due_at is None:
                break
            _step(session, job, policy, job.next_due_at)
            session.flush()
            steps += 1
    return steps
