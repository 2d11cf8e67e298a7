"""The lineage of one answer, read from the graph in one Cypher query:

question → context chunks → documents → answer → feedback → evaluator scores → reviews
→ corrections → example → releases (plus the topic and replay links, and the experiment
arms that produced the answer or its replays, with the replays' scores).
"""

from __future__ import annotations

from typing import Any

LINEAGE = """
MATCH (a:Message {uid: $uid, role: 'assistant'})
RETURN properties(a) AS answer,
  [(q:Message {role: 'user'})-[:NEXT]->(a) | properties(q)] AS questions,
  [(q:Message {role: 'user'})-[:NEXT]->(a) |
     [(q)-[r:ABOUT]->(t:Topic) | {topic: properties(t), method: r.method}]] AS topics,
  [(a)-[r:HAS_CONTEXT]->(c:Chunk) | {chunk: properties(c), rank: r.rank, score: r.score,
     documents: [(d:Document)-[:HAS_CHUNK]->(c) | properties(d)]}] AS contexts,
  [(f:Feedback)-[:RATES]->(a) | properties(f)] AS feedback,
  [(s:Score)-[:SCORES]->(a) | properties(s)] AS scores,
  [(rv:Review)-[:REVIEWS]->(a) | {review: properties(rv),
     corrections: [(rv)-[:CORRECTS_WITH]->(co:Correction) | properties(co)]}] AS reviews,
  [(e:Example)-[:FROM]->(a) | {example: properties(e),
     releases: [(rl:Release)-[:INCLUDES]->(e) | properties(rl)]}] AS examples,
  [(a)-[:REPLAY_OF]->(o:Message) | properties(o)] AS replay_of,
  [(e:Experiment)-[:HAS_ARM]->(r:Arm)-[:PRODUCED]->(a) |
     {arm: properties(r), experiment: properties(e)}] AS arms,
  [(x:Message)-[:REPLAY_OF]->(a) | {message: properties(x),
     scores: [(s:Score)-[:SCORES]->(x) | properties(s)],
     arms: [(e:Experiment)-[:HAS_ARM]->(r:Arm)-[:PRODUCED]->(x) |
       {arm: properties(r), experiment: properties(e)}]}] AS replays
"""


