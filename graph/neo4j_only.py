"""Everything here runs on Neo4j 5 / Aura only, never on the embedded server.

The embedded ArcadeDB Bolt server has no `CREATE VECTOR INDEX` and no
`db.index.vector.*` procedures; the rest of ReviewHub's Cypher is portable and does not
depend on this module. Call it only when `settings.GRAPH_EMBEDDED` is false.
"""

from __future__ import annotations

from neomodel import db

VECTOR_INDEX = "chunk_embedding"


def create_vector_index(dimensions: int, similarity: str = "cosine") -> None:
    """A vector index over `Chunk.embedding` (Neo4j 5.11+)."""
    if similarity not in {"cosine", "euclidean"}:
        raise ValueError("similarity must be 'cosine' or 'euclidean'")
    db.cypher_query(
        f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (c:Chunk) ON (c.embedding) "
        "OPTIONS {indexConfig: {`vector.dimensions`: $dims, "
        "`vector.similarity_function`: $sim}}",
        {"dims": int(dimensions), "sim": similarity},
    )


def similar_chunks(embedding: list[float], k: int = 5) -> list[tuple[str, float]]:
    """The k chunks nearest to `embedding` by the vector index."""
    rows, _ = db.cypher_query(
        "CALL db.index.vector.queryNodes($index, $k, $embedding) YIELD node, score "
        "RETURN node.uid, score",
        {"index": VECTOR_INDEX, "k": k, "embedding": embedding},
    )
    return [(uid, score) for uid, score in rows]
