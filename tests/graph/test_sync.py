from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from neo4j.exceptions import ServiceUnavailable
from neomodel import db

from chat.openapi import MAX_TEXT
from graph.drain import claim, drain
from graph.projection import external_ids
from graph.reconcile import check, rebuild, reconcile
from outbox import services as outbox
from outbox.models import OutboxEntry
from reviewhub.graphdb import configure
from tests import factories as f
from tests.graph.conftest import counts

pytestmark = pytest.mark.django_db


def build_world(end_user, other_user, expert):
    doc = f.document("Refunds", chunks=3)
    unused = f.document("Unused", chunks=1)
    c1, c2, _ = doc.chunks.order_by("index")
    billing = f.topic("Billing", ["refund", "invoice"])
    conv = f.conversation(end_user)
    t1 = f.turn(
        conv, question="How do refunds work?", contexts=[(c1, 0.9), (c2, 0.4)], topic=billing
    )
    t2 = f.turn(conv, question="And invoices?", contexts=[(None, 0.2, "api passage", "crm")])
    t3 = f.turn(conv, question="Thanks", grounded=False)
    replay = f.turn(
        f.conversation(expert), question=t1.question, contexts=[(c1, 0.8)], replay_of=t1
    )
    f.feedback(t1, end_user, "down")
    f.feedback(t2, end_user, "up")
    f.feedback(replay, other_user, "down")
    ex = f.example(t2, approver=expert)
    return {
        "doc": doc,
        "unused": unused,
        "conv": conv,
        "turns": [t1, t2, t3],
        "replay": replay,
        "example": ex,
        "topic": billing,
    }


def test_drain_twice_gives_the_same_graph(clean_graph, end_user, other_user, expert):
    w = build_world(end_user, other_user, expert)
    assert drain() == OutboxEntry.objects.count()
    assert OutboxEntry.objects.filter(synced_at=None).count() == 0
    first = counts()
    assert first[0]["Message"] == 8 and first[0]["Chunk"] == 5  # 4 kb chunks + 1 external
    assert first[1]["HAS_CONTEXT"] == 4 and first[1]["FIRST"] == 2
    # conversation chain: q1→a1→q2→a2→q3→a3 (5) + replay q→a (1)
    assert first[1]["NEXT"] == 6
    assert check().ok, check().differences()

    OutboxEntry.objects.update(synced_at=None)  # every change delivered twice
    drain()
    assert counts() == first
    rebuild()  # and the rebuild path writes the same graph
    assert counts() == first
    t1 = w["turns"][0]
    rows, _ = db.cypher_query(
        "MATCH (q:Message {uid: $q})-[:NEXT]->(a:Message {uid: $a})-[r:HAS_CONTEXT]->(c:Chunk) "
        "RETURN r.rank, r.score, c.uid ORDER BY r.rank",
        {"q": str(t1.question_uid), "a": str(t1.id)},
    )
    chunks = list(w["doc"].chunks.order_by("index"))
    assert rows == [[1, 0.9, str(chunks[0].id)], [2, 0.4, str(chunks[1].id)]]


def test_passage_without_chunk_is_keyed_by_its_source_and_text(clean_graph, end_user):
    conv = f.conversation(end_user)
    f.turn(conv, contexts=[(None, 0.5, "same text", "crm")])
    f.turn(conv, contexts=[(None, 0.7, "same text", "crm")])
    drain()
    doc_uid, chunk_uid = external_ids("crm", "same text")
    rows, _ = db.cypher_query(
        "MATCH (d:Document {uid: $d, external: true})-[:HAS_CHUNK]->(c:Chunk {uid: $c}) "
        "RETURN COUNT { (c)<-[:HAS_CONTEXT]-() }",
        {"d": doc_uid, "c": chunk_uid},
    )
    assert rows == [[2]]
    assert check().ok


def test_changes_and_deletions_follow_sql(clean_graph, end_user, other_user, expert):
    from chat.services import turn_topics_refresh

    w = build_world(end_user, other_user, expert)
    drain()
    t1, t2, t3 = w["turns"]
    ex_id = w["example"].id
    w["example"].delete()
    outbox.record("example", [ex_id])
    t2_id = t2.id
    t2.delete()  # the middle turn goes: the chain must close over the gap
    outbox.record("turn", [t2_id, "not-a-uuid"])
    w["doc"].chunks.filter(index=2).delete()
    outbox.record("document", [w["doc"].id])
    t1.topic_memberships.all().delete()  # no longer about its topic
    turn_topics_refresh(turn_ids=[t1.id])
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (:Message {uid: $a})-[:NEXT]->(q:Message) RETURN q.uid", {"a": str(t1.id)}
    )
    assert rows == [[str(t3.question_uid)]]
    rows, _ = db.cypher_query("MATCH (m:Message {turn_uid: $t}) RETURN count(m)", {"t": str(t2_id)})
    assert rows == [[0]]
    rows, _ = db.cypher_query("MATCH ()-[r:ABOUT]->() RETURN count(r)")
    assert rows == [[0]]


