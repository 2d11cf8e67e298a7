"""A backfill is a recoverable job (reviewhub.jobs): a dead worker's run is re-queued by the
sweeper and continues where it stopped; a run stopped by the hourly cap waits, shown with
when it continues, and is not taken for dead; the sweeper sends it again when due."""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.utils import timezone

from evaluation import services
from evaluation.models import BackfillJob, JudgeUsage, Score
from reviewhub import jobs
from tests.chat.llm_server import API_KEY
from tests.conftest import run_sweep, start_worker, stop_process, wait_until, worker_env

SUPPORTED = "Every paid instance takes a daily snapshot that is kept for seven days."


pytestmark = pytest.mark.usefixtures("role_groups_restored")


def _judge_env(llm_server, **extra: str) -> dict:
    """A worker's environment: its own queue (no other worker takes the job), the judge
    pointed at the test's OpenAI-compatible server."""
    return worker_env(
        REVIEWHUB_QUEUE=f"backfill-{uuid.uuid4().hex[:8]}",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=llm_server.base_url,
        OPENAI_MODEL="test-model",
        OPENAI_MODELS="test-model",
        EVAL_JUDGE_BACKOFF_S="0.01",
        EVAL_JUDGE_BACKOFF_MAX_S="0.05",
        **extra,
    )


def _judged(llm_server) -> Counter:
    """How many judge calls the server received per question."""
    calls = Counter()
    for request in list(llm_server.requests):
        if request["body"].get("response_format"):
            prompt = request["body"]["messages"][0]["content"]
            calls.update(q for q in prompt.split() if q.startswith("Q") and q.endswith("?"))
    return calls


def _scored_once(job: BackfillJob) -> bool:
    scores = Score.objects.filter(evaluator_version=job.evaluator_version)
    per_turn = Counter(str(t) for t in scores.values_list("turn_id", flat=True))
    never_rewritten = not scores.exclude(updated_at=F("created_at")).exists()
    return set(per_turn) == set(job.turn_ids) and set(per_turn.values()) == {2} and never_rewritten


def _log():
    return open(Path(tempfile.gettempdir()) / f"rh-backfill-worker-{os.getpid()}.log", "a")


