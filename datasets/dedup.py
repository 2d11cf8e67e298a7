"""Duplicate questions: exact (same normalised text) and near (character-shingle Jaccard).

Normalisation: Unicode NFKC, case-folded, punctuation dropped, whitespace collapsed, so
"How do I restore a snapshot?" and "how do i  restore a snapshot" are exact duplicates.

Near duplicates: each normalised question becomes its set of 5-character shingles; a
MinHash signature (64 seeded universal hashes over crc32 shingle ids, numpy-vectorised)
goes through LSH (16 bands × 4 rows), and only candidates that share a band are compared
by their true Jaccard similarity (≥ `threshold`, default 0.8). Everything is seeded and
order-stable, so the same input always drops the same items: the first occurrence (in
release order) is kept, later ones are dropped and reported with what they duplicate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np

SHINGLE = 5
NUM_PERM = 64
BANDS, ROWS = 16, 4
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20261124)  # fixed: signatures must not change between runs
_A = _rng.integers(1, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def shingles(norm: str) -> set[str]:
    if len(norm) <= SHINGLE:
        return {norm}
    return {norm[i : i + SHINGLE] for i in range(len(norm) - SHINGLE + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def signature(sh: set[str]) -> np.ndarray:
    ids = np.fromiter((zlib.crc32(s.encode()) for s in sh), dtype=np.uint64, count=len(sh))
    # (a*x + b) mod p with x < 2^32 and a < 2^61 can overflow 64 bits; the wrap is
    # deterministic, which is all a MinHash family needs here.
    hashed = (np.outer(_A, ids) + _B[:, None]) % _PRIME
    return hashed.min(axis=1)


@dataclass(frozen=True)
class Drop:
    key: str  # the dropped item's id
    duplicate_of: str
    kind: str  # "exact" or "near"
    similarity: float


class Deduper:
    """Feed items in release order with `seen(key, question)`; False means drop it.

    LSH candidates are ranked by their MinHash estimate (one vectorised comparison over a
    signature matrix), and only the few best are checked by exact Jaccard; buckets stop
    growing at BUCKET_CAP members. So templated questions ("… snapshot 1?", "… snapshot
    2?", …) cost a bounded amount of work each instead of a quadratic number of checks.
    """

    VERIFY = 3  # exact Jaccard checks per question at most
    MARGIN = 0.15  # estimate slack below the threshold before a candidate is verified
    BUCKET_CAP = 32

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.bands: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
        self.keys: list[str] = []
        self.norms: list[str] = []
        self.matrix = np.empty((1024, NUM_PERM), dtype=np.uint64)
        self.drops: list[Drop] = []

    def seen(self, key: str, question: str) -> bool:
        norm = normalise(question)
        digest = hashlib.sha1(norm.encode()).hexdigest()
        if digest in self.exact:
            self.drops.append(Drop(key, self.exact[digest], "exact", 1.0))
            return False
        sh = shingles(norm)
        sig = signature(sh)
        bkeys = [sig[b * ROWS : (b + 1) * ROWS].tobytes() for b in range(BANDS)]
        rows: set[int] = set()
        for band, bkey in zip(self.bands, bkeys, strict=True):
            rows.update(band.get(bkey, ()))
        best, best_sim = self._best(sh, sig, sorted(rows))
        if best is not None:
            self.drops.append(Drop(key, self.keys[best], "near", round(best_sim, 3)))
            return False
        row = len(self.keys)
        if row == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.empty_like(self.matrix)])
        self.matrix[row] = sig
        self.keys.append(key)
        self.norms.append(norm)
        self.exact[digest] = key
        for band, bkey in zip(self.bands, bkeys, strict=True):
            bucket = band.setdefault(bkey, [])
            if len(bucket) < self.BUCKET_CAP:
                bucket.append(row)
        return True

    def _best(self, sh: set[str], sig: np.ndarray, rows: list[int]):
        if not rows:
            return None, 0.0
        estimates = (self.matrix[rows] == sig).mean(axis=1)
        best, best_sim = None, 0.0
        for i in np.argsort(-estimates, kind="stable")[: self.VERIFY]:
            if estimates[i] < self.threshold - self.MARGIN:
                break
            sim = jaccard(sh, shingles(self.norms[rows[i]]))
            if sim >= self.threshold and sim > best_sim:
                best, best_sim = rows[i], sim
        return best, best_sim
