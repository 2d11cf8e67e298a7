"""The real Celery worker drains the outbox after a committed change."""

from __future__ import annotations

import pytest
from neomodel import db

from outbox.models import OutboxEntry
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