@pytest.mark.django_db(transaction=True)
def test_a_backfill_whose_worker_died_is_requeued_and_scores_each_turn_once(
    lead, log_turn, llm_server, graph_server
):
    judge = services.evaluator_create(name="Judge", created_by=lead)
    for i in range(8):
        log_turn(f"Q{i}?", SUPPORTED)
    job = services.backfill_job_create(evaluator=judge, actor=lead, enqueue=False)
    # batches of two turns; the fifth judge call (batch 3) hangs until the worker is killed
    llm_server.judge_script = ["ok"] * 4 + ["timeout"]
    llm_server.judge_timeout_s = 20
    env = _judge_env(llm_server, EVAL_JUDGE_CONCURRENCY="2", EVAL_JUDGE_TIMEOUT_S="30")
    log = _log()
    doomed = start_worker(env, log)
    try:
        assert run_sweep(env)["enqueued"] == 1  # created without a message: the sweeper sends it
        wait_until(
            lambda: sum(_judged(llm_server).values()) >= 6 or doomed.poll() is not None,
            timeout=90,
            message="the backfill did not reach its third batch",
        )
        assert doomed.poll() is None, "the worker exited before it was killed"
        wait_until(lambda: BackfillJob.objects.get(pk=job.pk).done == 4, timeout=10)
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    job.refresh_from_db()
    assert (job.status, job.done, job.attempts) == ("running", 4, 1) and job.lease_owner

    time.sleep(1.5)  # the dead run's heartbeat is now older than its lease (1 s here)
    quick_lease = {"JOB_LEASE_S": "1", "EVAL_JUDGE_TIMEOUT_S": "0.1"}
    quick_lease |= {"EVAL_JUDGE_MAX_ATTEMPTS": "1", "EVAL_JUDGE_BACKOFF_MAX_S": "0"}
    assert run_sweep({**env, **quick_lease})["requeued"] == 1
    job.refresh_from_db()
    assert "stopped responding" in job.job_note and "attempt 2 of 3" in job.job_note

    llm_server.judge_timeout_s = 0.1
    healthy = start_worker(env, log)
    try:
        wait_until(
            lambda: BackfillJob.objects.get(pk=job.pk).status == "done",
            timeout=90,
            message="the re-queued backfill did not finish",
        )
    finally:
        stop_process(healthy)
        log.close()
    job.refresh_from_db()
    assert (job.done, job.total, job.failed, job.attempts) == (8, 8, 0, 2)
    assert _scored_once(job), "a turn was scored twice, or not at all"
    # batches 1–2 were stored before the worker died: the new run did not judge them again;
    # only the batch in flight was (its answers died with the worker)
    calls = _judged(llm_server)
    assert [calls[f"Q{i}?"] for i in range(8)] == [1, 1, 1, 1, 2, 2, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_a_capped_backfill_waits_is_not_swept_as_dead_and_continues_when_due(
    lead, log_turn, llm_server, graph_server, client_for
):
    judge = services.evaluator_create(name="Judge", created_by=lead, hourly_cap=2)
    for i in range(4):
        log_turn(f"Q{i}?", SUPPORTED)
    job = services.backfill_job_create(evaluator=judge, actor=lead, enqueue=False)
    env = _judge_env(llm_server, EVAL_JUDGE_CONCURRENCY="4")
    log = _log()
    worker = start_worker(env, log)
    try:
        assert run_sweep(env)["enqueued"] == 1
        wait_until(
            lambda: BackfillJob.objects.get(pk=job.pk).status == "waiting",
            timeout=90,
            message="the capped backfill did not stop to wait",
        )
        job.refresh_from_db()
        next_hour = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        assert (job.done, job.resume_at, job.lease_owner, job.attempts) == (2, next_hour, "", 0)
        page = client_for(lead).get(f"/evaluators/backfills/{job.id}/").content.decode()
        assert "Waiting for the hourly cap" in page and "50%" in page
        when = timezone.localtime(next_hour).strftime("%H:%M")
        assert "Continues at <time datetime=" in page and f">{when}</time>" in page
        assert "cap of 2 judge calls an hour is used up" in page

        # long past its lease, with every message taken for lost: still just waiting
        time.sleep(1.5)
        report = run_sweep({**env, "JOB_LEASE_S": "1", "JOB_RESEND_AFTER_S": "0"})
        assert report == dict.fromkeys(report, 0)
        # a message before its time (a duplicate, a manual send) does nothing
        assert services.backfill_job_run(job_id=job.id).status == "waiting"
        job.refresh_from_db()
        assert (job.status, job.done, job.attempts) == ("waiting", 2, 0)
        assert sum(_judged(llm_server).values()) == 2

        # the hour has passed: this hour's calls are last hour's, and resume_at is due
        JudgeUsage.objects.filter(evaluator=judge).update(hour=F("hour") - timedelta(hours=1))
        BackfillJob.objects.filter(pk=job.pk).update(resume_at=F("resume_at") - timedelta(hours=1))
        assert run_sweep(env)["enqueued"] == 1
        wait_until(
            lambda: BackfillJob.objects.get(pk=job.pk).status == "done",
            timeout=90,
            message="the backfill did not continue when due",
        )
    finally:
        stop_process(worker)
        log.close()
    job.refresh_from_db()
    assert (job.done, job.total, job.resume_at, job.job_note) == (4, 4, None, "")
    assert _scored_once(job)
    assert _judged(llm_server) == {f"Q{i}?": 1 for i in range(4)}
    page = client_for(lead).get(f"/evaluators/backfills/{job.id}/").content.decode()
    assert "100%" in page and "Continues at" not in page


@pytest.mark.django_db
def test_two_messages_for_one_backfill_run_it_once(lead, log_turn, settings):
    from evaluation.models import Evaluator

    for i in range(3):
        log_turn(f"Q{i}?", SUPPORTED)
    services.builtin_evaluators_ensure()
    groundedness = Evaluator.objects.get(builtin="groundedness")
    job = services.backfill_job_create(evaluator=groundedness, actor=lead, enqueue=False)
    first = jobs.job_claim(BackfillJob, job.id)  # the first message's run holds the job
    assert first is not None
    second = services.backfill_job_run(job_id=job.id)  # the second message
    assert (second.status, second.done, second.attempts) == ("running", 0, 1)
    assert not Score.objects.filter(evaluator_version=job.evaluator_version).exists()

    # the first run's worker died: the sweeper re-queues the job, the new message runs it
    BackfillJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.JOB_LEASE_S * 10)
    )
    assert jobs.job_sweep()["requeued"] == 1
    done = services.backfill_job_run(job_id=job.id)
    assert (done.status, done.done, done.total, done.attempts) == ("done", 3, 3, 2)
    assert services.backfill_job_run(job_id=job.id).attempts == 2  # a late one: nothing to do
    with pytest.raises(jobs.LeaseLost):  # the first run woke up: it may not write any more
        jobs.job_heartbeat(first, done=0)
    assert BackfillJob.objects.get(pk=job.pk).done == 3
