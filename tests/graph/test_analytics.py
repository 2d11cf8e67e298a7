"""Each analytics query against a small hand-built graph with known answers."""

from __future__ import annotations

import pytest
from neomodel import db

from graph import analytics

# Two topics; five answers. a1 (billing) rated down and rejected, used chunk c1 (doc d1)
# with score 0.9; a2 (billing) rated up, used c1 and c2 (doc d1, d2) with best score 0.2;
# a3 (shipping) rated down, ungrounded; r3 is a grounded replay of a3, rated down;
# a4 (no topic) rated down then up (mixed → not negative), grounded with no context,
# r4 grounded replay of a4 rated down. d3 has chunk c3 nobody used.
GRAPH = """
CREATE (t1:Topic {uid: 't1', name: 'Billing'}), (t2:Topic {uid: 't2', name: 'Shipping'}),
  (d1:Document {uid: 'd1', title: 'Refunds', external: false}),
  (d2:Document {uid: 'd2', title: 'Invoices', external: false}),
  (d3:Document {uid: 'd3', title: 'Unused', external: false}),
  (c1:Chunk {uid: 'c1', index: 0, text: 'refund text'}), (c2:Chunk {uid: 'c2', index: 0}),
  (c3:Chunk {uid: 'c3', index: 0}),
  (d1)-[:HAS_CHUNK]->(c1), (d2)-[:HAS_CHUNK]->(c2), (d3)-[:HAS_CHUNK]->(c3),
  (q1:Message {uid: 'q1', role: 'user', text: 'refund?'}),
  (a1:Message {uid: 'a1', role: 'assistant', grounded: true, created_at: datetime('2026-11-01T10:00:00Z')}),
  (q2:Message {uid: 'q2', role: 'user', text: 'invoice?'}),
  (a2:Message {uid: 'a2', role: 'assistant', grounded: true, created_at: datetime('2026-11-02T10:00:00Z')}),
  (q3:Message {uid: 'q3', role: 'user', text: 'parcel?'}),
  (a3:Message {uid: 'a3', role: 'assistant', grounded: false, created_at: datetime('2026-11-03T10:00:00Z')}),
  (rq3:Message {uid: 'rq3', role: 'user', text: 'parcel?'}),
  (r3:Message {uid: 'r3', role: 'assistant', grounded: true, model: 'm2', created_at: datetime('2026-11-04T10:00:00Z')}),
  (q4:Message {uid: 'q4', role: 'user', text: 'other?'}),
  (a4:Message {uid: 'a4', role: 'assistant', grounded: true, created_at: datetime('2026-11-04T11:00:00Z')}),
  (r4:Message {uid: 'r4', role: 'assistant', grounded: true, created_at: datetime('2026-11-04T12:00:00Z')}),
  (q1)-[:NEXT]->(a1), (q2)-[:NEXT]->(a2), (q3)-[:NEXT]->(a3), (rq3)-[:NEXT]->(r3), (q4)-[:NEXT]->(a4),
  (q1)-[:ABOUT]->(t1), (q2)-[:ABOUT]->(t1), (q3)-[:ABOUT]->(t2),
  (a1)-[:HAS_CONTEXT {rank: 1, score: 0.9}]->(c1),
  (a2)-[:HAS_CONTEXT {rank: 1, score: 0.2}]->(c1), (a2)-[:HAS_CONTEXT {rank: 2, score: 0.1}]->(c2),
  (r3)-[:HAS_CONTEXT {rank: 1, score: 0.5}]->(c2),
  (r3)-[:REPLAY_OF]->(a3), (r4)-[:REPLAY_OF]->(a4),
  (:Feedback {uid: 'f1', rating: 'down', created_at: datetime('2026-11-01T12:00:00Z')})-[:RATES]->(a1),
  (:Feedback {uid: 'f2', rating: 'up', created_at: datetime('2026-11-02T12:00:00Z')})-[:RATES]->(a2),
  (:Feedback {uid: 'f3', rating: 'down', created_at: datetime('2026-11-03T12:00:00Z')})-[:RATES]->(a3),
  (:Feedback {uid: 'f4', rating: 'down', created_at: datetime('2026-11-04T13:00:00Z')})-[:RATES]->(r3),
  (:Feedback {uid: 'f5', rating: 'down', created_at: datetime('2026-11-04T13:00:00Z')})-[:RATES]->(a4),
  (:Feedback {uid: 'f6', rating: 'up', created_at: datetime('2026-11-04T14:00:00Z')})-[:RATES]->(a4),
  (:Feedback {uid: 'f7', rating: 'down', created_at: datetime('2026-11-04T15:00:00Z')})-[:RATES]->(r4),
  (:Review {uid: 'rv1', verdict: 'reject'})-[:REVIEWS]->(a1),
  (:Review {uid: 'rv2', verdict: 'approve'})-[:REVIEWS]->(a2)
"""  # noqa: E501


