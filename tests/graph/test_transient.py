"""Writes that collide on one record are retried, not lost."""

from __future__ import annotations

import contextvars
import threading

from neomodel import db

from graph.cypher import CREATES, write

LINK = (
    "UNWIND $rows AS uid MATCH (t:Topic {uid: 'shared'}) "
    "MERGE (m:Message {uid: uid}) SET m.text = uid MERGE (m)-[:ABOUT]->(t)"
)


def test_concurrent_writes_to_one_node_all_land_once(clean_graph):
    """Four threads link messages to one topic at once; the embedded server refuses some
    of those statements as concurrent changes to the topic, and `write` runs them again."""
    db.cypher_query("CREATE (:Topic {uid: 'shared'})")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for batch in range(8):
                write(LINK, [f"{worker}-{batch}-{k}" for k in range(20)])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(work, i)) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows, _ = db.cypher_query(
        "MATCH (m:Message)-[r:ABOUT]->(:Topic {uid: 'shared'}) RETURN count(DISTINCT m), count(r)"
    )
    assert rows == [[4 * 8 * 20, 4 * 8 * 20]]


def test_statements_that_create_are_not_run_twice():
    assert CREATES.search(LINK.replace("MERGE (m)-", "CREATE (m)-"))
    assert not CREATES.search(LINK + " ON CREATE SET m.x = 1")
