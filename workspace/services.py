"""Workspace writes: bulk actions on a filtered list of turns.

A bulk action is confirmed with the count it will touch, then runs over the same filters
bounded by the confirmation time (`until`), so turns logged meanwhile are not touched.
Up to BULK_INLINE turns it runs in the request; larger ones run in a Celery worker, with
the BulkJob row as the progress bar. Each batch is one transaction of set-based writes
through the owning app's services, which record the per-item audit trail.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotations import services as review_services
from annotations.models import Example
from chat.models import Conversation, Turn
from datasets.models import ReleaseItem
from outbox.services import record
from reviewhub.roles import is_expert, is_lead
from workspace import selectors
from workspace.models import BulkJob

BULK_INLINE = 500
BATCH = 1000
LEAD_ONLY = {BulkJob.Action.APPROVE, BulkJob.Action.DELETE, BulkJob.Action.ASSIGN}


class BulkError(Exception):
    """A bulk action that cannot run; the message is for the person who asked."""


def bulk_allowed(user, action: str) -> bool:
    return is_lead(user) if action in LEAD_ONLY else is_expert(user)


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
    """Run small jobs now; hand large ones to a worker (after this transaction commits)."""
    if job.confirmed_count <= BULK_INLINE:
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
    ids = selectors.bulk_turn_ids(viewer=actor, filters=filters)
    job.status, job.total = BulkJob.Status.RUNNING, len(ids)
    job.save(update_fields=["status", "total"])
    apply = _ACTIONS[job.action]
    try:
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            with transaction.atomic():
                changed = apply(batch, actor, job.params)
            job.done += len(batch)
            job.changed += changed
            job.skipped += len(batch) - changed
            job.save(update_fields=["done", "changed", "skipped"])
    except Exception as exc:
        job.status, job.error = BulkJob.Status.FAILED, str(exc)[:2000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        raise
    job.status, job.finished_at = BulkJob.Status.DONE, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


def _queue(ids, actor, params) -> int:
    priority = int(params["priority"])
    return review_services.queue_items_prioritise(turn_ids=ids, priority=priority, actor=actor)


def _assign(ids, actor, params) -> int:
    reviewer = User.objects.get(username=params["reviewer"])
    return review_services.queue_items_assign(turn_ids=ids, reviewer=reviewer, actor=actor)


def _approve(ids, actor, params) -> int:
    result = review_services.examples_approve_bulk(
        turn_ids=ids, actor=actor, reason=params["reason"]
    )
    return result["approved"]


def _exclude(ids, actor, params) -> int:
    return review_services.turns_exclude_from_datasets(turn_ids=ids, actor=actor)


def _delete(ids, actor, params) -> int:
    return ingested_turns_delete(turn_ids=ids, actor=actor)


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
}
