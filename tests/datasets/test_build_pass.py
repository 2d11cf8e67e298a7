"""The build's single pass: files written while snapshotting are the stored items' files,
batched dedup decides as one-at-a-time dedup, and PII pre-checks never skip a match."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.core.management import call_command

from datasets import pii, selectors
from datasets.dedup import Deduper
from datasets.models import ReleaseItem
from tests.datasets.test_build import built_release
from tests.factories import make_example, make_examples

JSONL = ["openai_chat", "openai_dpo", "vertex_gemini", "trl_preference"]


@pytest.mark.django_db
def test_files_written_during_the_build_are_those_of_the_stored_items(lead, tmp_path):
    make_examples(lead, 8)
    make_examples(lead, 6, corrected=True)
    history = [
        {"role": "system", "content": "Answer from the context. Mail ops@example.com."},
        {"role": "user", "content": "Earlier question?"},
        {"role": "assistant", "content": "Earlier answer, call (415) 555-0132."},
        {"role": "user", "content": "Which port does Bolt use?"},
    ]
    make_example(lead, question="Which port does Bolt use?", messages=history, corrected=True)
    release = built_release(lead, formats=JSONL, fraction=0.3)
    assert release.state == "built", release.error
    out = tmp_path / "export"
    call_command("export_release", str(release.id), "--out", str(out))
    folder = selectors.release_folder(release)
    written = sorted(p.name for p in folder.glob("*.jsonl"))
    assert written and written == sorted(p.name for p in out.glob("*.jsonl"))
    for name in written:
        assert (folder / name).read_bytes() == (out / name).read_bytes(), name
    raw = b"".join((folder / name).read_bytes() for name in written)
    assert b"ops@example.com" not in raw and b"555-0132" not in raw


@pytest.mark.django_db
def test_an_uncorrected_item_stores_its_answer_once(lead):
    make_examples(lead, 10)
    make_examples(lead, 2, corrected=True)
    release = built_release(lead, formats=["openai_chat", "openai_dpo"], fraction=0)
    items = ReleaseItem.objects.filter(release=release)
    assert set(items.filter(corrected=False).values_list("original_answer", flat=True)) == {""}
    assert all(i.original_answer.startswith("Old answer") for i in items.filter(corrected=True))
    assert release.report["counts"]["files"]["openai_dpo"] == {"train": 2}


@pytest.mark.django_db
def test_items_the_build_writes_itself_read_back_as_their_examples(lead):
    """The snapshot writes ReleaseItems with its own INSERT (SQLite) or COPY (PostgreSQL):
    every field of the model is written, and each item reads back through the ORM with its
    example's id, flags and messages."""
    from datasets import snapshot

    fields = {f.attname for f in ReleaseItem._meta.concrete_fields} - {"id"}
    assert set(snapshot.COLUMNS) == fields
    make_examples(lead, 10)
    make_examples(lead, 2, corrected=True)
    release = built_release(lead, formats=["openai_chat"], fraction=0)
    items = list(ReleaseItem.objects.filter(release=release).select_related("example"))
    assert len(items) == 12 and [i.position for i in items] == list(range(12))
    for item in items:
        example = item.example  # the stored id is the example's, in the database's form
        assert (item.corrected, item.grounded) == (example.corrected, example.grounded)
        assert item.messages[-1] == {"role": "user", "content": example.question}
        assert item.model == example.model and item.split == "train"


def test_batched_dedup_keeps_what_one_at_a_time_dedup_keeps():
    rng = random.Random(4)
    words = "restore snapshot backup instance port bolt import csv plan invoice team".split()
    base = [" ".join(rng.choice(words) for _ in range(8)) + "?" for _ in range(150)]
    questions = []
    for _ in range(600):
        q = rng.choice(base)
        if rng.random() < 0.4:  # a near duplicate: one character more, or other case
            i = rng.randrange(len(q))
            q = q[:i] + rng.choice("xyzé ") + q[i:]
        questions.append(q if rng.random() < 0.8 else q.upper())
    questions += ["", "ab", "Ünïcödé ﬁle?", "ﬁle"]
    items = [(str(i), q) for i, q in enumerate(questions)]
    one = Deduper()
    kept_one = [one.seen(key, q) for key, q in items]
    batched = Deduper()
    kept_batched = [k for s in range(0, len(items), 97) for k in batched.keep(items[s : s + 97])]
    assert kept_one == kept_batched
    assert one.drops == batched.drops
    assert {d.kind for d in one.drops} == {"exact", "near"}


