"""Analytics for leads: one portable Cypher query per function, over the graph only.

Definitions used throughout:
- an answer is *negatively rated* when it has at least one thumbs-down Feedback and no
  thumbs-up; it is *rejected* when a Review of it has verdict 'reject';
- an answer is *scored low* when its lowest quality score is below `LOW_SCORE`: its Score
  nodes' normalized (0–1) values, every criterion but 'refusal' (which says what kind of
  answer it is, not how good — as the experiments' quality does), the lowest as the review
  queue's priority takes it; *negative* is rated negatively or scored low;
- a *grounded replay* is an assistant message with `grounded = true` and a REPLAY_OF edge
  to the answer it replays;
- context *scored low* when the best HAS_CONTEXT score of the answer is below a threshold
  (or the answer was grounded but got no context at all).
"""

from __future__ import annotations

NEGATIVE = (
    "EXISTS { MATCH (:Feedback {rating: 'down'})-[:RATES]->(%(m)s) } "
    "AND NOT EXISTS { MATCH (:Feedback {rating: 'up'})-[:RATES]->(%(m)s) }"
)
REJECTED = "EXISTS { MATCH (:Review {verdict: 'reject'})-[:REVIEWS]->(%(m)s) }"
LOW_SCORE = 0.5
NOT_QUALITY = "refusal"


def _rows(query: str, **params) -> list[dict]:
    from neomodel import db  # the driver loads in the web with the first graph page

    rows, cols = db.cypher_query(query, params)
    return [dict(zip(cols, row, strict=True)) for row in rows]


def ratings_over_time() -> list[dict]:
    """Thumbs up/down per day the feedback was given."""
    return _rows(
        "MATCH (f:Feedback)-[:RATES]->(:Message) "
        "WITH toString(date(f.created_at)) AS day, f.rating AS rating "
        "RETURN day, sum(CASE WHEN rating = 'up' THEN 1 ELSE 0 END) AS up, "
        "sum(CASE WHEN rating = 'down' THEN 1 ELSE 0 END) AS down ORDER BY day"
    )


def ratings_by_topic() -> list[dict]:
    """Thumbs up/down per topic of the rated answer's question ('(no topic)' if none)."""
    return _rows(
        "MATCH (f:Feedback)-[:RATES]->(a:Message) "
        "OPTIONAL MATCH (q:Message {role: 'user'})-[:NEXT]->(a) "
        "OPTIONAL MATCH (q)-[:ABOUT]->(t:Topic) "
        "WITH coalesce(t.name, '(no topic)') AS topic, f.rating AS rating "
        "WITH topic, sum(CASE WHEN rating = 'up' THEN 1 ELSE 0 END) AS up, "
        "sum(CASE WHEN rating = 'down' THEN 1 ELSE 0 END) AS down "
        "RETURN topic, up, down, up + down AS total ORDER BY total DESC, topic"
    )


def negative_after_grounded_replay(low: float = LOW_SCORE) -> list[dict]:
    """Negative answers (rated down, or scored low by the evaluators) whose grounded replay
    was negative too — a replay's or an experiment arm's answer alike. Each row says why:
    the thumbs (`*_down`) and the lowest quality score (`*_score`, None when unscored)."""
    return _rows(
        "MATCH (r:Message {role: 'assistant'})-[:REPLAY_OF]->(o:Message) "
        "WHERE r.grounded = true "
        + _lowest_score("o", "o_score", "r, o")
        + _lowest_score("r", "r_score", "r, o, o_score")
        + "WITH r, o, o_score, r_score, "
        + "CASE WHEN "
        + NEGATIVE % {"m": "o"}
        + " THEN true ELSE false END AS o_down, CASE WHEN "
        + NEGATIVE % {"m": "r"}
        + " THEN true ELSE false END AS r_down "
        "WHERE (o_down OR coalesce(o_score < $low, false)) "
        "AND (r_down OR coalesce(r_score < $low, false)) "
        "OPTIONAL MATCH (q:Message {role: 'user'})-[:NEXT]->(o) "
        "RETURN o.uid AS turn, r.uid AS replay, q.text AS question, r.model AS replay_model, "
        "o_down, r_down, o_score, r_score "
        "ORDER BY o.created_at DESC, o.uid, r.uid",
        low=low,
    )


