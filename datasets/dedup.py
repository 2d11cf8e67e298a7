"""Duplicate questions: exact (same normalised text) and near (character-shingle Jaccard).

Normalisation: Unicode NFKC, case-folded, punctuation dropped, whitespace collapsed, so
"How do I restore a snapshot?" and "how do i  restore a snapshot" are exact duplicates.

Near duplicates: each normalised question becomes its set of 5-character shingles; a
MinHash signature (64 seeded universal hashes over crc32 shingle ids, numpy-vectorised)
goes through LSH (16 bands × 4 rows), and only candidates that share a band are compared
by their true Jaccard similarity (≥ `threshold`, default 0.8). Everything is seeded and
order-stable, so the same input always drops the same items: the first occurrence (in
release order) is kept, later ones are dropped and reported with what they duplicate.

Signatures are computed for a batch at once (`Deduper.keep`): shingle ids (crc32) by a
table-driven CRC over every 5-byte window of the batch's ASCII questions, one product over
the distinct ids, a segmented minimum — instead of Python sets and one small product per
question (a 20,000-question release spent ~4 s in per-question work). The values are
`signature`'s, so the same items are kept; the shingle sets are built only for the few
candidates whose MinHash estimate asks for an exact Jaccard check.
"""

from __future__ import annotations

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


