"""A release's snapshot: the selected examples copied into ReleaseItems (tags, dedup, PII
scrub, split) and handed to the file writer in the same pass.

One pass, a batch of examples at a time: read (JSON, UUIDs and flags as text and integers,
no per-row converters), keep those the tags select, drop duplicate questions
(`Deduper.keep`, signatures for the batch at once), scrub, insert the batch's items in a
short transaction (`_store`: multi-row INSERTs on SQLite, COPY on PostgreSQL, there on a
thread of its own while the next batch is prepared: `_StoreBehind`), count what the
card and the topic balance need, and yield the rows to `exports.write_files`. The files are
written from exactly the rows stored, in release order, so they are the same bytes as
writing them from the stored items afterwards (`services.iter_rows`, which
`export_release` still uses).

Measured on 20,000 examples (bench/bench_release.py, SQLite, a loaded 2-core machine) the
build took ~15 s: PII regexes over text that held none (~5 s), per-question MinHash (~4 s),
model instances for `bulk_create` (~3 s), reading every item back to write the files
(~2 s). Then 3.5 s wall for ~3.5 s of CPU (SQLite) and 5.8 s on PostgreSQL (2 s of it the
multi-row INSERT). Now ~2.1 s of CPU on SQLite and ~1.7 s (client) on PostgreSQL: dedup
(~0.5 s, half of it hashing shingles) is the largest part left.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import orjson
from django.db import connection, connections, transaction
from django.db.models import IntegerField, QuerySet, TextField
from django.db.models.functions import Cast

from datasets import exports, pii, selectors
from datasets.models import Release, ReleaseItem
from reviewhub import bulk

BATCH = 1000
# Scrubbed texts remembered: a batch's (each question is scrubbed twice; a system prompt
# without passages repeats). 10,000 also kept prompts with their passages, which rarely
# repeat: the build's peak RSS was ~4 MB higher, for no measurable CPU.
MEMO = 3_000


class TooFewKept(Exception):
    """Fewer than MIN_EXAMPLES examples remain after tag filters and dedup."""


class Snapshot:
    """Feed `rows(matching)` to the writer; `summary()` then holds counts, dedup and PII."""

    def __init__(self, release: Release, expected: int = 1024):
        """`expected`: how many examples the release selects (sizes the dedup index)."""
        self.release = release
        self.pii: Counter = Counter()
        self.splits: Counter = Counter()
        from datasets.dedup import Deduper  # numpy: loaded by the worker's build, not the web

        self.deduper = Deduper(expected=expected)
        self.dropped_questions: dict[str, str] = {}
        self.selected = self.kept = self.corrected = 0
        self._memo: dict[str, tuple[str, Counter]] = {}
        # What the dataset card says of the kept examples (`hf.card_facts`), counted here
        # rather than read back from the stored items (a 20,000-row join, 0.35 s).
        self.topics: dict[str, Counter] = defaultdict(Counter)
        self.models: Counter = Counter()
        self.balance: Counter = Counter()  # kept examples per selectors.BALANCE_TOPIC
        self.score_sums: dict[str, list] = defaultdict(lambda: [0.0, 0])

    def rows(
        self, matching: QuerySet, on_progress: Callable[[int], None] | None = None
    ) -> Iterator[exports.Row]:
        """The kept examples as writer rows, in release order, each stored as a ReleaseItem
        (a batch behind, `_StoreBehind`; all of them before the last row is followed by the
        end). Raises TooFewKept after the last row when too few remain."""
        # Text and integer casts: rows come without Django's per-row converters (a UUID
        # object per example and bools on SQLite, JSON parsed by json), ~0.15 s at 20,000.
        values = matching.annotate(
            id_text=Cast("id", TextField()),
            tags_text=Cast("tags", TextField()),
            messages_text=Cast("messages", TextField()),
            corrected_n=Cast("corrected", IntegerField()),
            grounded_n=Cast("grounded", IntegerField()),
            scores_text=Cast("scores", TextField()),
            balance_topic=selectors.BALANCE_TOPIC,
        ).values_list(
            "id_text",
            "tags_text",
            "messages_text",
            "question",
            "answer",
            "original_answer",
            "corrected_n",
            "grounded_n",
            "model",
            "topic__name",
            "scores_text",
            "balance_topic",
        )
        self._store = _StoreBehind()
        try:
            yield from self._rows(values, on_progress)
        finally:
            self._store.close()  # every item stored (or the first error raised) before going on

    def _rows(self, values: QuerySet, on_progress: Callable[[int], None] | None) -> Iterator:
        batch: list[tuple] = []
        for example in _chunked(values):
            batch.append(example)
            if len(batch) == BATCH:
                yield from self._batch(batch)
                batch = []
                if on_progress:
                    on_progress(self.selected)
        yield from self._batch(batch)
        if on_progress:
            on_progress(self.selected)
        if self.kept < exports.MIN_EXAMPLES:
            raise TooFewKept

    def _batch(self, batch: list[tuple]) -> list[exports.Row]:
        self.selected += len(batch)
        filters, loads = self.release.filters, orjson.loads
        batch = [ex for ex in batch if selectors.passes_tags(filters, loads(ex[1]))]
        questions = [self._scrub(ex[3], counted=False) for ex in batch]  # counted in messages
        keys = [exports.dashed_uuid(ex[0]) for ex in batch]
        keep = self.deduper.keep(list(zip(keys, questions, strict=True)))
        items, rows = [], []
        for ex, key, question, kept in zip(batch, keys, questions, keep, strict=True):
            if not kept:
                self.dropped_questions[key] = question
                continue
            item = self._item(ex, key, question)
            items.append(item)
            rows.append(
                exports.Row(
                    key,
                    item["split"],
                    item["messages"],
                    item["answer"],
                    item["original_answer"],
                    item["corrected"],
                )
            )
        self._store.put(items)
        return rows

    def _item(self, ex: tuple, key: str, question: str) -> dict:
        example_id, _, messages, _, answer, original = ex[:6]
        corrected, grounded, model, topic, scores, balance_topic = (
            bool(ex[6]),
            bool(ex[7]),
            *ex[8:],
        )
        answer = pii.scrub(answer, self.pii)  # answers rarely repeat: not remembered
        original = pii.scrub(original, self.pii) if corrected else ""  # else: the answer
        split = selectors.split_for(
            key, seed=self.release.seed, validation_fraction=self.release.validation_fraction
        )
        self.splits[split] += 1
        self.corrected += corrected
        self.topics[topic or ""][split] += 1
        self.models[model or ""] += 1
        self.balance[balance_topic] += 1
        for name, value in orjson.loads(scores).items() if scores else ():
            if isinstance(value, int | float):
                self.score_sums[name][0] += value
                self.score_sums[name][1] += 1
        position, self.kept = self.kept, self.kept + 1
        # The messages the model saw, stored whole at approval (annotations 0009 rebuilt
        # the older ones), scrubbed. An example without any would be invalid in every
        # format: exports.write_files excludes and counts it rather than guess a prompt.
        prompt = orjson.loads(messages)
        return {
            "release_id": self.release.id,
            "example_id": example_id,  # as the database gives it as text
            "position": position,
            "split": split,
            "messages": [{"role": m["role"], "content": self._scrub(m["content"])} for m in prompt],
            "question": question,
            "answer": answer,
            "original_answer": original,
            "corrected": corrected,
            "grounded": grounded,
            "model": model,
        }

    def _scrub(self, text: str, counted: bool = True) -> str:
        """pii.scrub, remembered per text: the same text gives the same result and counts."""
        hit = self._memo.get(text)
        if hit is None:
            found: Counter = Counter()
            hit = (pii.scrub(text, found), found)
            if len(self._memo) >= MEMO:
                self._memo.clear()
            self._memo[text] = hit
        if counted and hit[1]:
            self.pii.update(hit[1])
        return hit[0]

    def card_counts(self) -> dict:
        """Topics per split, models and mean scores of the kept examples, in release order
        (the card's `topics`, `models` and `mean_scores`)."""
        return {
            "topics": {name: dict(counts) for name, counts in self.topics.items()},
            "models": dict(self.models),
            "mean_scores": {k: round(s / n, 3) for k, (s, n) in self.score_sums.items() if n},
        }

    def summary(self) -> dict:
        drops = self.deduper.drops
        return {
            "balance": dict(self.balance),
            "counts": {
                "selected": self.selected,
                "examples": self.kept,
                "corrected": self.corrected,
                "splits": {s: self.splits[s] for s in ("train", "validation")},
            },
            "dedup": {
                "method": "normalised-text SHA-1 (exact); 5-char shingle MinHash/LSH, Jaccard ≥ "
                f"{self.deduper.threshold} (near); first in release order kept",
                "exact": sum(d.kind == "exact" for d in drops),
                "near": sum(d.kind == "near" for d in drops),
                "dropped": [
                    {
                        "example": d.key,
                        "duplicate_of": d.duplicate_of,
                        "kind": d.kind,
                        "similarity": d.similarity,
                        "question": self.dropped_questions[d.key][:200],
                    }
                    for d in drops[:200]
                ],
            },
            "pii": {
                "total": sum(self.pii.values()),
                **{k: self.pii[k] for k in pii.KINDS},
                "method": "phonenumbers (phones); regexes with Luhn/ipaddress checks (rest)",
            },
        }


# The columns a ReleaseItem row is written with (the id is the database's).
COLUMNS = (
    "release_id",
    "example_id",
    "position",
    "split",
    "messages",
    "question",
    "answer",
    "original_answer",
    "corrected",
    "grounded",
    "model",
)


def _chunked(values: QuerySet) -> Iterator[tuple]:
    """`values` (ordered by id, the id's text first) a chunk at a time.

    On SQLite each chunk is its own finished query (keyset on id): an iterator keeps its
    statement open, and the build writes on the same connection meanwhile (its heartbeat,
    the items); once another process had committed (a chat turn, the graph drain), such a
    write got SQLITE_BUSY_SNAPSHOT, "database is locked" at once, and the build failed."""
    if connection.vendor != "sqlite":
        yield from values.iterator(chunk_size=BATCH)
        return
    after = None
    while True:
        chunk = list((values.filter(id__gt=after) if after else values)[:BATCH])
        yield from chunk
        if len(chunk) < BATCH:
            return
        after = chunk[-1][0]


class _StoreBehind:
    """Stores each batch's items on a thread of its own (with its own connection) while the
    next batch is prepared, so the database's part (the insert, its indexes, the foreign-key
    checks at commit: ~0.6 s of a 20,000-example build's wall time on PostgreSQL) overlaps the
    build's Python work instead of adding to it. At most one batch is in flight; a failed store
    raises at the next `put` or at `close`. It stores inline inside an atomic block (another
    connection would not see that transaction's examples: a caller's transaction, tests) and
    on SQLite, where the database works in this process and a connection reading the
    examples may not write once another has committed (SQLITE_BUSY_SNAPSHOT: the build's
    progress heartbeat failed with "database is locked")."""

    def __init__(self) -> None:
        self._pool = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="release-items")
        self._pending: Future | None = None

    def put(self, items: list[dict]) -> None:
        if self._pool is None:
            _store(items)
            return
        self._wait()
        self._pending = self._pool.submit(_store, items)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        if self._pool is None:
            return
        try:
            self._wait()
        finally:
            self._pool.submit(connections.close_all).result()  # the thread's own connection
            self._pool.shutdown()
            self._pool = None


def _store(items: list[dict]) -> None:
    """Insert a batch of ReleaseItems in a short transaction of its own, the values as the
    database takes them (UUIDs as the text it gave; JSON by orjson).

    On PostgreSQL: COPY (psycopg's C row writer), not a multi-row INSERT, which took 2 of
    the 5 s of a 20,000-item build there; and the batch's commit does not wait for its
    WAL flush (synchronous_commit off, this transaction only). That loses nothing a
    build needs: a crash before the release is marked built re-runs the build, which
    deletes the items first, and the commit that marks it built is synchronous, so it
    flushes the WAL of every batch before it.
    """
    if not items:
        return
    postgres = connection.vendor == "postgresql"
    release = items[0]["release_id"]
    release = str(release) if postgres else release.hex  # SQLite keeps UUIDs as 32 hex digits
    dumps = orjson.dumps
    rows = [
        (
            release,
            item["example_id"],
            item["position"],
            item["split"],
            dumps(item["messages"]).decode(),
            item["question"],
            item["answer"],
            item["original_answer"],
            item["corrected"],
            item["grounded"],
            item["model"],
        )
        for item in items
    ]
    with transaction.atomic():
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        bulk.insert_values(ReleaseItem, COLUMNS, rows)