def test_failed_write_keeps_rows_and_counts_attempts(clean_graph, end_user, settings):
    conv = f.conversation(end_user)
    f.turn(conv)
    good_url = settings.NEO4J_URL
    configure("bolt://root:x@127.0.0.1:1/reviewhub")  # nothing listens there
    try:
        with pytest.raises(ServiceUnavailable):
            drain()
    finally:
        configure(good_url)
    pending = OutboxEntry.objects.filter(synced_at=None)
    assert pending.count() == 2
    assert all(r.attempts == 1 and r.last_error and not r.claim for r in pending)
    assert drain() == 2
    assert check().ok


def test_claim_skips_rows_another_drain_holds(clean_graph, end_user):
    conv = f.conversation(end_user)
    t = f.turn(conv)
    outbox.record("turn", [t.id])  # a second change to the same turn
    token, rows = claim(1)
    assert [r[1:] for r in rows] == [("conversation", str(conv.id))]
    token2, rows2 = claim(10)
    assert [r[1:] for r in rows2] == [("turn", str(t.id))] * 2
    token3, rows3 = claim(10)
    assert rows3 == []  # everything is held by the two claims above


def test_reconcile_finds_and_fixes_an_injected_difference(
    clean_graph, end_user, other_user, expert
):
    w = build_world(end_user, other_user, expert)
    drain()
    t1 = w["turns"][0]
    db.cypher_query("MATCH (m:Message {uid: $a}) DETACH DELETE m", {"a": str(t1.id)})
    db.cypher_query("CREATE (:Feedback {uid: 'ghost', rating: 'down'})")
    db.cypher_query(
        "MATCH (c:Conversation {uid: $c})-[:FIRST]->(m) CREATE (c)-[:FIRST]->(m)",
        {"c": str(w["conv"].id)},
    )
    report = check()
    assert not report.ok
    assert report.labels["Message"].missing == [str(t1.id)]
    assert report.labels["Feedback"].extra == ["ghost"]
    assert report.rels["FIRST"] == (2, 3)
    with pytest.raises(CommandError):
        call_command("graph_check")
    reconcile(fix=True)
    assert check().ok, check().differences()
    call_command("graph_check")  # no differences: exits cleanly


def test_graph_rebuild_command_from_an_empty_graph(clean_graph, end_user, other_user, expert):
    build_world(end_user, other_user, expert)
    call_command("graph_rebuild", "--clean")
    assert check().ok, check().differences()


def test_graph_install_twice_keeps_one_of_each_constraint_and_they_hold(clean_graph):
    from neomodel.exceptions import ConstraintValidationFailed

    from graph.nodes import User

    call_command("graph_install")
    call_command("graph_install")
    rows, _ = db.cypher_query("SHOW CONSTRAINTS")
    names = [r[1] for r in rows]
    assert {"unique_Message_uid", "unique_Chunk_uid", "unique_Release_uid"} <= set(names)
    assert len(names) == len(set(names))
    User(uid="dup", username="one").save()  # the neomodel path the benchmark compares with
    with pytest.raises(ConstraintValidationFailed):
        User(uid="dup", username="two").save()
    assert User.nodes.get(uid="dup").username == "one"


def test_rows_that_failed_before_go_after_fresh_ones(clean_graph, end_user):
    conv = f.conversation(end_user)
    OutboxEntry.objects.filter(entity="conversation").update(attempts=3)
    t = f.turn(conv)
    token, rows = claim(1)
    assert [r[1:] for r in rows] == [("turn", str(t.id))]


def test_replacing_a_documents_chunks_keeps_the_answers_context(clean_graph, end_user):
    from chat.models import TurnContext

    doc = f.document("Refunds", chunks=2)
    t = f.turn(f.conversation(end_user), contexts=[(doc.chunks.get(index=0), 0.9)])
    drain()
    doc.chunks.all().delete()  # re-ingested: new chunks; the turn keeps its snapshot
    assert TurnContext.objects.get(turn=t).chunk is None
    outbox.record("document", [doc.id])
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (:Message {uid: $a})-[:HAS_CONTEXT]->(c:Chunk) RETURN c.external", {"a": str(t.id)}
    )
    assert rows == [[True]]


