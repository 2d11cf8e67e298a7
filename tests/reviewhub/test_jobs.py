"""Background jobs recover by themselves: the lease, the claim and the sweeper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chat import services as chat_services
from datasets import selectors, services
from datasets.models import Release
from experiments.models import Experiment
from reviewhub import jobs
from tests.conftest import (
    ROOT,
    free_port,
    run_sweep,
    start_worker,
    stop_process,
    wait_until,
    worker_env,
)
from tests.factories import make_examples

pytestmark = pytest.mark.usefixtures("role_groups_restored")


# Run inside the worker before Celery starts: the first finished export file's move into
# place blocks (its temporary file is on disk), so the test can SIGKILL the worker there.
BLOCK_IN_EXPORT = """
import os, time
_real_replace = os.replace
def _blocking_replace(src, dst):
    if str(src).endswith(".tmp"):
        open(os.environ["RH_BLOCK_MARKER"], "w").write(str(dst))
        time.sleep(600)
    return _real_replace(src, dst)
os.replace = _blocking_replace
"""


def _temp_files(release: Release) -> list[Path]:
    folder = selectors.release_folder(release)
    return sorted(folder.glob(".*.tmp")) if folder.exists() else []


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_build_is_recovered_by_the_sweeper(lead, graph_server, tmp_path):
    make_examples(lead, 30)
    release = services.release_create(
        user=lead, name="killed", version=1, filters={}, formats=["openai_chat"], seed=3
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    # its own queue, so no other worker of this test session takes the build
    env = worker_env(REVIEWHUB_QUEUE=f"kill-{uuid.uuid4().hex[:8]}", JOB_LEASE_S="1")
    marker = tmp_path / "blocked"
    log = open(Path(tempfile.gettempdir()) / f"rh-killed-worker-{os.getpid()}.log", "w")
    doomed = start_worker({**env, "RH_BLOCK_MARKER": str(marker)}, log, prelude=BLOCK_IN_EXPORT)
    try:
        assert run_sweep(env)["enqueued"] == 1  # waiting for a worker → sent
        wait_until(lambda: marker.exists() or doomed.poll() is not None, timeout=90)
        assert doomed.poll() is None, "the worker exited before it was killed"
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    release.refresh_from_db()
    assert release.state == "building" and release.attempts == 1 and release.lease_owner
    assert _temp_files(release), "the killed build left no temporary file to clean"

    time.sleep(1.5)  # the dead run's heartbeat is now older than its lease (1 s here)
    report = run_sweep(env)
    assert report["requeued"] == 1 and report["temp_files_removed"] >= 1
    assert not _temp_files(release)
    release.refresh_from_db()
    assert "stopped responding" in release.job_note and "attempt 2 of 3" in release.job_note

    healthy = start_worker(env, log)
    try:
        wait_until(
            lambda: Release.objects.get(id=release.id).state != "building",
            timeout=90,
            message="the re-queued build did not finish",
        )
    finally:
        stop_process(healthy)
        log.close()
    release.refresh_from_db()
    assert release.state == "built", release.error
    assert release.attempts == 2 and release.progress_percent == 100
    folder = selectors.release_folder(release)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f["name"] for f in release.manifest["files"]
    )


@pytest.mark.django_db
def test_a_build_that_keeps_losing_its_worker_fails_with_the_reason_shown(
    lead, client_for, settings
):
    make_examples(lead, 12)
    release = services.release_create(
        user=lead, name="doomed", version=1, filters={}, formats=["openai_chat"]
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    folder = selectors.release_folder(release)
    for attempt in range(1, 4):
        claimed = jobs.job_claim(Release, release.id)
        assert claimed is not None and claimed.attempts == attempt
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f".train.openai_chat.jsonl.{attempt}.tmp").write_text("{")
        Release.objects.filter(id=release.id).update(  # the worker died: no more heartbeats
            heartbeat_at=timezone.now() - timedelta(seconds=settings.JOB_LEASE_S + 5)
        )
        report = jobs.job_sweep()
        assert report["temp_files_removed"] == 1 and not _temp_files(release)
    assert report["failed"] == 1 and report["requeued"] == 0
    release.refresh_from_db()
    assert release.state == "failed" and "stopped responding" in release.error
    page = client_for(lead).get(reverse("datasets:detail", args=[release.id])).content.decode()
    assert "The build failed" in page and "stopped responding" in page and "Build again" in page


@pytest.mark.django_db
def test_a_job_is_claimed_by_one_run_only_and_a_run_that_lost_it_stops(lead, settings):
    make_examples(lead, 12)
    release = services.release_create(
        user=lead, name="cas", version=1, filters={}, formats=["openai_chat"]
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    first = jobs.job_claim(Release, release.id)
    assert first is not None
    assert jobs.job_claim(Release, release.id) is None  # a duplicate message does nothing
    services.release_build(release_id=release.id)  # nor does a whole duplicate task
    assert Release.objects.get(id=release.id).state == "building"

    Release.objects.filter(id=release.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.JOB_LEASE_S + 5)
    )
    assert jobs.job_sweep()["requeued"] == 1
    second = jobs.job_claim(Release, release.id)
    assert second is not None and second.lease_owner != first.lease_owner
    with pytest.raises(jobs.LeaseLost):  # the first run woke up: it may not write any more
        jobs.job_heartbeat(first, progress_stage="zombie")
    services.release_build(release_id=release.id)  # a third message: the second run holds it
    assert Release.objects.get(id=release.id).progress_stage != "zombie"


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_unreachable_replay_and_release_creation_are_saved_and_wait(
    lead, expert, end_user, client_for, celery_worker
):
    make_examples(lead, 12)
    conversation = chat_services.conversation_create(user=end_user)
    turn = chat_services.chat_ask(
        conversation=conversation, user=end_user, question="How do I restore?", grounded=False
    )
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    out = subprocess.run(
        [sys.executable, "bench/broker_down_writes.py"]
        + [lead.username, expert.username, end_user.username, str(turn.id)],
        cwd=ROOT,
        env=worker_env(REDIS_URL=dead_broker),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["release"]["status"] == 302 and figures["replay"]["status"] == 302
    assert {w["status"] for w in figures["writes"]} == {302}
    # once the outage is known an enqueue is refused at once, not after a timeout
    assert figures["breaker_open"] and figures["refused_enqueue_ms"] < 5

    release = Release.objects.get(name__startswith="outage-")
    replay = Experiment.objects.get(created_by=expert)  # a replay is an experiment
    for job in (release, replay):
        assert job.waiting_for_worker and "unreachable" in job.job_note
    client = client_for(lead)
    page = client.get(reverse("datasets:detail", args=[release.id])).content.decode()
    assert "Waiting for a worker" in page
    assert "waiting for a worker" in client.get(reverse("datasets:list")).content.decode()
    client.force_login(expert)
    page = client.get(reverse("experiments:compare", args=[replay.id])).content.decode()
    assert "Waiting for a worker" in page
    assert "waiting for a worker" in client.get(reverse("experiments:replay_new")).content.decode()

    # the broker is back (this process reaches it): the sweeper sends both, a worker runs them
    assert jobs.job_sweep()["enqueued"] == 2
    wait_until(
        lambda: (
            Release.objects.get(id=release.id).state == "built"
            and Experiment.objects.get(id=replay.id).status == "done"
        ),
        timeout=90,
        message="the jobs sent by the sweeper did not finish",
    )


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_given_back_runs_again_once_by_its_retry_or_else_by_the_sweeper(
    lead, settings
):
    make_examples(lead, 12)
    release = services.release_create(
        user=lead, name="back", version=1, filters={}, formats=["openai_chat"]
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    long_ago = timezone.now() - timedelta(seconds=settings.JOB_RESEND_AFTER_S + 60)
    Release.objects.filter(id=release.id).update(queued_at=long_ago)  # a long build
    run = jobs.job_claim(Release, release.id)
    # it failed; the task's retry brings the next message: not taken for a lost one
    assert jobs.job_give_back(run, retried=True, progress_stage="stopped")
    assert not jobs.job_give_back(run, retried=True)  # no longer held: nothing written
    swept = jobs.job_sweep()
    assert swept["resent"] == 0 and swept["enqueued"] == 0
    release.refresh_from_db()
    assert release.lease_owner == "" and release.progress_stage == "stopped"
    assert "Re-sent" not in release.job_note

    # a run nothing retries waits for the sweeper (which sends such rows: the broker test
    # above; not here, where a worker left running by another test would build it)
    run = jobs.job_claim(Release, release.id)
    assert jobs.job_give_back(run, retried=False, job_note="Will try again: boom")
    release.refresh_from_db()
    assert release.waiting_for_worker and release.job_note == "Will try again: boom"
