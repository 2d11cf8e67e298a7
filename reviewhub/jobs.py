"""Background jobs that recover by themselves: a lease on the job's own row.

Why: the filesystem broker never redelivers a message whose worker died (so `acks_late`
does nothing there), and an enqueue can fail after the row that describes the work is
committed. The job row, not the broker, is therefore the source of truth:

- `job_enqueue_on_commit(job)` hands the job to the broker after commit. A failure is
  caught and written on the row (`queued_at` stays empty: "waiting for a worker"), never
  raised into the request that saved the work.
- `job_claim(Model, pk)` is a compare-and-set: only a row that is still to be run and
  that no live run holds is taken (`lease_owner` set to a fresh token), so two messages
  for one job never run it twice.
- `job_heartbeat(job, **progress)` writes progress and renews the lease in one update
  that matches the run's own token; a run that lost its lease gets `LeaseLost` and stops.
- `job_sweep()` (periodic, `reviewhub.tasks.jobs_sweep`) finds rows whose heartbeat is
  older than the lease (the worker vanished): it cleans their temporary files and
  re-queues them, or fails them with a reason after `max_attempts`; it also enqueues
  rows still waiting for a worker and re-sends rows queued long ago but never claimed.
- `job_give_back(job, retried=…)` ends a failed run: the lease is given up so the job runs
  again, by the task's own retry or by the sweeper.
- `job_wait(job, until=…)` is a clean stop for a while (a rate cap, a budget per hour):
  the run gives up its lease and the row waits with `resume_at`. The sweeper does not take
  it for dead (no lease) nor for lost (not queued); once `resume_at` has passed it enqueues
  it like any row waiting for a worker, and a claim before then does nothing. A model that
  can wait inherits `WaitingJobFields` instead. (Not a Celery countdown: a message held for
  an hour is lost with its worker, and Redis redelivers one held past its visibility
  timeout, one hour by default, so the same wait would run twice.)

A job model inherits `JobFields` and registers a `JobKind` in its app's `ready()`; the
release build (datasets) and the replay (chat) do, and an experiment run can do the same.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.apps import apps
from django.conf import settings
from django.db import InterfaceError, OperationalError, models, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This run no longer holds the job (the sweeper gave it to another run)."""


class JobFields(models.Model):
    """The lease and queue bookkeeping a recoverable job row carries."""

    lease_owner = models.CharField(max_length=32, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="Handed to the broker; empty: waiting for a worker"
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs started")
    job_note = models.CharField(
        max_length=300, blank=True, help_text="Why it waits or was re-queued (shown)"
    )

    class Meta:
        abstract = True

    @property
    def waiting_for_worker(self) -> bool:
        """Saved, but not yet handed to the broker (it was down): the sweeper will."""
        return self.queued_at is None and not self.lease_owner


class WaitingJobFields(JobFields):
    """JobFields for a job that may stop cleanly and continue later (`job_wait`)."""

    resume_at = models.DateTimeField(
        null=True, blank=True, help_text="Waiting (e.g. for an hourly cap) until then"
    )

    class Meta:
        abstract = True

    @property
    def waiting_for_worker(self) -> bool:
        return super().waiting_for_worker and not self.waiting

    @property
    def waiting(self) -> bool:
        """Stopped on purpose until `resume_at` (then the sweeper sends it)."""
        return self.resume_at is not None and not self.lease_owner


@dataclass(frozen=True)
class JobKind:
    model: str  # "app_label.ModelName"
    task: str  # dotted path of the Celery task; it takes the job's primary key as a string
    active: Q  # rows still to run (queued or running)
    fail: Callable[[QuerySet, str], int]  # mark the rows failed, showing the reason
    on_claim: dict = field(default_factory=dict)  # extra fields set by a claim
    cleanup: Callable[[models.Model], int] | None = None  # temp files of a dead run: count
    lease_s: Callable[[], float] | None = None  # default settings.JOB_LEASE_S
    max_attempts: int = 3

    @property
    def Model(self) -> type[models.Model]:  # noqa: N802 (a class)
        return apps.get_model(self.model)

    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s() if self.lease_s else settings.JOB_LEASE_S)

    @property
    def waits(self) -> bool:
        return issubclass(self.Model, WaitingJobFields)

    def due(self, now) -> Q:
        """Rows not waiting for a later time (every row of a kind that never waits)."""
        if not self.waits:
            return Q()
        return Q(resume_at__isnull=True) | Q(resume_at__lte=now)


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> None:
    _KINDS[kind.model.lower()] = kind


def kinds() -> list[JobKind]:
    return list(_KINDS.values())


def kind_of(model) -> JobKind:
    return _KINDS[model._meta.label_lower]


# --- enqueue ------------------------------------------------------------------------------


def job_enqueue(model, pk, *, note: str = "") -> bool:
    """Hand the job to the broker; on failure record why and leave it to the sweeper.

    Never raises: the row is the work, the message only a wake-up call. The circuit
    breaker in `reviewhub.celery` makes this cost microseconds while the broker is
    known to be down."""
    kind = kind_of(model)
    rows = kind.Model.objects.filter(kind.active, kind.due(timezone.now()), pk=pk, lease_owner="")
    try:
        import_string(kind.task).apply_async(args=[str(pk)])
    except Exception as exc:  # broker down or unreachable: any failure, same answer
        log.warning("could not enqueue %s %s: %s", kind.model, pk, exc)
        rows.filter(queued_at__isnull=True).update(
            job_note=f"Waiting for a worker: the task queue is unreachable ({_short(exc)})."
        )
        return False
    rows.update(queued_at=timezone.now(), job_note=note)
    return True


def job_enqueue_on_commit(job: models.Model) -> None:
    transaction.on_commit(partial(job_enqueue, type(job), job.pk))


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