def _plain(value: Any) -> Any:
    """neo4j temporal values → ISO strings, recursively (for JSON and templates)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


def lineage(turn_id: str) -> dict | None:
    """The raw lineage of an answer, or None when the graph does not have it (yet)."""
    from neomodel import db  # the driver loads in the web with the first graph page

    rows, cols = db.cypher_query(LINEAGE, {"uid": str(turn_id)})
    if not rows:
        return None
    data = _plain(dict(zip(cols, rows[0], strict=True)))
    data["question"] = data.pop("questions")[0] if data["questions"] else None
    # A question may be about several topics (keyword, discovered, manual); the primary
    # one is shown first, in the order chat.models.PRIMARY_TOPIC_ORDER gives.
    order = {"manual": 0, "keyword": 1, "discovered": 2}
    topics = sorted(
        (t for ts in data.pop("topics") for t in ts), key=lambda t: order.get(t["method"], 3)
    )
    data["topics"] = [{**t["topic"], "method": t["method"]} for t in topics]
    data["topic"] = data["topics"][0] if topics else None
    data["contexts"].sort(key=lambda c: c["rank"] or 0)
    data["scores"].sort(key=lambda s: (s.get("evaluator") or "", s.get("criterion") or ""))
    # each replay: its message's properties, the arms (of experiments) that produced it,
    # and its scores, the same keys as the answer's own
    data["replays"] = sorted(
        (
            {**r["message"], "arms": r["arms"], "scores": _by_criterion(r["scores"])}
            for r in data["replays"]
        ),
        key=lambda r: (str(r.get("created_at") or ""), r["uid"]),
    )
    return data


def _by_criterion(scores: list[dict]) -> list[dict]:
    return sorted(scores, key=lambda s: (s.get("evaluator") or "", s.get("criterion") or ""))


def _short(text: str | None, n: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def elements(data: dict) -> list[dict]:
    """Cytoscape elements (nodes and edges) for a lineage."""
    nodes: dict[str, dict] = {}
    edges: list[dict] = []

    def node(kind: str, uid: str, label: str, detail: str = "") -> str:
        key = f"{kind}:{uid}"
        nodes.setdefault(key, {"data": {"id": key, "kind": kind, "label": label, "detail": detail}})
        return key

    def edge(src: str, dst: str, label: str) -> None:
        edges.append(
            {"data": {"id": f"{src}>{label}>{dst}", "source": src, "target": dst, "label": label}}
        )

    answer = data["answer"]
    a = node(
        "answer", answer["uid"], "Answer: " + _short(answer.get("text")), answer.get("text") or ""
    )
    if data["question"]:
        q = node(
            "question",
            data["question"]["uid"],
            "Q: " + _short(data["question"]["text"]),
            data["question"].get("text") or "",
        )
        edge(q, a, "NEXT")
        for topic in data["topics"]:
            edge(q, node("topic", topic["uid"], "Topic: " + topic["name"]), "ABOUT")
    for ctx in data["contexts"]:
        chunk = ctx["chunk"]
        score = "" if ctx["score"] is None else f" · {ctx['score']:.2f}"
        c = node("chunk", chunk["uid"], f"#{ctx['rank']} chunk{score}", chunk.get("text") or "")
        edge(a, c, "HAS_CONTEXT")
        for doc in ctx["documents"]:
            edge(
                node(
                    "document",
                    doc["uid"],
                    "Doc: " + _short(doc.get("title"), 40),
                    doc.get("source") or "",
                ),
                c,
                "HAS_CHUNK",
            )
    for fb in data["feedback"]:
        edge(
            node("feedback", fb["uid"], f"Feedback: {fb.get('rating')}", fb.get("comment") or ""),
            a,
            "RATES",
        )
    for sc in data.get("scores", []):
        value = "error" if sc.get("value") is None else f"{sc['value']:g}"
        by = f"{sc.get('evaluator')} v{sc.get('version')}"
        edge(
            node(
                "score",
                sc["uid"],
                f"Score: {sc.get('criterion')} {value} ({by})",
                sc.get("reason") or sc.get("error") or "",
            ),
            a,
            "SCORES",
        )
    for item in data["reviews"]:
        rv = item["review"]
        r = node(
            "review",
            rv["uid"],
            f"Review: {rv.get('verdict')} ({rv.get('reviewer')})",
            rv.get("notes") or "",
        )
        edge(r, a, "REVIEWS")
        for co in item["corrections"]:
            edge(
                r,
                node(
                    "correction",
                    co["uid"],
                    "Correction: " + _short(co.get("text")),
                    co.get("text") or "",
                ),
                "CORRECTS_WITH",
            )
    for item in data["examples"]:
        ex = item["example"]
        e = node("example", ex["uid"], f"Example ({ex.get('status')})")
        edge(e, a, "FROM")
        for rl in item["releases"]:
            edge(
                node(
                    "release",
                    rl["uid"],
                    f"Release: {rl.get('name')} v{rl.get('version')}",
                    rl.get("status") or "",
                ),
                e,
                "INCLUDES",
            )
    for o in data["replay_of"]:
        edge(
            a,
            node("answer", o["uid"], "Original: " + _short(o.get("text")), o.get("text") or ""),
            "REPLAY_OF",
        )
    for item in data["arms"]:
        edge(_arm_node(node, edge, item), a, "PRODUCED")
    for x in data["replays"]:
        replay = node("answer", x["uid"], "Replay: " + _short(x.get("text")), x.get("text") or "")
        edge(replay, a, "REPLAY_OF")
        for item in x["arms"]:
            edge(_arm_node(node, edge, item), replay, "PRODUCED")
    return list(nodes.values()) + edges


def _arm_node(node, edge, item: dict) -> str:
    """An experiment arm's node, under its experiment's."""
    arm, experiment = item["arm"], item["experiment"]
    setup = arm.get("model_key") or "logged answers"
    arm_key = node("arm", arm["uid"], f"Arm: {arm.get('label')}", setup)
    experiment_key = node(
        "experiment", experiment["uid"], "Experiment: " + _short(experiment.get("name"), 40)
    )
    edge(experiment_key, arm_key, "HAS_ARM")
    return arm_key
