"""Two Celery workers drain one outbox at the same time: every change reaches the graph
exactly once. Needs PostgreSQL and Redis (SQLite and the filesystem broker serialise
too much to make two workers overlap): skipped when DATABASE_URL / REDIS_URL are unset."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from neomodel import db

from chat.services import interactions_ingest
from graph.reconcile import check
from outbox.models import OutboxEntry
from reviewhub.celery import app
from tests.conftest import start_worker, stop_process, wait_until, worker_env

pytestmark = [
    pytest.mark.skipif(
        not (
            os.environ.get("DATABASE_URL", "").startswith("postgres")
            and os.environ.get("REDIS_URL")
        ),
        reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]

TURNS = 3000  # six drain batches of 500: enough for both workers to take some


def test_two_workers_drain_concurrently_and_every_row_lands_once(
    roles_seeded, clean_graph, celery_worker, end_user
):
    log = open(Path(tempfile.gettempdir()) / f"rh-worker2-{settings.TEST_RUN_ID}.log", "w+")
    # The second worker takes its own queue, so a drain can be handed to each worker at the
    # same moment (on the shared queue either worker could take both, one after the other).
    own_queue = f"{settings.CELERY_QUEUE}-second"
    second = start_worker(
        worker_env(REVIEWHUB_QUEUE=own_queue),
        log,
        args=("-n", f"worker2-{settings.TEST_RUN_ID}@%h"),
    )
    try:
        # Shared neighbours make the workers' writes collide: 20 sources (external
        # Document nodes) and one conversation per 10 turns (FIRST/NEXT chains).
        items = [
            {
                "question": f"question {i}",
                "answer": f"answer {i}",
                "model": "m1",
                "conversation_id": f"conv-{i // 10}",
                "context": [{"text": f"passage {i % 50}", "source": f"src-{i % 20}", "score": 0.5}],
            }
            for i in range(TURNS)
        ]
        wait_until(lambda: "ready." in _read(log), timeout=120, message="worker2 did not start")
        # One commit: its coalesced drain is due DRAIN_DELAY_S later; meanwhile each worker
        # is handed a drain now, and the rows take both longer than that to write.
        with transaction.atomic():
            for start in range(0, TURNS, 1000):
                interactions_ingest(user=end_user, items=items[start : start + 1000])
        app.send_task("graph.tasks.drain_outbox", queue=own_queue)
        app.send_task("graph.tasks.drain_outbox")

        wait_until(
            lambda: not OutboxEntry.objects.filter(synced_at=None).exists(),
            timeout=600,
            interval=1,
            message="the workers did not drain the outbox",
        )
        rows, _ = db.cypher_query("MATCH (m:Message) RETURN count(m), count(DISTINCT m.uid)")
        assert rows == [[2 * TURNS, 2 * TURNS]]
        report = check()  # ids per label, edge counts per type, context edges one by one
        assert report.ok, report.differences()
        assert not OutboxEntry.objects.filter(quarantined_at__isnull=False).exists()
        # The second worker took part: it synced rows, or it met the first one's writes
        # (the embedded server refuses two transactions changing one node: its drain
        # released its rows and was retried). And once nothing was left for it, it stopped
        # (it used to run an empty drain every few milliseconds while the other finished).
        wait_until(
            lambda: "succeeded" in _read(log), timeout=60, message="worker2's drain did not end"
        )
        text = _read(log)
        drains = re.findall(r"drain_outbox\[[^\]]+\] succeeded in [\d.]+s: (\d+)", text)
        assert any(int(n) for n in drains) or "retry: Retry in" in text, text[-2000:]
        assert len(drains) <= 6, drains  # its drain, and one more per conflict of the other's
    finally:
        stop_process(second)
        log.close()


def _read(log) -> str:
    log.flush()
    with open(log.name) as f:
        return f.read()
