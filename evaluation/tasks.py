"""Celery tasks of the evaluation layer; thin wrappers over evaluation.services.

Nothing outside this app enqueues them by import: `score_new_turns` runs from Celery beat.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reviewhub.celery import retrying


def _enqueue_judging(requests: dict[str, list[str]]) -> None:
    batch = settings.EVAL_JUDGE_BATCH
    for version_id, turn_ids in requests.items():
        for start in range(0, len(turn_ids), batch):
            judge_turns.delay(version_id, turn_ids[start : start + batch])


@shared_task(acks_late=True, **retrying(max_retries=3))
def score_new_turns() -> dict:
    """Periodic: score turns logged since the last run (offline checks now, judge calls
    enqueued), and re-enqueue judge requests whose task was lost."""
    from evaluation.services import online_scan, stale_requests

    report = online_scan()  # commits as it goes; judge requests are stored before this returns
    requests = report["judge_requests"]
    for version_id, turn_ids in stale_requests().items():
        requests.setdefault(version_id, []).extend(turn_ids)
    _enqueue_judging(requests)
    return {"turns": report["turns"], "offline": report["offline"]}


@shared_task(acks_late=True, **retrying(max_retries=5))
def judge_turns(version_id: str, turn_ids: list[str]) -> dict:
    """Judge these turns with one evaluator version. Each call's own failures are stored
    as score errors after capped retries; this task retries only when storing fails.
    Safe to redeliver: scores are upserted."""
    from evaluation.models import EvaluatorVersion, ScoreRequest
    from evaluation.services import score_turns

    version = EvaluatorVersion.objects.select_related("evaluator").get(pk=version_id)
    pending = list(
        ScoreRequest.objects.filter(evaluator_version=version, turn_id__in=turn_ids).values_list(
            "turn_id", flat=True
        )
    )
    return score_turns(version=version, turn_ids=pending)


@shared_task(acks_late=True, **retrying(max_retries=5))
def backfill_run(job_id: str) -> None:
    """Run a backfill job (claimed on its row: a duplicate message does nothing). A job
    stopped by the hourly cap waits on its row; the job sweeper sends it again when due."""
    from evaluation.services import backfill_job_run

    backfill_job_run(job_id=job_id)
