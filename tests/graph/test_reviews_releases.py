"""Reviews, corrections and release membership reach the graph, so it can answer
"which releases contain answers that used this chunk?"."""

from __future__ import annotations

import pytest
from neomodel import db

from graph.drain import drain
from graph.reconcile import check
from outbox import services as outbox
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_reviews_corrections_and_releases_are_synced(clean_graph, end_user, expert, lead):
    from annotations.models import QueueItem, Review, Rubric
    from datasets.models import Release, ReleaseItem

    doc = f.document("Refunds", chunks=1)
    chunk = doc.chunks.get()
    t = f.turn(f.conversation(end_user), contexts=[(chunk, 0.7)])
    rubric = Rubric.objects.create(name="default")
    item = QueueItem.objects.get(turn=t)  # the turn was queued when it was logged
    review = Review.objects.create(
        item=item,
        reviewer=expert,
        rubric=rubric,
        verdict="approve",
        scores={"accuracy": 4},
        corrected_answer="Better answer.",
    )
    plain = Review.objects.create(item=item, reviewer=lead, rubric=rubric, verdict="reject")
    outbox.record("review", [review.id, plain.id])
    ex = f.example(t, approver=lead)
    release = Release.objects.create(name="r", formats=["openai_chat"], created_by=lead)
    ReleaseItem.objects.create(
        release=release,
        example=ex,
        position=0,
        split="train",
        question=t.question,
        answer=t.answer,
        original_answer=t.answer,
    )
    outbox.record("release", [release.id])
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (c:Chunk {uid: $c})<-[:HAS_CONTEXT]-(a:Message)<-[:FROM]-(:Example)"
        "<-[:INCLUDES]-(r:Release) RETURN DISTINCT r.uid",
        {"c": str(chunk.id)},
    )
    assert rows == [[str(release.id)]]
    rows, _ = db.cypher_query(
        "MATCH (rv:Review)-[:REVIEWS]->(:Message {uid: $a}) "
        "OPTIONAL MATCH (rv)-[:CORRECTS_WITH]->(c:Correction) RETURN rv.verdict, c.text "
        "ORDER BY rv.verdict",
        {"a": str(t.id)},
    )
    assert rows == [["approve", "Better answer."], ["reject", None]]

    ReleaseItem.objects.all().delete()  # membership changes follow
    review.corrected_answer = ""
    review.save()
    outbox.record("release", [release.id])
    outbox.record("review", [review.id])
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query("MATCH ()-[r:INCLUDES|CORRECTS_WITH]->() RETURN count(r)")
    assert rows == [[0]]
