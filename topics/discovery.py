"""Topic discovery: which questions are about the same thing. Pure computation, no Django.

Method (issue #14; the seed application grouped questions by the chunks they retrieved):

1. **Features.** Question text as TF-IDF (scikit-learn, English stop words, sublinear tf,
   L2 rows), or the caller's embedding vectors when an embedding model is configured; the
   passages each question retrieved as a binary question × chunk matrix.
2. **Similarity graph.** Similarity of two questions =
   ``(1 - w) · cosine(text) + w · Jaccard(retrieved chunks)`` with ``w = passage_weight``
   (a question without context is compared by text alone). Each question keeps its ``k``
   nearest neighbours whose similarity reaches ``cutoff``; neighbours are exact (blocked
   sparse products). The graph is built over all questions up to ``SAMPLE`` (20,000) and
   over a seeded random sample of that size above it (step 4).
3. **Communities.** Leiden (modularity, fixed seed) from ``graspologic-native`` — the MIT
   Rust core of Microsoft's graspologic. networkx's Louvain (BSD, pure Python) took 287 s
   and 887 MB on a 100k-node, 1M-edge graph here; this took 19 s. python-igraph and
   leidenalg are GPL, so not those.
4. **Everyone placed.** Questions outside the sample join the community whose centroid (the
   mean blended text+passage vector of its members) is nearest, or "other" below
   ``cutoff``. Why a sample: measured on the synthetic set (bench/bench_topics.py), a graph
   over all 100k questions — candidates from an SVD + k-means inverted-file search — took
   ~90 s and split the 24 topics into 92 paraphrase-level communities (ARI 0.62), while the
   exact graph over 20k questions finds the 24 (ARI 0.97) in ~20 s; the granularity of
   "a topic" then does not drift as traffic grows. Communities smaller than ``min_size``
   go to "other" (-1).
5. **Labels.** Each community's most distinctive terms by class-based TF-IDF (term
   frequency in the community × log(1 + average community size in words / frequency of the
   term over all communities)).
6. **Membership score** of a question: the cosine of its blended vector to its community's
   centroid (how typical of the topic it is).

`match_communities` keeps topic ids stable across runs: a new community takes the id of the
previous topic it overlaps most (Jaccard ≥ ``threshold`` over the questions both runs
know, one-to-one by the Hungarian method).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

SAMPLE = 20_000  # the graph is built over at most this many questions; see step 4
BLOCK = 512
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Params:
    seed: int = 0
    k: int = 10
    cutoff: float = 0.12
    passage_weight: float = 0.5
    min_size: int = 5
    resolution: float = 1.0
    label_terms: int = 6


@dataclass
class Community:
    members: list[int]  # indices into the input, ascending
    terms: list[str]  # most distinctive first


@dataclass
class Discovery:
    labels: np.ndarray  # community index per question, -1 = "other"
    scores: np.ndarray  # membership score per question (0 for "other")
    communities: list[Community] = field(default_factory=list)
    edges: int = 0


def discover(
    texts: Sequence[str],
    contexts: Sequence[Sequence[Hashable]],
    *,
    params: Params = Params(),
    vectors: np.ndarray | None = None,
    progress: Progress | None = None,
) -> Discovery:
    """Communities of questions. `contexts[i]` are the chunk ids question i retrieved;
    `vectors` (n × d, optional) replace TF-IDF as the text representation."""
    n = len(texts)
    if len(contexts) != n or (vectors is not None and len(vectors) != n):
        raise ValueError("texts, contexts and vectors must have one entry per question")
    report = progress or (lambda fraction, message: None)
    empty = Discovery(np.full(n, -1, dtype=np.int32), np.zeros(n, dtype=np.float32))
    if n < 2:
        return empty
    report(0.05, "reading the questions")
    counts, vocab = _counts(texts)
    text = _text_matrix(counts, vectors)
    chunks = _chunk_matrix(contexts)
    sample = _sample(n, params.seed)
    report(0.15, "finding each question's nearest neighbours")
    s_text, s_chunks = text[sample], chunks[sample]
    rows, cols = _candidates(s_text, s_chunks, params, report)
    report(0.6, "weighing the similarity graph")
    rows, cols, weights = _weigh(s_text, s_chunks, rows, cols, params)
    if not len(rows):
        return empty
    report(0.7, "finding communities (Leiden)")
    found = _drop_small(_communities(len(sample), rows, cols, weights, params), params.min_size)
    report(0.8, "placing every question in its topic")
    labels, scores = _assign(_blend(text, chunks, params.passage_weight), sample, found, params)
    report(0.9, "labelling the topics")
    communities = _label(labels, counts, vocab, params.label_terms)
    report(1.0, "done")
    return Discovery(labels, scores, communities, edges=len(rows))


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))


def _assign(blended, sample: np.ndarray, found: np.ndarray, params: Params):
    """Every question's topic and score. The questions in the graph keep their community;
    the others join the community whose centroid (mean blended vector) is nearest, or
    "other" below the cutoff. The score of every member is its cosine to that centroid."""
    n, topics = blended.shape[0], int(found.max()) + 1
    labels = np.full(n, -1, dtype=np.int32)
    scores = np.zeros(n, dtype=np.float32)
    if topics <= 0:
        return labels, scores
    labels[sample] = found
    member = found >= 0
    onehot = sparse.csr_matrix(
        (np.ones(int(member.sum()), np.float32), (found[member], sample[member])),
        shape=(topics, n),
    )
    centroids = normalize(np.asarray((onehot @ blended).todense(), dtype=np.float32))
    rest = np.ones(n, dtype=bool)
    rest[sample] = False
    for start in range(0, n, 8192):
        sims = np.asarray(blended[start : start + 8192] @ centroids.T)
        idx = np.arange(start, start + len(sims))
        best = np.argmax(sims, axis=1)
        todo = rest[idx] & (sims[np.arange(len(sims)), best] >= params.cutoff)
        labels[idx[todo]] = best[todo]
        mine = labels[idx] >= 0
        scores[idx[mine]] = sims[np.flatnonzero(mine), labels[idx[mine]]]
    return labels, np.round(np.clip(scores, 0, 1), 4)


def _counts(texts: Sequence[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
    vectorizer = CountVectorizer(
        stop_words="english", token_pattern=TOKEN_PATTERN, dtype=np.float32
    )
    try:
        counts = vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # nothing but stop words
        return sparse.csr_matrix((len(texts), 0), dtype=np.float32), np.array([], dtype=object)
    return counts, vectorizer.get_feature_names_out()


def _text_matrix(counts: sparse.csr_matrix, vectors: np.ndarray | None):
    if vectors is not None:
        return sparse.csr_matrix(normalize(np.asarray(vectors, dtype=np.float32)))
    if counts.shape[1] == 0:
        return counts
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    return tfidf.astype(np.float32).tocsr()


def _chunk_matrix(contexts: Sequence[Sequence[Hashable]]) -> sparse.csr_matrix:
    index: dict[Hashable, int] = {}
    indptr, indices = [0], []
    for chunk_ids in contexts:
        cols = sorted({index.setdefault(c, len(index)) for c in chunk_ids})
        indices.extend(cols)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix(
        (data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
        shape=(len(contexts), max(len(index), 1)),
    )


def _blend(text, chunks, w: float) -> sparse.csr_matrix:
    """Rows whose dot product is (1 - w)·cos(text) + w·cos(chunks)."""
    return sparse.hstack(
        [text * math.sqrt(1 - w), normalize(chunks) * math.sqrt(w)], format="csr"
    ).astype(np.float32)


def _candidates(text, chunks, params: Params, report: Progress):
    blended = _blend(text, chunks, params.passage_weight)
    return _exact_knn(blended, min(params.k, blended.shape[0] - 1), report)


def _top_k(block: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-block, k - 1, axis=1)[:, :k]
    return part


def _exact_knn(x: sparse.csr_matrix, k: int, report: Progress):
    n = x.shape[0]
    xt = x.T.tocsc()
    rows, cols = [], []
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        sims = (x[start:stop] @ xt).toarray()
        sims[np.arange(stop - start), np.arange(start, stop)] = -1.0  # not its own neighbour
        top = _top_k(sims, k)
        rows.append(np.repeat(np.arange(start, stop), k))
        cols.append(top.ravel())
        report(0.15 + 0.45 * stop / n, "finding each question's nearest neighbours")
    return np.concatenate(rows), np.concatenate(cols)


def _pair_dot(a: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 200_000):
        r, c = rows[start : start + 200_000], cols[start : start + 200_000]
        out[start : start + len(r)] = np.asarray(a[r].multiply(a[c]).sum(axis=1)).ravel()
    return out


def _weigh(text, chunks, rows, cols, params: Params):
    """Exact blended similarity for each candidate pair, one undirected edge per pair."""
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0) if len(lo) else np.empty((0, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]].astype(np.int64)
    rows, cols = pairs[:, 0], pairs[:, 1]
    cos = _pair_dot(text, rows, cols) if text.shape[1] else np.zeros(len(rows), np.float32)
    sizes = np.diff(chunks.indptr).astype(np.float32)
    inter = _pair_dot(chunks, rows, cols)
    union = sizes[rows] + sizes[cols] - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    w = params.passage_weight
    weights = (1 - w) * cos + w * jaccard
    keep = weights >= params.cutoff
    return rows[keep], cols[keep], weights[keep]


def _communities(n: int, rows, cols, weights, params: Params) -> np.ndarray:
    import graspologic_native as gn

    edges = list(
        zip(map(str, rows.tolist()), map(str, cols.tolist()), weights.tolist(), strict=True)
    )
    _, partition = gn.leiden(
        edges, resolution=params.resolution, seed=params.seed, trials=1, iterations=2
    )
    del edges
    labels = np.full(n, -1, dtype=np.int32)
    for node, community in partition.items():
        labels[int(node)] = community
    return labels


def _drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Tiny communities become "other" (-1); the rest are renumbered by size (largest
    first, ties by the smallest member) so the numbering is deterministic."""
    out = np.full(len(labels), -1, dtype=np.int32)
    found = labels[labels >= 0]
    if not len(found):
        return out
    ids, counts = np.unique(found, return_counts=True)
    first = {c: int(np.flatnonzero(labels == c)[0]) for c in ids[counts >= min_size]}
    ranked = sorted(first, key=lambda c: (-int(counts[ids == c][0]), first[c]))
    for new, old in enumerate(ranked):
        out[labels == old] = new
    return out