def _crc32_table() -> np.ndarray:
    table = np.empty(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
        table[byte] = crc
    return table


_CRC = _crc32_table()  # zlib's CRC-32, a byte at a time, for whole arrays of windows


def _window_crcs(texts: list[str]) -> list[np.ndarray]:
    """zlib.crc32 of every 5-byte window of each ASCII text (longer than a shingle), in
    numpy: for ASCII a shingle is its 5 bytes, so these are the shingles' ids (with
    repeats, which a minimum ignores)."""
    data = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    ends = np.cumsum(lengths)
    counts = lengths - SHINGLE + 1
    # Window starts: each text's offset repeated for its windows, plus 0, 1, 2, … inside it.
    offsets = np.repeat(ends - lengths, counts)
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    starts = offsets + np.arange(len(offsets)) - firsts
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    for k in range(SHINGLE):
        crc = _CRC[(crc ^ data[starts + k]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return np.split(crc.astype(np.uint64), np.cumsum(counts)[:-1])


def shingle_ids(norms: list[str]) -> list[np.ndarray]:
    """The crc32 ids of each normalised text's shingles (`signature`'s input)."""
    fast = [i for i, norm in enumerate(norms) if norm.isascii() and len(norm) > SHINGLE]
    ids: list[np.ndarray | None] = [None] * len(norms)
    if fast:
        for i, crcs in zip(fast, _window_crcs([norms[i] for i in fast]), strict=True):
            ids[i] = crcs
    for i, norm in enumerate(norms):
        if ids[i] is None:
            sh = shingles(norm)
            ids[i] = np.fromiter(map(zlib.crc32, map(str.encode, sh)), np.uint64, len(sh))
    return ids


def signature(sh: set[str]) -> np.ndarray:
    ids = np.fromiter(map(zlib.crc32, map(str.encode, sh)), np.uint64, len(sh))
    return signatures([ids])[0]


GROUP = 1 << 16  # shingles hashed at once: at most 65,536 × 64 × 8 bytes = 32 MB
GATHER = 1 << 10  # shingles per minimum: 512 KB, which stays in the CPU's cache


def signatures(ids: list[np.ndarray]) -> np.ndarray:
    """One MinHash signature per text (a row each) from its shingle ids. Each group of
    texts hashes its distinct shingles once (questions share most of their 5-grams), then
    takes the minimum per text over those rows, a cache-sized slice at a time."""
    out = np.empty((len(ids), NUM_PERM), dtype=np.uint64)
    sizes = [len(x) for x in ids]
    first = 0
    while first < len(ids):
        last, total = first + 1, sizes[first]
        while last < len(ids) and total + sizes[last] <= GROUP:
            total += sizes[last]
            last += 1
        out[first:last] = _group_signatures(ids[first:last], sizes[first:last])
        first = last
    return out


def _group_signatures(ids: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    distinct, index = np.unique(np.concatenate(ids), return_inverse=True)
    # (a*x + b) mod p with x < 2^32 and a < 2^61 can overflow 64 bits; the wrap is
    # deterministic, which is all a MinHash family needs here.
    hashed = (np.outer(distinct, _A) + _B) % _PRIME  # a row of NUM_PERM hashes per shingle
    starts = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((len(ids), NUM_PERM), dtype=np.uint64)
    first = 0
    while first < len(ids):
        last = int(np.searchsorted(starts, starts[first] + GATHER, side="right")) - 1
        last = min(max(last, first + 1), len(ids))
        low, high = starts[first], starts[last]
        rows = hashed[index[low:high]]
        out[first:last] = np.minimum.reduceat(rows, starts[first:last] - low, axis=0)
        first = last
    return out


@dataclass(frozen=True)
class Drop:
    key: str  # the dropped item's id
    duplicate_of: str
    kind: str  # "exact" or "near"
    similarity: float


class Deduper:
    """Feed items in release order with `keep([(key, question), …])` (or one at a time with
    `seen(key, question)`); False means drop it.

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
        return self.keep([(key, question)])[0]

    def keep(self, items: list[tuple[str, str]]) -> list[bool]:
        """Whether each (key, question) is kept, in order: the same answers as calling
        `seen` for each, with the signatures of the batch computed at once."""
        norms = [normalise(question) for _, question in items]
        fresh = [i for i, norm in enumerate(norms) if norm not in self.exact]
        sigs = signatures(shingle_ids([norms[i] for i in fresh]))
        # A band's key is its ROWS values' bytes: one bytes object per band, for the batch.
        bands = sigs.view(np.dtype((np.void, ROWS * sigs.itemsize))).tolist()
        found = {i: (sigs[n], bands[n]) for n, i in enumerate(fresh)}
        return [
            self._keep(key, norms[i], *found.get(i, (None, None)))
            for i, (key, _) in enumerate(items)
        ]

    def _keep(self, key: str, norm: str, sig: np.ndarray, bkeys: list[bytes]) -> bool:
        # The normalised text is its own exact key (it was its SHA-1, to the same effect).
        if norm in self.exact:  # also an earlier question of the same batch
            self.drops.append(Drop(key, self.exact[norm], "exact", 1.0))
            return False
        # Each band's bucket is looked up once: read for candidates, appended to if kept.
        buckets = [band.get(bkey) for band, bkey in zip(self.bands, bkeys, strict=True)]
        rows: set[int] = set()
        for bucket in buckets:
            if bucket:
                rows.update(bucket)
        best, best_sim = self._best(norm, sig, sorted(rows))
        if best is not None:
            self.drops.append(Drop(key, self.keys[best], "near", round(best_sim, 3)))
            return False
        row = len(self.keys)
        if row == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.empty_like(self.matrix)])
        self.matrix[row] = sig
        self.keys.append(key)
        self.norms.append(norm)
        self.exact[norm] = key
        for band, bkey, bucket in zip(self.bands, bkeys, buckets, strict=True):
            if bucket is None:
                band[bkey] = [row]
            elif len(bucket) < self.BUCKET_CAP:
                bucket.append(row)
        return True

    def _best(self, norm: str, sig: np.ndarray, rows: list[int]):
        if not rows:
            return None, 0.0
        # Equal signature values per candidate; /NUM_PERM (a power of two, so exact) is the
        # MinHash estimate. Most candidates are far below the bar: one test, no sort.
        equal = np.count_nonzero(self.matrix[rows] == sig, axis=1)
        if equal.max() < (self.threshold - self.MARGIN) * NUM_PERM:
            return None, 0.0  # what the loop below finds at its first step
        estimates = equal / NUM_PERM
        sh = shingles(norm)
        best, best_sim = None, 0.0
        for i in np.argsort(-estimates, kind="stable")[: self.VERIFY]:
            if estimates[i] < self.threshold - self.MARGIN:
                break
            sim = jaccard(sh, shingles(self.norms[rows[i]]))
            if sim >= self.threshold and sim > best_sim:
                best, best_sim = rows[i], sim
        return best, best_sim
