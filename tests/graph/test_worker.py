"""The real Celery worker drains the outbox after a committed change."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from neomodel import db

from graph.drain import claim
from outbox.models import OutboxEntry
from reviewhub.celery import app
from tests import factories as f
from tests.conftest import wait_until


@pytest.mark.django_db(transaction=True)
def test_worker_drains_the_outbox_after_commit(roles_seeded, clean_graph, celery_worker, end_user):
    conv = f.conversation(end_user)
    t = f.turn(conv, question="committed question")  # commit → drain_outbox.delay()

    def in_graph():
        rows, _ = db.cypher_query(
            "MATCH (:Conversation {uid: $c})-[:FIRST]->(q:Message)-[:NEXT]->(a:Message {uid: $a}) "
            "RETURN q.text",
            {"c": str(conv.id), "a": str(t.id)},
        )
        return rows

    assert wait_until(in_graph, timeout=60, message="the worker did not sync the turn")[0] == [
        "committed question"
    ]
    wait_until(lambda: not OutboxEntry.objects.filter(synced_at=None).exists(), timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_drain_leaves_rows_another_drain_holds_and_does_not_spin(
    roles_seeded, clean_graph, celery_worker, end_user
):
    """While another drain holds every pending row, a drain finds nothing to do and ends;
    it used to enqueue itself again at once, an empty drain every few milliseconds until
    the holder finished (or its lease ran out, 10 minutes after a crash)."""
    log = Path(tempfile.gettempdir()) / f"rh-worker-{settings.TEST_RUN_ID}.log"
    start = log.stat().st_size
    conv = f.conversation(end_user)
    t = f.turn(conv, question="held question")  # commit → a drain due in a second
    token, held = claim(batch_size=100)  # as a live drain elsewhere would
    assert {entity for _, entity, _ in held} >= {"turn"}

    def drains() -> list[str]:
        with open(log) as out:
            out.seek(start)
            return re.findall(r"drain_outbox\[[^\]]+\] succeeded in [\d.]+s: (\d+)", out.read())

    wait_until(drains, timeout=30, message="no drain ran")
    time.sleep(2)  # an enqueue-again loop runs hundreds of drains in this time
    # (the commits' drains, one or two, and any an earlier test left queued: a handful)
    ran = drains()
    assert set(ran) == {"0"} and len(ran) <= 5, ran

    # the holder lets go (as a failed drain does) and its retry drains them
    OutboxEntry.objects.filter(claim=token).update(claim="", claimed_until=None)
    app.send_task("graph.tasks.drain_outbox")
    wait_until(lambda: not OutboxEntry.objects.filter(synced_at=None).exists(), timeout=60)
    rows, _ = db.cypher_query("MATCH (m:Message {uid: $a}) RETURN m.text", {"a": str(t.id)})
    assert rows == [[t.answer]]