def test_turns_written_in_many_steps_give_the_same_graph(
    clean_graph, end_user, other_user, expert, monkeypatch
):
    """A sync cut into steps (conversations and a replay and its original falling in
    different steps) writes what one step writes, and times are the logged instants."""
    from chat.models import Turn
    from graph import cypher, projection

    w = build_world(end_user, other_user, expert)
    for i in range(4):  # a longer conversation, so chains cross steps
        f.turn(w["conv"], question=f"follow-up {i}", days_ago=i)
    drain()
    whole = counts()
    assert check().ok

    cypher.wipe()
    monkeypatch.setattr(projection, "TURN_STEP", 1)
    rebuild()
    assert counts() == whole
    assert check().ok, check().differences()
    t = Turn.objects.get(question="follow-up 3")
    rows, _ = db.cypher_query(
        "MATCH (q:Message {uid: $q})-[:NEXT]->(a:Message {uid: $a}) "
        "RETURN q.created_at, a.created_at",
        {"q": str(t.question_uid), "a": str(t.id)},
    )
    assert [v.to_native() for v in rows[0]] == [t.created_at, t.completed_at]


def test_a_failed_graph_write_stops_the_writes_queued_after_it(clean_graph):
    from neo4j.exceptions import Neo4jError

    from graph.cypher import Pipeline

    with pytest.raises(Neo4jError), Pipeline() as pipe:
        pipe.write("UNWIND $rows AS row CREATE (:Topic {uid: row})", ["t1"])
        pipe.write("UNWIND $rows AS row THIS IS NOT CYPHER", ["t2"])
        pipe.write("UNWIND $rows AS row CREATE (:Topic {uid: row})", ["t3"])
    rows, _ = db.cypher_query("MATCH (t:Topic) RETURN t.uid")
    assert rows == [["t1"]]


def test_admin_edits_and_deletes_reach_the_graph(clean_graph, client, end_user):
    from django.contrib.auth.models import User

    topic = f.topic("Billing", ["refund"])
    t = f.turn(f.conversation(end_user), question="refund?", topic=topic)
    drain()
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    response = client.post(
        f"/admin/chat/topic/{topic.pk}/change/",
        {"name": "Payments", "keywords": '["refund", "card"]'},
    )
    assert response.status_code == 302
    response = client.post(f"/admin/chat/turn/{t.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    drain()
    rows, _ = db.cypher_query("MATCH (t:Topic {uid: $uid}) RETURN t.name", {"uid": str(topic.pk)})
    assert rows == [["Payments"]]
    rows, _ = db.cypher_query("MATCH (m:Message) RETURN count(m)")
    assert rows == [[0]]
    assert check().ok, check().differences()


def test_a_turn_brings_the_chunks_it_used_when_the_graph_lacks_them(clean_graph, end_user):
    from graph.projection import sync

    doc = f.document("Refunds", chunks=2)
    c1, c2 = doc.chunks.order_by("index")
    t = f.turn(f.conversation(end_user), contexts=[(c1, 0.9), (c2, 0.5)])
    sync("turn", [t.id])  # before the document's own outbox row is drained
    rows, _ = db.cypher_query(
        "MATCH (:Message {uid: $a})-[r:HAS_CONTEXT]->(c:Chunk)"
        "<-[:HAS_CHUNK]-(d:Document) RETURN r.rank, c.uid, d.title "
        "ORDER BY r.rank",
        {"a": str(t.id)},
    )
    assert rows == [[1, str(c1.id), "Refunds"], [2, str(c2.id), "Refunds"]]


def test_check_compares_lineage_edges_edge_by_edge(clean_graph, end_user, other_user, expert):
    """Counts alone miss an answer linked to the wrong passage or a rating flipped in the
    graph; graph_check names them and --fix rewrites them."""
    w = build_world(end_user, other_user, expert)
    drain()
    t1 = w["turns"][0]
    unused = w["unused"].chunks.get()
    db.cypher_query(
        "MATCH (a:Message {uid: $a})-[r:HAS_CONTEXT {rank: 2}]->() DELETE r "
        "WITH DISTINCT a MATCH (c:Chunk {uid: $c}) "
        "CREATE (a)-[:HAS_CONTEXT {rank: 2, score: 0.4}]->(c)",
        {"a": str(t1.id), "c": str(unused.id)},
    )
    rows, _ = db.cypher_query(
        "MATCH (f:Feedback)-[:RATES]->(:Message {uid: $a}) SET f.rating = 'up' RETURN f.uid",
        {"a": str(t1.id)},
    )
    report = check()
    assert report.rels["HAS_CONTEXT"][0] == report.rels["HAS_CONTEXT"][1]  # counts agree
    assert report.links["HAS_CONTEXT"] == [str(t1.id)]
    assert report.links["RATES"] == [rows[0][0]]
    with pytest.raises(CommandError):
        call_command("graph_check")
    call_command("graph_check", "--fix")
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (:Message {uid: $a})-[r:HAS_CONTEXT]->(c) RETURN r.rank, c.uid ORDER BY r.rank",
        {"a": str(t1.id)},
    )
    chunks = list(w["doc"].chunks.order_by("index"))
    assert rows == [[1, str(chunks[0].id)], [2, str(chunks[1].id)]]
    rows, _ = db.cypher_query(
        "MATCH (f:Feedback)-[:RATES]->(:Message {uid: $a}) RETURN f.rating", {"a": str(t1.id)}
    )
    assert rows == [["down"]]  # as SQL has it (build_world rates t1 down)


