"""Workspace writes: bulk actions on a filtered list of turns.

A bulk action is confirmed with the count it will touch, then runs over the same filters
bounded by the confirmation time (`until`), so turns logged meanwhile are not touched.
Up to BULK_INLINE turns it runs in the request; larger ones run in a Celery worker, with
the BulkJob row as the progress bar. Each batch is one transaction of set-based writes
through the owning app's services, which record the per-item audit trail.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotations import services as review_services
from annotations.models import Example
from chat.models import Conversation, Turn
from datasets.models import ReleaseItem
from experiments import services as experiment_services
from experiments.models import Arm, Experiment
from experiments.services import ArmSpec
from outbox.services import record
from reviewhub.roles import has_perm, is_expert, is_lead
from workspace import selectors
from workspace.models import BulkJob

BULK_INLINE = 500
BATCH = 1000
LEAD_ONLY = {BulkJob.Action.APPROVE, BulkJob.Action.DELETE, BulkJob.Action.ASSIGN}


class BulkError(Exception):
    """A bulk action that cannot run; the message is for the person who asked."""


def bulk_allowed(user, action: str) -> bool:
    if action == BulkJob.Action.EXPERIMENT:
        return is_expert(user) and has_perm(user, "replay")
    return is_lead(user) if action in LEAD_ONLY else is_expert(user)


def bulk_refusal(*, action: str, count: int) -> str:
    """Why this action cannot run on this many turns ("" when it can)."""
    limit = settings.EXPERIMENT_MAX_QUESTIONS
    if action == BulkJob.Action.EXPERIMENT and count > limit:
        return f"An experiment asks at most {limit:,} questions: narrow the filters."
    return ""


def bulk_job_create(
    *, actor, action: str, filters: dict, params: dict, until: datetime, confirmed_count: int
) -> BulkJob:
    """Record a confirmed bulk action; the caller runs it (inline or through the task)."""
    if not bulk_allowed(actor, action):
        raise BulkError("You are not allowed to do this bulk action.")
    return BulkJob.objects.create(
        action=action,
        filters=filters,
        params=params,
        until=until,
        confirmed_count=confirmed_count,
        created_by=actor,
    )


def bulk_job_start(*, job: BulkJob) -> BulkJob:
    """Run small jobs now; hand large ones to a worker (after this transaction commits).
    An experiment always starts now: it only records the questions, and runs as a job of
    its own (with its own progress page)."""
    if job.confirmed_count <= BULK_INLINE or job.action == BulkJob.Action.EXPERIMENT:
        return bulk_job_run(job_id=job.pk)
    from workspace.tasks import bulk_job_run as task

    # After commit, so the worker finds the row (the app's Task has no delay_on_commit).
    transaction.on_commit(lambda: task.delay(str(job.pk)))
    return job


def bulk_job_run(*, job_id) -> BulkJob:
    """Do the job's action batch by batch, saving progress after each batch."""
    from workspace.forms import stored_filters

    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    if job.status not in (BulkJob.Status.QUEUED, BulkJob.Status.RUNNING):
        return job
    actor = job.created_by
    filters = stored_filters(job.filters, viewer=actor, until=job.until)
    ids = selectors.bulk_turn_ids(viewer=actor, filters=filters, action=job.action)
    job.status, job.total = BulkJob.Status.RUNNING, len(ids)
    job.save(update_fields=["status", "total"])
    apply = _ACTIONS[job.action]
    # an experiment is one set of questions, not something done batch by batch
    batch_size = max(len(ids), 1) if job.action == BulkJob.Action.EXPERIMENT else BATCH
    try:
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            with transaction.atomic():
                changed = apply(batch, actor, job)
            job.done += len(batch)
            job.changed += changed
            job.skipped += len(batch) - changed
            job.save(update_fields=["done", "changed", "skipped"])
    except Exception as exc:
        job.status, job.error = BulkJob.Status.FAILED, str(exc)[:2000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        if isinstance(exc, BulkError):
            return job  # a reason for the person who asked, shown on the job's page
        raise
    job.status, job.finished_at = BulkJob.Status.DONE, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


def _queue(ids, actor, job: BulkJob) -> int:
    priority = int(job.params["priority"])
    return review_services.queue_items_prioritise(turn_ids=ids, priority=priority, actor=actor)


def _assign(ids, actor, job: BulkJob) -> int:
    reviewer = User.objects.get(username=job.params["reviewer"])
    return review_services.queue_items_assign(turn_ids=ids, reviewer=reviewer, actor=actor)


def _approve(ids, actor, job: BulkJob) -> int:
    result = review_services.examples_approve_bulk(
        turn_ids=ids, actor=actor, reason=job.params["reason"]
    )
    return result["approved"]


def _exclude(ids, actor, job: BulkJob) -> int:
    return review_services.turns_exclude_from_datasets(turn_ids=ids, actor=actor)


def _delete(ids, actor, job: BulkJob) -> int:
    return ingested_turns_delete(turn_ids=ids, actor=actor)


def _experiment(ids, actor, job: BulkJob) -> int:
    """All the selected questions in one experiment through the experiments app's service:
    the logged answers against the chosen model answering again. Its id goes on the job,
    whose page links to the experiment's progress and results."""
    model = job.params["model"]
    try:
        experiment = experiment_services.experiment_create(
            user=actor,
            name=job.params.get("name") or f"Explorer selection: {len(ids)} questions",
            description=f"From the explorer, filters {job.filters or '(none)'}.",
            arms=[
                ArmSpec(label="Logged answers", kind=Arm.Kind.LOGGED),
                ArmSpec(label=model, kind=Arm.Kind.MODEL, model_key=model),
            ],
            question_ids=experiment_services.questions_from_list(ids),
            source=Experiment.Source.LIST,
        )
    except experiment_services.ExperimentError as exc:
        raise BulkError(str(exc)) from None
    job.params = {**job.params, "experiment": str(experiment.pk)}
    job.save(update_fields=["params"])
    return len(ids)


def ingested_turns_delete(*, turn_ids: list, actor) -> int:
    """Delete turns that came in through the ingestion API (never chat-page turns, which
    belong to the people who asked). Kept: any turn whose example a release contains
    (approved releases are immutable; a built one would no longer match its files).
    Examples of deleted turns go with them; the graph is told through the outbox.
    Returns how many turns were deleted."""
    if not is_lead(actor):
        raise BulkError("Only leads can delete ingested turns.")
    in_release = ReleaseItem.objects.filter(example__turn_id__in=turn_ids).values(
        "example__turn_id"
    )
    doomed = list(
        Turn.objects.filter(id__in=turn_ids, source=Conversation.Source.API)
        .exclude(id__in=in_release)
        .values_list("id", flat=True)
    )
    if not doomed:
        return 0
    Example.objects.filter(turn_id__in=doomed).delete()
    record("turn", doomed)
    Turn.objects.filter(id__in=doomed).delete()
    return len(doomed)


_ACTIONS = {
    BulkJob.Action.QUEUE: _queue,
    BulkJob.Action.ASSIGN: _assign,
    BulkJob.Action.APPROVE: _approve,
    BulkJob.Action.EXCLUDE: _exclude,
    BulkJob.Action.DELETE: _delete,
    BulkJob.Action.EXPERIMENT: _experiment,
}