def _dedup_by_the_rule(items, threshold=0.8):
    """The dedup rule written plainly, one question at a time, with a dict of buckets per
    band (what Deduper did before its sorted index): the reference the fast one must match."""
    from datasets import dedup

    exact, norms, sigs, keys, kept = {}, [], [], [], []
    buckets = [{} for _ in range(dedup.BANDS)]
    bar = threshold - Deduper.MARGIN
    for key, question in items:
        norm = dedup.normalise(question)
        if norm in exact:
            kept.append((False, exact[norm], "exact"))
            continue
        sig = dedup.signature(dedup.shingles(norm))
        bands = [sig[b * dedup.ROWS : (b + 1) * dedup.ROWS].tobytes() for b in range(dedup.BANDS)]
        rows = sorted({r for b, band in enumerate(bands) for r in buckets[b].get(band, [])})
        ranked = sorted(rows, key=lambda r: -int((sigs[r] == sig).sum()))  # stable: row order
        best, best_sim = None, 0.0
        for r in ranked[: Deduper.VERIFY]:
            if (sigs[r] == sig).sum() / dedup.NUM_PERM < bar:
                break
            sim = dedup.jaccard(dedup.shingles(norm), dedup.shingles(norms[r]))
            if sim >= threshold and sim > best_sim:
                best, best_sim = r, sim
        if best is not None:
            kept.append((False, keys[best], "near"))
            continue
        for b, band in enumerate(bands):
            bucket = buckets[b].setdefault(band, [])
            if len(bucket) < Deduper.BUCKET_CAP:
                bucket.append(len(keys))
        exact[norm] = key
        norms.append(norm)
        sigs.append(sig)
        keys.append(key)
        kept.append((True, None, None))
    return kept


def test_dedup_keeps_and_drops_what_the_rule_written_plainly_does():
    """Near duplicates, case and accent variants, and templated questions (which fill
    buckets past their cap), fed in batches of several sizes."""
    rng = random.Random(11)
    words = "restore snapshot backup instance port bolt import csv plan invoice team".split()
    base = [" ".join(rng.choice(words) for _ in range(7)) + "?" for _ in range(120)]
    questions = []
    for _ in range(900):
        q = rng.choice(base)
        if rng.random() < 0.4:
            i = rng.randrange(len(q))
            q = q[:i] + rng.choice("xyzé ") + q[i:]
        questions.append(q if rng.random() < 0.8 else q.upper())
    questions += [f"How do I restore snapshot number {n} of instance {n % 7}?" for n in range(400)]
    questions += ["", "ab", "Ünïcödé ﬁle?", "ﬁle"]
    items = [(str(i), q) for i, q in enumerate(questions)]
    expected = _dedup_by_the_rule(items)
    assert {kind for _, _, kind in expected} == {None, "exact", "near"}
    for size in (1, 50, 333, 1000):
        deduper = Deduper()
        kept = [k for s in range(0, len(items), size) for k in deduper.keep(items[s : s + size])]
        assert kept == [k for k, _, _ in expected]
        dropped = [(d.duplicate_of, d.kind) for d in deduper.drops]
        assert dropped == [(of, kind) for k, of, kind in expected if not k]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Kartennummer für Zahlung: 4111 1111 1111 1111", "card"),  # not ASCII: no pre-check
        ("api_key=Zm9vYmFyYmF6", "secret"),
        ("token: abcdefghij", "secret"),
        ("AKIAIOSFODNN7EXAMPLE in the log", "secret"),
        ("ghp_" + "a" * 36, "secret"),
        ("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abcdefghijkl", "secret"),
        ("server 10.0.0.12 is down", "ip"),
        ("fe80::1ff:fe23:4567:890a", "ip"),
        ("call +44 20 7946 0958", "phone"),
    ],
)
def test_pii_pre_checks_let_every_kind_through(text, kind):
    counts = Counter()
    out = pii.scrub(text, counts)
    assert counts[kind] == 1 and pii.PLACEHOLDER[kind] in out


def test_text_without_pii_comes_back_unchanged_and_uncounted():
    counts = Counter()
    text = "Open the Snapshots tab, choose one and press Restore; it takes 3-5 minutes."
    assert pii.scrub(text, counts) == text and not counts


