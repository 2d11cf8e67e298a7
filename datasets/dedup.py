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


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices starts[i], …, starts[i] + counts[i] - 1 for every i, concatenated."""
    offsets = np.cumsum(counts) - counts
    return np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))


@dataclass(frozen=True)
class Drop:
    key: str  # the dropped item's id
    duplicate_of: str
    kind: str  # "exact" or "near"
    similarity: float


# Band keys: a band's ROWS values mixed into one 64-bit number (and its band's number), so
# a whole batch's bands are looked up with one sorted search. Two different bands can mix
# to the same number; that only adds candidates, which the exact band test removes.
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93])
_MIX = _MIX.astype(np.uint64)[:ROWS]
_BAND_MIX = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0xFF51AFD7ED558CCD)
PAIRS = 1 << 13  # candidate pairs compared at once: 8,192 × 64 × 8 bytes = 4 MB


def band_keys(sigs: np.ndarray) -> np.ndarray:
    """One 64-bit key per signature and band, shape (len(sigs), BANDS)."""
    mixed = sigs.reshape(len(sigs), BANDS, ROWS) * _MIX  # wraps: deterministic
    return np.bitwise_xor.reduce(mixed, axis=2) ^ _BAND_MIX


class Deduper:
    """Feed items in release order with `keep([(key, question), …])` (or one at a time with
    `seen(key, question)`); False means drop it.

    A question's candidates are the earlier kept questions sharing one of its LSH bands,
    the first BUCKET_CAP of them per band (so templated questions — "… snapshot 1?",
    "… snapshot 2?", … — cost a bounded amount of work each, not a quadratic number of
    checks). Candidates are ranked by their MinHash estimate and only the few best are
    checked by exact Jaccard.

    The bands of every kept question are one sorted array of band keys (`band_keys`) with
    the question's row beside each, in keeping order. A batch first looks up all its bands
    at once and compares each question's signature with every question sharing a band key,
    vectorised (`_maybe_close`): almost no question comes near the threshold, and only
    those that do get the per-question work (their exact candidates, `_best`). With a
    dict of buckets per band and that work for every question, dedup took ~0.9 s of a
    20,000-example build and its buckets ~45 MB; the kept questions are the same.
    """

    VERIFY = 3  # exact Jaccard checks per question at most
    MARGIN = 0.15  # estimate slack below the threshold before a candidate is verified
    BUCKET_CAP = 32
    CROWD = 2 * BUCKET_CAP  # questions of a batch sharing a band key beyond which each
    # is checked on its own (`_best`) rather than against all the others

    def __init__(self, threshold: float = 0.8, expected: int = 1024):
        """`expected`: how many questions will come (the build knows): the signature
        matrix is allocated for them at once, not doubled as it fills (at 20,000, a
        32,768-row matrix of 16 MB and, while it grew, the 8 MB one beside it)."""
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.keys: list[str] = []
        self.norms: list[str] = []
        self.matrix = np.empty((max(expected, 1), NUM_PERM), dtype=np.uint64)
        self.band_index = np.empty(0, dtype=np.uint64)  # sorted band keys of kept rows
        self.band_rows = np.empty(0, dtype=np.int64)  # the row of each, ascending per key
        self.drops: list[Drop] = []

    def seen(self, key: str, question: str) -> bool:
        return self.keep([(key, question)])[0]

    def keep(self, items: list[tuple[str, str]]) -> list[bool]:
        """Whether each (key, question) is kept, in order: the same answers as calling
        `seen` for each, with the signatures of the batch computed at once."""
        norms = [normalise(question) for _, question in items]
        fresh = [i for i, norm in enumerate(norms) if norm not in self.exact]
        sigs = signatures(shingle_ids([norms[i] for i in fresh]))
        bkeys = band_keys(sigs)
        # The batch's band keys sorted once (stable: equal keys stay in question order):
        # sorted queries make the index searches cache-friendly.
        flat = bkeys.ravel()
        order = np.argsort(flat, kind="stable")
        sorted_keys, owners = flat[order], order // BANDS
        close = self._maybe_close(sigs, sorted_keys, owners)
        at = {i: n for n, i in enumerate(fresh)}
        kept_now: list[int] = []  # rows kept by this batch
        kept_fresh: list[int] = []  # and their index in `fresh`
        row_of = np.full(len(fresh), -1, dtype=np.int64)  # per fresh question, if kept
        out = []
        for i, (key, _) in enumerate(items):
            n = at.get(i)
            kept = self._keep(key, norms[i], n, sigs, bkeys, close, (kept_now, kept_fresh))
            if kept:
                row_of[n] = kept_now[-1]
                kept_fresh.append(n)
            out.append(kept)
        rows = row_of[owners]
        self._index(sorted_keys[rows >= 0], rows[rows >= 0])
        return out

    def _keep(self, key, norm, n, sigs, bkeys, close, now: tuple[list, list]) -> bool:
        # The normalised text is its own exact key (it was its SHA-1, to the same effect).
        if norm in self.exact:  # also an earlier question of the same batch
            self.drops.append(Drop(key, self.exact[norm], "exact", 1.0))
            return False
        sig = sigs[n]
        if close[n]:
            rows = self._candidates(sig, bkeys, n, *now)
            best, best_sim = self._best(norm, sig, rows)
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
        now[0].append(row)
        return True

    def _maybe_close(self, sigs: np.ndarray, keys: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Per question of the batch, whether a question sharing one of its band keys (kept
        in an earlier batch, or anywhere earlier in this one) has a MinHash estimate within
        MARGIN of the threshold. A superset of its real candidates is compared, so a
        question marked False has no candidate `_best` would accept. `keys` are the
        batch's band keys sorted, `owners` the question of each."""
        close = np.zeros(len(sigs), dtype=bool)
        # Band keys that many of this batch share (a template): those questions are
        # checked one by one, so they need no comparison here.
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        sizes = np.diff(np.r_[starts, len(keys)])
        crowded = np.repeat(sizes > self.CROWD, sizes)
        close[owners[crowded]] = True
        # Earlier batches: every kept row indexed under each band key.
        low = np.searchsorted(self.band_index, keys, side="left")
        count = np.searchsorted(self.band_index, keys, side="right") - low
        later = np.repeat(owners, count)
        earlier = self.band_rows[_ranges(low, count)]
        self._compare(close, sigs, later, self.matrix, earlier)
        # This batch: each question against those before it under the same band key.
        first = np.repeat(starts, sizes)  # each position's group start
        ahead = np.arange(len(keys)) - first  # how many of its group come before it
        ahead[crowded] = 0
        later = np.repeat(owners, ahead)
        earlier = owners[_ranges(first, ahead)]
        self._compare(close, sigs, later, sigs, earlier)
        return close

    def _compare(self, close, sigs, later, table, earlier) -> None:
        bar = (self.threshold - self.MARGIN) * NUM_PERM
        for start in range(0, len(later), PAIRS):
            a, b = later[start : start + PAIRS], earlier[start : start + PAIRS]
            unsure = ~close[a]  # a question already close needs no more comparisons
            a, b = a[unsure], b[unsure]
            equal = np.count_nonzero(sigs[a] == table[b], axis=1)
            close[a[equal >= bar]] = True

    def _candidates(
        self, sig: np.ndarray, bkeys: np.ndarray, n: int, kept_now: list, kept_fresh: list
    ) -> list[int]:
        """The question's candidates exactly: per band, the first BUCKET_CAP kept rows with
        the same band values (earlier batches first, then this one's), in row order."""
        bands = sig.reshape(BANDS, ROWS)
        low = np.searchsorted(self.band_index, bkeys[n], side="left")
        count = np.searchsorted(self.band_index, bkeys[n], side="right") - low
        found = self.band_rows[_ranges(low, count)]
        band_of = np.repeat(np.arange(BANDS), count)
        found, band_of = self._same_band(found, band_of, bands)
        rank = np.arange(len(found)) - np.searchsorted(band_of, band_of, side="left")
        keep = rank < self.BUCKET_CAP
        rows = set(found[keep].tolist())
        if kept_now:  # this batch's kept rows that share a band key, in row order
            where, band_now = np.nonzero(bkeys[kept_fresh] == bkeys[n])
            now, band_now = self._same_band(np.asarray(kept_now)[where], band_now, bands)
            room = self.BUCKET_CAP - np.bincount(band_of[keep], minlength=BANDS)
            order = np.argsort(band_now, kind="stable")
            now, band_now = now[order], band_now[order]
            rank = np.arange(len(now)) - np.searchsorted(band_now, band_now, side="left")
            rows.update(now[rank < room[band_now]].tolist())
        return sorted(rows)

    def _same_band(self, rows: np.ndarray, bands_of: np.ndarray, bands: np.ndarray):
        """The (row, band) pairs whose band values are the question's (`bands`), not
        only their mixed key."""
        columns = bands_of[:, None] * ROWS + np.arange(ROWS)
        same = np.all(self.matrix[rows[:, None], columns] == bands[bands_of], axis=1)
        return rows[same], bands_of[same]

    def _index(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add kept rows' band keys (sorted, rows ascending under equal keys) to the index,
        after equal keys already there, up to BUCKET_CAP rows a key: more are never
        candidates (a question's candidates are the first BUCKET_CAP per band), unless two
        different bands mixed to one key (odds ~1e-11 at 20,000 questions), when a later
        one could be missed."""
        if not len(keys):
            return
        low = np.searchsorted(self.band_index, keys, side="left")
        at = np.searchsorted(self.band_index, keys, side="right")
        # Room under each key: the cap less those indexed, less those of this batch before.
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        before = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
        room = (at - low) + before < self.BUCKET_CAP
        self.band_index = np.insert(self.band_index, at[room], keys[room])
        self.band_rows = np.insert(self.band_rows, at[room], rows[room])

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