# --- run ----------------------------------------------------------------------------------


def job_claim(model, pk):
    """Take the job for this run, or None when it is done, failed, held by a live run or
    waiting for a later time (`job_wait`)."""
    kind = kind_of(model)
    owner = secrets.token_hex(16)
    now = timezone.now()
    extra = {}
    if kind.waits:  # the wait is over: its reason goes with it (set in the same update, as
        # the sweeper's enqueue may lose the race with this claim)
        waited = When(resume_at__isnull=False, then=Value(""))
        extra = {"resume_at": None, "job_note": Case(waited, default=F("job_note"))}
    taken = kind.Model.objects.filter(kind.active, kind.due(now), pk=pk, lease_owner="").update(
        lease_owner=owner,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        **extra,
        **kind.on_claim,
    )
    if not taken:
        return None
    return kind.Model.objects.get(pk=pk)


def job_heartbeat(job: models.Model, **fields) -> None:
    """Write progress and renew the lease; raises LeaseLost if another run has the job."""
    kind = kind_of(type(job))
    renewed = kind.Model.objects.filter(kind.active, pk=job.pk, lease_owner=job.lease_owner)
    if not renewed.update(heartbeat_at=timezone.now(), **fields):
        raise LeaseLost(f"{kind.model} {job.pk}")


def job_wait(job: models.Model, *, until, note: str, **fields) -> None:
    """Stop this run cleanly and let the job continue at `until` (the sweeper sends it then).

    The lease is given up, so the sweeper cannot take the row for a dead run, and `attempts`
    starts again: a planned stop is not a failed attempt (a backfill capped for ten hours
    would otherwise use up `max_attempts`). Raises LeaseLost if another run has the job."""
    kind = kind_of(type(job))
    if not kind.waits:
        raise TypeError(f"{kind.model} cannot wait: its model needs WaitingJobFields")
    parked = job_rows(job).update(
        lease_owner="", queued_at=None, resume_at=until, attempts=0, job_note=note, **fields
    )
    if not parked:
        raise LeaseLost(f"{kind.model} {job.pk}")


def job_give_back(job: models.Model, *, retried: bool, **fields) -> bool:
    """After a failed run: give up its lease (and write `fields`, an error, a note) so the job
    can run again. `retried`: the task's own retry will bring a message (Celery's autoretry),
    so the row counts as queued from now and the sweeper re-sends only if that message is
    lost; otherwise the row waits for the sweeper to send it. False when this run no longer
    held the job, or the database was unreachable: then the lease runs out and the sweeper
    takes the job as a dead run's."""
    queued_at = timezone.now() if retried else None
    try:
        return bool(job_rows(job).update(lease_owner="", queued_at=queued_at, **fields))
    except (OperationalError, InterfaceError):
        log.warning("could not give back %s %s", kind_of(type(job)).model, job.pk)
        return False


def job_rows(job: models.Model) -> QuerySet:
    """The job's row while this run still holds it (for the run's final update)."""
    kind = kind_of(type(job))
    return kind.Model.objects.filter(kind.active, pk=job.pk, lease_owner=job.lease_owner)


# --- sweep --------------------------------------------------------------------------------


def job_sweep() -> dict[str, int]:
    """Recover every registered kind: dead runs, unsent and lost messages."""
    report = {"requeued": 0, "failed": 0, "enqueued": 0, "resent": 0, "temp_files_removed": 0}
    for kind in kinds():
        _sweep_kind(kind, report)
    return report


def _sweep_kind(kind: JobKind, report: dict[str, int]) -> None:
    now = timezone.now()
    Model = kind.Model  # noqa: N806
    active = Model.objects.filter(kind.active)
    dead = active.exclude(lease_owner="").filter(heartbeat_at__lt=now - kind.lease())
    for job in dead:
        when = timezone.localtime(job.heartbeat_at).strftime("%H:%M:%S")
        # compare-and-set on the dead run's token: a run that just renewed keeps its job
        mine = Model.objects.filter(kind.active, pk=job.pk, lease_owner=job.lease_owner)
        if job.attempts >= kind.max_attempts:
            reason = (
                f"Its worker stopped responding (last heard of at {when}) on each of "
                f"{job.attempts} attempts; run it again once the workers are healthy."
            )
            if kind.fail(mine, reason):
                report["failed"] += 1
                report["temp_files_removed"] += _cleanup(kind, job)
            continue
        note = (
            f"Its worker stopped responding (last heard of at {when}); "
            f"re-queued, attempt {job.attempts + 1} of {kind.max_attempts}."
        )
        if mine.update(lease_owner="", queued_at=None, job_note=note):
            report["temp_files_removed"] += _cleanup(kind, job)
            report["requeued"] += 1
            job_enqueue(Model, job.pk, note=note)
    # rows waiting for a worker, and waiting rows whose time has come (`job_wait`)
    unsent = active.filter(kind.due(now), lease_owner="", queued_at__isnull=True)
    for pk in unsent.values_list("pk", flat=True):
        report["enqueued"] += job_enqueue(Model, pk)
    # Queued long ago and never claimed: the message was lost (a worker took it and
    # died before its claim). A duplicate message is harmless: the claim is a CAS.
    lost = active.filter(
        kind.due(now),
        lease_owner="",
        queued_at__lt=now - timedelta(seconds=settings.JOB_RESEND_AFTER_S),
    )
    for pk in lost.values_list("pk", flat=True):
        report["resent"] += job_enqueue(Model, pk, note="Re-sent: the first message was lost.")


def _cleanup(kind: JobKind, job: models.Model) -> int:
    if kind.cleanup is None:
        return 0
    try:
        return kind.cleanup(job)
    except OSError:
        log.warning("could not clean up after %s %s", kind.model, job.pk, exc_info=True)
        return 0