@pytest.fixture
def hand_built(clean_graph):
    db.cypher_query(GRAPH)


def test_ratings_over_time(hand_built):
    assert analytics.ratings_over_time() == [
        {"day": "2026-11-01", "up": 0, "down": 1},
        {"day": "2026-11-02", "up": 1, "down": 0},
        {"day": "2026-11-03", "up": 0, "down": 1},
        {"day": "2026-11-04", "up": 1, "down": 3},
    ]


def test_ratings_by_topic(hand_built):
    assert analytics.ratings_by_topic() == [
        {"topic": "(no topic)", "up": 1, "down": 3, "total": 4},
        {"topic": "Billing", "up": 1, "down": 1, "total": 2},
        {"topic": "Shipping", "up": 0, "down": 1, "total": 1},
    ]


def test_negative_after_grounded_replay(hand_built):
    rows = analytics.negative_after_grounded_replay()
    # a4 had an up vote too, so only a3 → r3 stayed negative
    assert [(r["turn"], r["replay"], r["question"]) for r in rows] == [("a3", "r3", "parcel?")]
    assert (rows[0]["o_down"], rows[0]["r_down"], rows[0]["o_score"]) == (True, True, None)


# Evaluator scores as well as thumbs: a5, unrated, scored low, and its grounded replay r5
# scored low too (an experiment's answer); a6 scored low but its replay r6 scored well; r7,
# the grounded replay of a thumbs-down a7, says "I don't know" (refusal 0) but is otherwise
# good — refusal is not a quality score; r8, the grounded replay of a thumbs-down a8, is
# rated up but scored low: a thumbs-up does not clear a low score.
SCORED = """
CREATE (q5:Message {uid: 'q5', role: 'user', text: 'customs?'}),
  (a5:Message {uid: 'a5', role: 'assistant', grounded: false, created_at: datetime('2026-11-05T10:00:00Z')}),
  (r5:Message {uid: 'r5', role: 'assistant', grounded: true, model: 'm3', created_at: datetime('2026-11-05T11:00:00Z')}),
  (a6:Message {uid: 'a6', role: 'assistant', grounded: false, created_at: datetime('2026-11-06T10:00:00Z')}),
  (r6:Message {uid: 'r6', role: 'assistant', grounded: true, created_at: datetime('2026-11-06T11:00:00Z')}),
  (a7:Message {uid: 'a7', role: 'assistant', grounded: false, created_at: datetime('2026-11-07T10:00:00Z')}),
  (r7:Message {uid: 'r7', role: 'assistant', grounded: true, created_at: datetime('2026-11-07T11:00:00Z')}),
  (a8:Message {uid: 'a8', role: 'assistant', grounded: false, created_at: datetime('2026-11-08T10:00:00Z')}),
  (r8:Message {uid: 'r8', role: 'assistant', grounded: true, created_at: datetime('2026-11-08T11:00:00Z')}),
  (q5)-[:NEXT]->(a5), (r5)-[:REPLAY_OF]->(a5), (r6)-[:REPLAY_OF]->(a6),
  (r7)-[:REPLAY_OF]->(a7), (r8)-[:REPLAY_OF]->(a8),
  (:Score {uid: 's1', criterion: 'groundedness', normalized: 0.2})-[:SCORES]->(a5),
  (:Score {uid: 's2', criterion: 'relevance', normalized: 0.9})-[:SCORES]->(a5),
  (:Score {uid: 's3', criterion: 'groundedness', normalized: 0.3})-[:SCORES]->(r5),
  (:Score {uid: 's4', criterion: 'groundedness', normalized: 0.1})-[:SCORES]->(a6),
  (:Score {uid: 's5', criterion: 'groundedness', normalized: 0.9})-[:SCORES]->(r6),
  (:Score {uid: 's6', criterion: 'refusal', normalized: 0.0})-[:SCORES]->(r7),
  (:Score {uid: 's7', criterion: 'groundedness', normalized: 0.8})-[:SCORES]->(r7),
  (:Score {uid: 's8', criterion: 'groundedness', normalized: 0.4})-[:SCORES]->(r8),
  (:Feedback {uid: 'f8', rating: 'down'})-[:RATES]->(a7),
  (:Feedback {uid: 'f9', rating: 'down'})-[:RATES]->(a8),
  (:Feedback {uid: 'f10', rating: 'up'})-[:RATES]->(r8)
"""  # noqa: E501