def _lowest_score(message: str, name: str, keep: str) -> str:
    """Cypher: the message's lowest normalized quality score as `name` (None if unscored)."""
    s = f"{message}_s"
    return (
        f"OPTIONAL MATCH ({s}:Score)-[:SCORES]->({message}) "
        f"WHERE {s}.criterion <> '{NOT_QUALITY}' AND {s}.normalized IS NOT NULL "
        f"WITH {keep}, min({s}.normalized) AS {name} "
    )


def chunks_linked_to_bad_answers(limit: int = 20) -> list[dict]:
    """Chunks most often given as context to negatively rated or rejected answers."""
    return _rows(
        "MATCH (a:Message {role: 'assistant'})-[:HAS_CONTEXT]->(c:Chunk) "
        "WHERE ("
        + NEGATIVE % {"m": "a"}
        + ") OR "
        + REJECTED % {"m": "a"}
        + " OPTIONAL MATCH (d:Document)-[:HAS_CHUNK]->(c) "
        "WITH c, d, count(DISTINCT a) AS bad_answers "
        "RETURN c.uid AS chunk, c.index AS chunk_index, c.text AS text, d.uid AS document, "
        "d.title AS title, bad_answers ORDER BY bad_answers DESC, chunk LIMIT $limit",
        limit=limit,
    )


def documents_linked_to_bad_answers(limit: int = 20) -> list[dict]:
    """Documents whose chunks were context to the most negatively rated or rejected answers."""
    return _rows(
        "MATCH (a:Message {role: 'assistant'})-[:HAS_CONTEXT]->(:Chunk)<-[:HAS_CHUNK]-(d:Document) "
        "WHERE ("
        + NEGATIVE % {"m": "a"}
        + ") OR "
        + REJECTED % {"m": "a"}
        + " WITH d, count(DISTINCT a) AS bad_answers "
        "RETURN d.uid AS document, d.title AS title, coalesce(d.external, false) AS external, "
        "bad_answers ORDER BY bad_answers DESC, title LIMIT $limit",
        limit=limit,
    )


def documents_never_used() -> list[dict]:
    """Knowledge-base documents none of whose chunks was ever given as context."""
    return _rows(
        "MATCH (d:Document) WHERE coalesce(d.external, false) = false "
        "AND NOT EXISTS { MATCH (d)-[:HAS_CHUNK]->(:Chunk)<-[:HAS_CONTEXT]-(:Message) } "
        "RETURN d.uid AS document, d.title AS title, d.source AS source, "
        "COUNT { (d)-[:HAS_CHUNK]->() } AS chunks ORDER BY title"
    )


def low_context_questions(threshold: float = 0.3, limit: int = 50) -> list[dict]:
    """Grounded answers whose best context score was below `threshold` (or had none)."""
    return _rows(
        "MATCH (q:Message {role: 'user'})-[:NEXT]->(a:Message {role: 'assistant'}) "
        "WHERE a.grounded = true "
        "OPTIONAL MATCH (a)-[r:HAS_CONTEXT]->(:Chunk) "
        "WITH q, a, max(r.score) AS best, count(r) AS contexts "
        "WHERE best IS NULL OR best < $threshold "
        "RETURN a.uid AS turn, q.text AS question, best, contexts "
        "ORDER BY coalesce(best, -1.0), turn LIMIT $limit",
        threshold=threshold,
        limit=limit,
    )


def recent_answers(limit: int = 20) -> list[dict]:
    """The latest answers in the graph, for links to their lineage."""
    return _rows(
        "MATCH (q:Message {role: 'user'})-[:NEXT]->(a:Message {role: 'assistant'}) "
        "RETURN a.uid AS turn, q.text AS question, a.created_at AS created_at, "
        "COUNT { (a)-[:HAS_CONTEXT]->() } AS contexts "
        "ORDER BY a.created_at DESC, turn LIMIT $limit",
        limit=limit,
    )


def totals() -> dict[str, int]:
    rows = _rows("MATCH (n) RETURN labels(n)[0] AS label, count(*) AS n")
    return {r["label"]: r["n"] for r in rows}