def class_tfidf(labels: np.ndarray, counts: sparse.csr_matrix, top: int) -> list[list[int]]:
    """Per community, the term columns with the highest class-based TF-IDF."""
    found = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    if not found or counts.shape[1] == 0:
        return [[] for _ in range(found)]
    mask = labels >= 0
    onehot = sparse.csr_matrix(
        (np.ones(int(mask.sum()), dtype=np.float32), (labels[mask], np.flatnonzero(mask))),
        shape=(found, len(labels)),
    )
    per_class = np.asarray((onehot @ counts).todense())  # communities × terms
    words = per_class.sum(axis=1, keepdims=True)
    tf = np.divide(per_class, words, out=np.zeros_like(per_class), where=words > 0)
    freq = per_class.sum(axis=0)
    idf = np.log1p(words.mean() / np.maximum(freq, 1))
    ctfidf = tf * idf
    result = []
    for row in ctfidf:
        order = np.lexsort((np.arange(len(row)), -row))  # ties: vocabulary order
        result.append([int(t) for t in order[:top] if row[t] > 0])
    return result


def _label(labels, counts, vocab, top: int) -> list[Community]:
    terms = class_tfidf(labels, counts, top)
    return [
        Community(np.flatnonzero(labels == c).tolist(), [str(vocab[t]) for t in cols])
        for c, cols in enumerate(terms)
    ]


