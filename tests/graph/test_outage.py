"""A graph outage delays the graph and loses nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from neo4j.exceptions import ServiceUnavailable
from neomodel import db

from graph.drain import drain
from graph.reconcile import check
from graph.schema import install_schema
from outbox.models import OutboxEntry
from reviewhub.graphdb import configure
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_turns_and_examples_logged_while_the_graph_is_down_arrive_exactly_once(
    own_graph_server, end_user, expert, settings
):
    own_graph_server.start()
    configure(own_graph_server.url)
    install_schema()
    conv = f.conversation(end_user)
    before = f.turn(conv, question="before the outage")
    drain()

    own_graph_server.stop()
    doc = f.document("Refunds", chunks=2)
    during = [
        f.turn(conv, question=f"during {i}", contexts=[(doc.chunks.first(), 0.5)]) for i in range(5)
    ]
    examples = [f.example(t, approver=expert) for t in [before, *during[:3]]]
    f.feedback(during[0], end_user, "down")
    with pytest.raises(ServiceUnavailable):
        drain()
    pending = OutboxEntry.objects.filter(synced_at=None)
    assert pending.count() == 1 + 5 + 4 + 1 and all(r.attempts >= 1 for r in pending)

    own_graph_server.start()  # same ports, same data directory
    configure(own_graph_server.url)
    assert drain() == 11
    assert not OutboxEntry.objects.filter(synced_at=None).exists()
    report = check()
    assert report.ok, report.differences()
    rows, _ = db.cypher_query("MATCH (m:Message) RETURN m.uid, count(*) AS n ORDER BY n DESC")
    assert len(rows) == 12 and rows[0][1] == 1  # 6 turns × 2 messages, each exactly once
    rows, _ = db.cypher_query("MATCH (e:Example)-[:FROM]->(a:Message) RETURN e.uid, a.uid")
    assert sorted(rows) == sorted([str(e.id), str(e.turn_id)] for e in examples)
    settings.NEO4J_URL = own_graph_server.url
    call_command("graph_check")  # and the command agrees: no difference
