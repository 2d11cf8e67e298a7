"""Retrieval over the knowledge base: the one entry point is `retrieve(query, k=...)`.

Hybrid lexical + vector scoring, used by the chat page, replay and the API alike:

* lexical: BM25 (k1=1.2, b=0.75) over an in-memory inverted index of the chunk texts, scaled to
  0..1 by the best lexical score of the query;
* vector: cosine similarity between the query vector and every chunk vector (one float32 matrix
  product). Vectors come from OpenAI embeddings when `OPENAI_API_KEY` is set, otherwise from the
  offline feature-hashing embedder — see `knowledge.embedding` for which and why;
* score = LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * max(cosine, 0), in 0..1.

The index (the chunk id array, the vector matrix and the postings) lives in this process and is
rebuilt when the knowledge base changes: each call compares a cheap version stamp (document count
and latest `updated_at`) with the one the index was built from. Over 100k chunks a query costs a
few milliseconds (see bench/bench_chat.py); a rebuild costs seconds, once per change.
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Max

from knowledge import embedding
from knowledge.models import Chunk, Document

if TYPE_CHECKING:  # imported where an index is built or searched: the web process loads
    # this module with chat.services, and most of its requests never retrieve (~16 MB)
    import numpy as np

log = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.5
BM25_K1, BM25_B = 1.2, 0.75
DEFAULT_K = 4


@dataclass
class Hit:
    chunk: Chunk
    score: float
    rank: int


@dataclass
class _Index:
    version: tuple
    embedder: str
    ids: np.ndarray  # chunk ids, in row order
    vectors: np.ndarray  # (n, dim) float32, rows L2-normalised
    postings: dict[str, tuple[np.ndarray, np.ndarray]]  # term -> (rows, bm25 weights)


_lock = threading.Lock()
_index: _Index | None = None
# Set by `one_index()`: the index every retrieve() in the block uses, checked once.
_pinned: ContextVar[_Index | None] = ContextVar("retrieval_pinned_index", default=None)


@contextmanager
def one_index() -> Iterator[None]:
    """Retrieve against one index for the whole block: the knowledge base's version stamp
    is read once on entry instead of once per query (a batch of questions, such as an
    experiment's chunk; a document changed meanwhile is seen by the next block)."""
    token = _pinned.set(_current_index())
    try:
        yield
    finally:
        _pinned.reset(token)


def retrieve(query: str, k: int = DEFAULT_K, min_score: float = 0.0) -> list[Hit]:
    """The top-k chunks for a query, best first, with scores in 0..1 and ranks from 1."""
    found = ranked_ids(query, k, min_score)
    chunks = Chunk.objects.select_related("document").in_bulk([i for i, _ in found])
    hits = []
    for chunk_id, score in found:
        chunk = chunks.get(chunk_id)
        if chunk is not None:
            hits.append(Hit(chunk=chunk, score=score, rank=len(hits) + 1))
    return hits


def ranked_ids(
    query: str, k: int = DEFAULT_K, min_score: float = 0.0, *, lexical_only: bool = False
) -> list[tuple[object, float]]:
    """(chunk id, score) of the top-k chunks, best first, without reading the chunks: a
    caller that reads the same chunks again and again keeps them itself. `lexical_only`: BM25
    alone, no query embedding (no key, no call out: the offline evaluators' use)."""
    import numpy as np

    index = _pinned.get() or _current_index()
    if not len(index.ids) or not query.strip():
        return []
    scores = np.zeros(len(index.ids), dtype=np.float32)
    postings = [index.postings[t] for t in set(embedding.tokenize(query)) if t in index.postings]
    # Terms in more than half the chunks carry almost no BM25 weight but cost a pass over
    # half the corpus each; skip them unless nothing rarer was asked.
    rare = [p for p in postings if len(p[0]) <= len(index.ids) // 2]
    terms = rare or postings
    for rows, weights in terms:
        scores[rows] += weights
    best = float(scores.max()) if terms else 0.0
    if best > 0:
        scores *= LEXICAL_WEIGHT / best
    qvec = None if lexical_only else _embed_query(query)
    if qvec is not None and qvec.shape[0] == index.vectors.shape[1]:
        # einsum's single-threaded loop, not BLAS: OpenBLAS threads on a busy 2-core machine
        # made this product 3x slower at the p95 (measured 36 ms vs 10 ms over 100k x 128)
        cosine = np.einsum("ij,j->i", index.vectors, qvec)
        np.maximum(cosine, 0, out=cosine)
        scores += (1 - LEXICAL_WEIGHT) * cosine
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(index.ids[i], round(float(scores[i]), 4)) for i in top if scores[i] > min_score]


def _embed_query(query: str) -> np.ndarray | None:

    try:
        return embedding.embedder().embed([query])[0]
    except Exception:  # the embedding endpoint is down: lexical scores alone still rank
        log.warning("query embedding failed; retrieving lexically", exc_info=True)
        return None


def _version() -> tuple:
    stamp = Document.objects.aggregate(n=Count("id"), t=Max("updated_at"))
    return stamp["n"], stamp["t"]


def _current_index() -> _Index:
    global _index
    version, name = _version(), embedding.embedder().name
    index = _index
    if index is not None and index.version == version and index.embedder == name:
        return index
    with _lock:
        if _index is None or _index.version != version or _index.embedder != name:
            _index = _build(version, name)
        return _index


def _build(version: tuple, embedder_name: str) -> _Index:
    import numpy as np

    rows = list(Chunk.objects.values_list("id", "text", "embedding", "embedding_model"))
    ids = np.empty(len(rows), dtype=object)
    texts: list[str] = []
    vectors: list[np.ndarray | None] = []
    stale: list[int] = []
    for i, (pk, text, blob, model_name) in enumerate(rows):
        ids[i] = pk
        texts.append(text)
        vec = embedding.from_bytes(blob) if model_name == embedder_name else None
        if vec is None:
            stale.append(i)
        vectors.append(vec)
    if stale:
        try:
            _refresh_embeddings(stale, ids, texts, vectors, embedder_name)
        except Exception:  # embedding endpoint down: those chunks rank lexically until next build
            log.warning("could not embed %d chunks", len(stale), exc_info=True)
    dim = next((v.shape[0] for v in vectors if v is not None), embedding.OFFLINE_DIM)
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    for i, vec in enumerate(vectors):
        if vec is not None and vec.shape[0] == dim:
            matrix[i] = vec
    return _Index(
        version=version, embedder=embedder_name, ids=ids, vectors=matrix, postings=_postings(texts)
    )


def _refresh_embeddings(stale, ids, texts, vectors, embedder_name) -> None:
    """Embed chunks that have no vector from the current embedder, and store them."""
    emb = embedding.embedder()
    matrix = emb.embed([texts[i] for i in stale])
    updates = []
    for i, row in zip(stale, matrix, strict=True):
        vectors[i] = row
        updates.append(
            Chunk(id=ids[i], embedding=embedding.to_bytes(row), embedding_model=embedder_name)
        )
    Chunk.objects.bulk_update(updates, ["embedding", "embedding_model"], batch_size=500)


def _postings(texts: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """BM25 weight of every (term, chunk) pair, grouped by term.

    Pairs are collected in compact typed arrays (not Python lists), so 100k chunks with
    millions of pairs build in seconds and tens of megabytes.
    """
    import numpy as np

    n = len(texts)
    term_ids: dict[str, int] = {}
    terms_a, rows_a, tf_a = array("i"), array("i"), array("f")
    lengths = np.zeros(n, dtype=np.float32)
    for row, text in enumerate(texts):
        counts = Counter(embedding.tokenize(text))
        lengths[row] = sum(counts.values())
        for token, tf in counts.items():
            terms_a.append(term_ids.setdefault(token, len(term_ids)))
            rows_a.append(row)
            tf_a.append(tf)
    if not terms_a:
        return {}
    terms = np.frombuffer(terms_a, dtype=np.int32)
    order = np.argsort(terms, kind="stable")  # grouped by term, rows ascending within a term
    terms = terms[order]
    rows = np.frombuffer(rows_a, dtype=np.int32)[order]
    tf = np.frombuffer(tf_a, dtype=np.float32)[order]
    avgdl = float(lengths.mean()) or 1.0
    df = np.bincount(terms, minlength=len(term_ids))
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[rows] / avgdl)
    weights = (idf[terms] * tf * (BM25_K1 + 1) / (tf + norm)).astype(np.float32)
    bounds = np.searchsorted(terms, np.arange(len(term_ids) + 1))
    return {
        name: (rows[bounds[t] : bounds[t + 1]], weights[bounds[t] : bounds[t + 1]])
        for name, t in term_ids.items()
    }