def test_feedback_synced_before_its_turn_leaves_one_answer(clean_graph, end_user):
    """Feedback that reaches the graph first makes a placeholder answer; the turn's own
    sync then finds it (the uniqueness constraint refuses a second one) and fills it in."""
    from graph.projection import sync

    doc = f.document("Refunds", chunks=1)
    t = f.turn(f.conversation(end_user), question="refund?", contexts=[(doc.chunks.get(), 0.9)])
    fb = f.feedback(t, end_user, "down")
    sync("feedback", [fb.id])
    rows, _ = db.cypher_query("MATCH (a:Message {uid: $a}) RETURN a.role, a.text", {"a": str(t.id)})
    assert rows == [["assistant", None]]  # the placeholder
    drain()
    rows, _ = db.cypher_query(
        "MATCH (:Feedback {uid: $f})-[:RATES]->(a:Message {uid: $a})-[:HAS_CONTEXT]->(:Chunk) "
        "MATCH (q:Message)-[:NEXT]->(a) RETURN count(DISTINCT a), a.text, q.text",
        {"f": str(fb.id), "a": str(t.id)},
    )
    assert rows == [[1, t.answer, "refund?"]]
    assert check().ok, check().differences()


def test_writes_queued_before_a_failure_surfaces_are_skipped_too(clean_graph):
    from neo4j.exceptions import Neo4jError

    from graph.cypher import Pipeline

    with pytest.raises(Neo4jError), Pipeline() as pipe:  # the end of the block says so too
        pipe.write("UNWIND $rows AS row THIS IS NOT CYPHER", ["t1"])
        for i in range(5):  # queued while the failure may not be known yet
            pipe.write("UNWIND $rows AS row CREATE (:Topic {uid: row})", [f"t{i}"])
        with pytest.raises(Neo4jError):
            pipe.flush()
        with pytest.raises(Neo4jError):  # and every later call
            pipe.write("UNWIND $rows AS row CREATE (:Topic {uid: row})", ["late"])
    rows, _ = db.cypher_query("MATCH (t:Topic) RETURN count(t)")
    assert rows == [[0]]


def test_the_longest_question_and_answer_the_api_takes_reach_the_graph_whole(clean_graph, end_user):
    # MAX_TEXT characters each, 3 bytes each in UTF-8: a node several times the graph
    # server's page (64 KB), beside a short turn that must not wait behind it.
    longest = "é€" * (MAX_TEXT // 2)
    conv = f.conversation(end_user)
    big = f.turn(conv, question="?" + longest[1:], answer=longest)
    small = f.turn(conv, question="And then?", answer="Done.")
    assert drain() == OutboxEntry.objects.count()
    assert OutboxEntry.objects.filter(synced_at=None).count() == 0
    rows, _ = db.cypher_query(
        "MATCH (m:Message) WHERE m.turn_uid IN $turns "
        "RETURN m.turn_uid, m.role, size(m.text) ORDER BY m.turn_uid, m.role",
        {"turns": [str(big.id), str(small.id)]},
    )
    expected = sorted(
        [
            [str(big.id), "assistant", MAX_TEXT],
            [str(big.id), "user", MAX_TEXT],
            [str(small.id), "assistant", len("Done.")],
            [str(small.id), "user", len("And then?")],
        ]
    )
    assert sorted(rows) == expected
    assert check().ok