@pytest.mark.django_db(transaction=True)  # the build owns its transactions, as on a worker
def test_a_build_storing_its_items_a_batch_behind_stores_all_of_them_in_release_order(
    role_groups_restored, lead, monkeypatch, tmp_path
):
    """Outside a transaction, PostgreSQL stores each batch on a thread of its own while the
    next is prepared (snapshot._StoreBehind): every item is there once the build is, in
    the order the files hold them."""
    from datasets import services, snapshot

    monkeypatch.setattr(snapshot, "BATCH", 4)  # 15 examples: 4 batches, 3 of them behind
    make_examples(lead, 12)
    make_examples(lead, 3, corrected=True)
    release = services.release_create(
        user=lead, name="b", version=1, filters={}, formats=JSONL, seed=3
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    services.release_build(release_id=release.id)
    release.refresh_from_db()
    assert release.state == "built", release.error
    items = ReleaseItem.objects.filter(release=release).order_by("position")
    assert [i.position for i in items] == list(range(15))
    out = tmp_path / "export"  # written again from the stored items: the same bytes
    call_command("export_release", str(release.id), "--out", str(out))
    folder = selectors.release_folder(release)
    for path in folder.glob("*.jsonl"):
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name


@pytest.mark.django_db(transaction=True)
def test_a_batch_the_database_refuses_fails_the_build_with_its_reason(
    role_groups_restored, lead, monkeypatch
):
    """A store that fails (here a trigger refusing one item) fails the build, whether the
    batch was stored inline or a batch behind; nothing says "built"."""
    from django.db import connection

    from datasets import services, snapshot

    monkeypatch.setattr(snapshot, "BATCH", 4)
    make_examples(lead, 15)
    release = services.release_create(
        user=lead, name="f", version=1, filters={}, formats=["openai_chat"], seed=3
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    refuse = {
        "postgresql": [
            "CREATE FUNCTION refuse_item() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.position = 9 THEN RAISE EXCEPTION 'item 9 refused'; END IF;"
            " RETURN NEW; END $$",
            "CREATE TRIGGER refuse_item BEFORE INSERT ON datasets_releaseitem"
            " FOR EACH ROW EXECUTE FUNCTION refuse_item()",
        ],
        "sqlite": [
            "CREATE TRIGGER refuse_item BEFORE INSERT ON datasets_releaseitem"
            " WHEN new.position = 9 BEGIN SELECT RAISE(ABORT, 'item 9 refused'); END"
        ],
    }[connection.vendor]
    with connection.cursor() as cursor:
        for statement in refuse:
            cursor.execute(statement)
    try:
        services.release_build(release_id=release.id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER refuse_item ON datasets_releaseitem"
                if connection.vendor == "postgresql"
                else "DROP TRIGGER refuse_item"
            )
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION refuse_item()")
    release.refresh_from_db()
    assert release.state == "failed" and "item 9 refused" in release.error


@pytest.mark.django_db(transaction=True)
def test_a_build_goes_on_while_other_processes_commit(role_groups_restored, lead, monkeypatch):
    """Another connection commits between the build's reads (the web logging a turn, the
    graph drain): on SQLite a write on a connection whose read statement is still open got
    "database is locked" at once, failing the build at its next heartbeat."""
    import threading

    from django.contrib.auth.models import User
    from django.db import connection as own

    from datasets import services, snapshot

    monkeypatch.setattr(snapshot, "BATCH", 4)
    make_examples(lead, 15)
    release = services.release_create(
        user=lead, name="busy", version=1, filters={}, formats=["openai_chat"], seed=3
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    progress, commits = services._progress, []

    def elsewhere():  # a thread has a connection of its own: another writer
        from django.db import connection

        User.objects.filter(pk=lead.pk).update(first_name=f"commit {len(commits)}")
        commits.append(connection.vendor)
        connection.close()

    def busy_progress(release, stage, done, total=None):
        if stage == "snapshotting and writing":
            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
        progress(release, stage, done, total)

    monkeypatch.setattr(services, "_progress", busy_progress)
    services.release_build(release_id=release.id)

    release.refresh_from_db()
    assert len(commits) >= 3 and commits[0] == own.vendor  # committed between the reads
    assert release.state == "built", release.error
    assert ReleaseItem.objects.filter(release=release).count() == 15