def test_stayed_negative_after_grounding_uses_scores_as_well_as_thumbs(hand_built):
    db.cypher_query(SCORED)
    rows = {r["turn"]: r for r in analytics.negative_after_grounded_replay()}
    assert set(rows) == {"a3", "a5", "a8"}
    assert rows["a5"]["replay"] == "r5" and rows["a5"]["question"] == "customs?"
    assert rows["a5"]["o_score"] == pytest.approx(0.2)  # the lowest quality score
    assert rows["a5"]["r_score"] == pytest.approx(0.3) and not rows["a5"]["r_down"]
    assert rows["a8"]["o_down"] and not rows["a8"]["r_down"]
    assert rows["a8"]["r_score"] == pytest.approx(0.4)
    # a stricter bar: only scores below 0.25 count as low
    assert {r["turn"] for r in analytics.negative_after_grounded_replay(low=0.25)} == {"a3"}


def test_chunks_and_documents_linked_to_bad_answers(hand_built):
    chunks = analytics.chunks_linked_to_bad_answers()
    # a1 (down + rejected) used c1; r3 (down) used c2; a2 (up, approved) does not count
    assert [(r["chunk"], r["bad_answers"]) for r in chunks] == [("c1", 1), ("c2", 1)]
    docs = analytics.documents_linked_to_bad_answers()
    assert [(r["title"], r["bad_answers"]) for r in docs] == [("Invoices", 1), ("Refunds", 1)]


def test_documents_never_used(hand_built):
    assert [(r["document"], r["chunks"]) for r in analytics.documents_never_used()] == [("d3", 1)]


def test_low_context_questions(hand_built):
    rows = analytics.low_context_questions(threshold=0.3)
    # a4: grounded, no context at all; a2: best 0.2. a1 (0.9) and r3 (0.5) are fine.
    assert [(r["turn"], r["best"], r["contexts"]) for r in rows] == [
        ("a4", None, 0),
        ("a2", 0.2, 2),
    ]


def test_every_query_is_empty_on_an_empty_graph(clean_graph):
    for fn in (
        analytics.ratings_over_time,
        analytics.ratings_by_topic,
        analytics.negative_after_grounded_replay,
        analytics.chunks_linked_to_bad_answers,
        analytics.documents_linked_to_bad_answers,
        analytics.documents_never_used,
        analytics.low_context_questions,
        analytics.recent_answers,
    ):
        assert fn() == []