def match_communities(
    previous: dict[Hashable, set[Hashable]],
    current: Sequence[set[Hashable]],
    *,
    threshold: float = 0.5,
) -> dict[int, Hashable]:
    """Which previous topic each current community continues: {community index: topic id}.

    Overlap is Jaccard over the questions the previous run knew (questions added since do
    not count against a topic persisting); pairs are matched one-to-one by the Hungarian
    method, and kept only at ``threshold`` or more.
    """
    if not previous or not current:
        return {}
    known = set().union(*previous.values())
    prev_ids = list(previous)
    where: dict[Hashable, int] = {}
    for i, topic in enumerate(prev_ids):
        for member in previous[topic]:
            where[member] = i
    overlap = np.zeros((len(current), len(prev_ids)), dtype=np.float64)
    for c, members in enumerate(current):
        for member in members:
            if member in where:
                overlap[c, where[member]] += 1
    seen = np.array([len(members & known) for members in current], dtype=np.float64)
    sizes = np.array([len(previous[t]) for t in prev_ids], dtype=np.float64)
    union = seen[:, None] + sizes[None, :] - overlap
    jaccard = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    picked_c, picked_p = linear_sum_assignment(-jaccard)
    return {
        int(c): prev_ids[p]
        for c, p in zip(picked_c, picked_p, strict=True)
        if jaccard[c, p] >= threshold
    }
