"""Neo4j-only features run against a real Neo4j 5 only (NEO4J_URL set); the embedded
server has no vector index procedures."""

from __future__ import annotations

import os

import pytest
from neomodel import db

pytestmark = pytest.mark.skipif(
    not os.environ.get("NEO4J_URL"),
    reason="NEO4J_URL does not point at a real Neo4j 5; vector indexes are Neo4j-only",
)


def test_vector_index_finds_the_nearest_chunk(clean_graph):
    from graph.neo4j_only import create_vector_index, similar_chunks

    create_vector_index(3)
    db.cypher_query(
        "CREATE (:Chunk {uid: 'near', embedding: [1.0, 0.0, 0.0]}), "
        "(:Chunk {uid: 'far', embedding: [0.0, 1.0, 0.0]})"
    )
    db.cypher_query("CALL db.awaitIndexes(60)")
    assert similar_chunks([0.9, 0.1, 0.0], k=1)[0][0] == "near"
