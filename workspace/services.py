"""Workspace writes: bulk actions on a filtered list of turns.

A bulk action is confirmed with the count it will touch, then runs over the same filters
bounded by the confirmation time (`until`), so turns logged meanwhile are not touched.
Up to BULK_INLINE turns it runs in the request; larger ones run in a Celery worker, with
the BulkJob row as the progress bar and as a `reviewhub.jobs` lease (claim, heartbeat,
sweeper: a run whose worker died is re-queued and goes on after its last batch). Each
batch is one transaction of set-based writes through the owning app's services, which
record the per-item audit trail, committed together with the job's progress.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations import services as review_services
from annotations.models import Example
from chat.models import Conversation, Turn
from datasets.models import ReleaseItem
from experiments import services as experiment_services
from experiments.models import Arm, Experiment
from experiments.services import ArmSpec
from outbox.services import record
from reviewhub import jobs
from reviewhub.roles import has_perm, is_expert, is_lead
from workspace import selectors
from workspace.models import BulkJob

log = logging.getLogger(__name__)

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
    jobs.job_enqueue_on_commit(job)
    return job


def _bulk_fail(rows, reason: str) -> int:
    return rows.update(status=BulkJob.Status.FAILED, error=reason, finished_at=timezone.now())


BULK_JOB = jobs.JobKind(
    model="workspace.BulkJob",
    task="workspace.tasks.bulk_job_run",
    active=Q(status__in=[BulkJob.Status.QUEUED, BulkJob.Status.RUNNING]),
    fail=_bulk_fail,
    on_claim={"status": BulkJob.Status.RUNNING},
)


def bulk_job_run(*, job_id) -> BulkJob:
    """Do the job's action batch by batch; each batch commits with the job's progress and
    the last turn it did, so a run the sweeper re-queued (its worker died) goes on after
    that turn: the same filters, bounded by the same `until`, in the same order, give the
    same turns, less those already done (or deleted)."""
    if jobs.job_claim(BulkJob, job_id) is None:  # done, failed, or another run holds it
        return BulkJob.objects.get(pk=job_id)
    job = BulkJob.objects.select_related("created_by").get(pk=job_id)
    try:
        _bulk_all(job)
    except jobs.LeaseLost:
        log.warning("bulk job %s: another run took over", job.pk)
    except (BulkError, ValidationError) as exc:  # a reason for the person who asked
        reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _bulk_fail(jobs.job_rows(job), reason[:2000])
    except Exception as exc:
        _bulk_fail(jobs.job_rows(job), str(exc)[:2000])
        raise
    job.refresh_from_db()
    return job


def _bulk_all(job: BulkJob) -> None:
    from workspace.forms import stored_filters  # (forms import this module)

    actor = job.created_by
    filters = stored_filters(job.filters, viewer=actor, until=job.until)
    after = selectors.decode_position(job.resume_after) if job.resume_after else None
    rows = selectors.bulk_turn_positions(
        viewer=actor, filters=filters, action=job.action, after=after
    )
    jobs.job_heartbeat(job, total=job.done + len(rows))
    apply = _ACTIONS[job.action]
    # an experiment is one set of questions, not something done batch by batch
    size = max(len(rows), 1) if job.action == BulkJob.Action.EXPERIMENT else BATCH
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        with transaction.atomic():
            changed = apply([pk for pk, _ in batch], actor, job)
            job.done += len(batch)
            job.changed += changed
            job.skipped += len(batch) - changed
            jobs.job_heartbeat(
                job,
                done=job.done,
                changed=job.changed,
                skipped=job.skipped,
                resume_after=selectors.encode_position(*batch[-1]),
            )
    jobs.job_rows(job).update(status=BulkJob.Status.DONE, finished_at=timezone.now())


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
    jobs.job_heartbeat(job, params=job.params)
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
