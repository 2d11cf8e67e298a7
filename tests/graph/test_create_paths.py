"""Nodes the drain finds missing are CREATEd (cheaper than MERGE); when one appeared in
the meantime (another drain, an earlier step of the same one), the result is still one
node with one edge of each kind, as after a MERGE."""

from __future__ import annotations

import pytest
from neomodel import db

from graph.drain import drain
from graph.reconcile import check
from outbox import services as outbox
from tests import factories as f

pytestmark = pytest.mark.django_db


def _count(query: str, **params) -> int:
    return db.cypher_query(query, params)[0][0][0]


def test_a_passage_written_meanwhile_is_merged_not_duplicated(clean_graph, end_user):
    from graph.projection import CREATE_CHUNKS, WRITE_CHUNKS, _create_or_merge, external_ids

    conv = f.conversation(end_user)
    f.turn(conv, contexts=[(None, 0.5, "first passage", "crm")])
    drain()
    doc, known = external_ids("crm", "first passage")
    _, new = external_ids("crm", "second passage")
    rows = [
        {"uid": uid, "doc": doc, "p": {"document_uid": doc, "text": text, "external": True}}
        for uid, text in ((new, "second passage"), (known, "first passage"))
    ]
    # As a drain does when both looked missing to it: the CREATE is refused for the known one.
    _create_or_merge(CREATE_CHUNKS, WRITE_CHUNKS, rows)
    for uid in (known, new):
        assert _count("MATCH (c:Chunk {uid: $c}) RETURN count(c)", c=uid) == 1
        assert (
            _count("MATCH (:Document)-[r:HAS_CHUNK]->(:Chunk {uid: $c}) RETURN count(r)", c=uid)
            == 1
        )


def test_a_conversation_written_meanwhile_keeps_one_node_and_one_started_edge(
    clean_graph, end_user
):
    from graph.projection import sync_conversations

    conv = f.conversation(end_user)
    f.turn(conv)
    drain()
    sync_conversations([conv.id], new=True)  # as if the drain had not seen it in the graph
    assert _count("MATCH (c:Conversation {uid: $c}) RETURN count(c)", c=str(conv.id)) == 1
    assert (
        _count(
            "MATCH (:User)-[r:STARTED]->(:Conversation {uid: $c}) RETURN count(r)", c=str(conv.id)
        )
        == 1
    )
    assert check().ok, check().differences()


def test_turns_from_the_api_with_shared_passages_sync_in_one_drain(clean_graph, end_user):
    """Many new conversations and passages at once, some passages used by several answers."""
    turns = [
        f.turn(
            f.conversation(end_user),
            contexts=[
                (None, 0.5, f"passage {i % 7}", "shared"),
                (None, 0.4, f"own {i}", "x"),
            ],
        )
        for i in range(30)
    ]
    drain()
    assert check().ok, check().differences()
    assert _count("MATCH (c:Conversation) RETURN count(c)") == 30
    assert _count("MATCH (c:Chunk) RETURN count(c)") == 7 + 30
    assert _count("MATCH (:Message)-[r:HAS_CONTEXT]->(:Chunk) RETURN count(r)") == 60
    assert _count("MATCH (d:Document) RETURN count(d)") == 2  # sources "shared" and "x"
    assert len(turns) == 30


def test_a_release_synced_again_keeps_one_includes_edge_per_example(clean_graph, end_user, lead):
    from datasets.models import Release, ReleaseItem

    release = Release.objects.create(name="r", formats=["openai_chat"], created_by=lead)
    for i in range(3):
        t = f.turn(f.conversation(end_user), question=f"q{i}")
        ReleaseItem.objects.create(
            release=release,
            example=f.example(t, approver=lead),
            position=i,
            split="train",
            question=t.question,
            answer=t.answer,
            original_answer=t.answer,
        )
    outbox.record("release", [release.id])
    drain()
    t = f.turn(f.conversation(end_user), question="later")
    ReleaseItem.objects.create(
        release=release,
        example=f.example(t, approver=lead),
        position=3,
        split="train",
        question=t.question,
        answer=t.answer,
        original_answer=t.answer,
    )
    outbox.record("release", [release.id])
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (:Release {uid: $r})-[i:INCLUDES]->(e:Example) RETURN count(i), count(DISTINCT e)",
        {"r": str(release.id)},
    )
    assert rows == [[4, 4]]


def test_passages_shared_by_turns_of_different_steps_are_one_node_with_their_text(
    clean_graph, end_user, monkeypatch
):
    """A drain writes turns in steps through a pipeline: a passage an earlier step created
    may still be queued when a later step needs it, and is not created twice. New nodes
    carry their properties (written in the CREATE itself)."""
    from graph.projection import external_ids

    monkeypatch.setattr("graph.projection.TURN_STEP", 10)  # steps of 2, then 10 turns
    convs = [f.conversation(end_user, title=f"chat {i}") for i in range(30)]
    for i, conv in enumerate(convs):
        f.turn(conv, contexts=[(None, 0.5, f"passage {i % 7}", "shared")])
    drain()
    assert check().ok, check().differences()
    assert _count("MATCH (c:Chunk) RETURN count(c)") == 7
    doc, chunk = external_ids("shared", "passage 3")
    rows, _ = db.cypher_query(
        "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk {uid: $c}) "
        "RETURN c.text, c.document_uid, c.external, d.uid",
        {"c": chunk},
    )
    assert rows == [["passage 3", doc, True, doc]]
    rows, _ = db.cypher_query(
        "MATCH (:User {uid: $u})-[:STARTED]->(c:Conversation {uid: $c}) "
        "RETURN c.title, c.created_at IS NOT NULL",
        {"u": str(end_user.pk), "c": str(convs[12].id)},
    )
    assert rows == [["chat 12", True]]
