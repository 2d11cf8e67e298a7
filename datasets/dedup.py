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
    """Feed items in release order with `seen(key, question)`; False means drop it."""

    def __init__(self, threshold: float = 0.8):
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.bands: list[dict[bytes, list[str]]] = [{} for _ in range(BANDS)]
        self.norms: dict[str, str] = {}
        self.drops: list[Drop] = []

    def seen(self, key: str, question: str) -> bool:
        norm = normalise(question)
        digest = hashlib.sha1(norm.encode()).hexdigest()
        if digest in self.exact:
            self.drops.append(Drop(key, self.exact[digest], "exact", 1.0))
            return False
        sh = shingles(norm)
        sig = signature(sh)
        keys = [sig[b * ROWS : (b + 1) * ROWS].tobytes() for b in range(BANDS)]
        best, best_sim = None, 0.0
        checked: set[str] = set()
        for band, bkey in zip(self.bands, keys, strict=True):
            for other in band.get(bkey, ()):
                if other in checked:
                    continue
                checked.add(other)
                sim = jaccard(sh, shingles(self.norms[other]))
                if sim >= self.threshold and sim > best_sim:
                    best, best_sim = other, sim
        if best is not None:
            self.drops.append(Drop(key, best, "near", round(best_sim, 3)))
            return False
        self.exact[digest] = key
        self.norms[key] = norm
        for band, bkey in zip(self.bands, keys, strict=True):
            band.setdefault(bkey, []).append(key)
        return True
