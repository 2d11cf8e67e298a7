"""Split determinism, dedup and PII scrubbing, snapshots, filters."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from datasets import pii, selectors
from datasets.dedup import Deduper
from datasets.models import ReleaseItem
from tests.datasets.test_build import built_release, read_lines
from tests.factories import make_example, make_examples


def test_split_is_deterministic_and_depends_on_the_seed():
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(400)]
    first = [selectors.split_for(i, seed=1, validation_fraction=0.2) for i in ids]
    again = [selectors.split_for(i, seed=1, validation_fraction=0.2) for i in ids]
    other = [selectors.split_for(i, seed=2, validation_fraction=0.2) for i in ids]
    assert first == again
    assert first != other
    assert 40 <= first.count("validation") <= 120  # about a fifth
    assert all(
        s == "train" for s in (selectors.split_for(i, seed=1, validation_fraction=0) for i in ids)
    )


@pytest.mark.django_db
def test_built_split_matches_the_hash_and_changes_with_seed(lead):
    make_examples(lead, 30)
    a = built_release(lead, name="a", seed=5, fraction=0.3)
    b = built_release(lead, name="b", seed=5, fraction=0.3)
    c = built_release(lead, name="c", seed=6, fraction=0.3)

    def splits(release):
        return dict(ReleaseItem.objects.filter(release=release).values_list("example_id", "split"))

    assert splits(a) == splits(b)
    assert splits(a) != splits(c)
    for example_id, split in splits(a).items():
        assert split == selectors.split_for(example_id, seed=5, validation_fraction=0.3)


def test_dedup_drops_exact_and_near_duplicates_keeping_the_first():
    d = Deduper()
    assert d.seen("1", "How do I restore a snapshot from the console?")
    assert not d.seen("2", "how do I restore a  snapshot from the console")  # exact, normalised
    assert not d.seen("3", "How do I restore a snapshot from the consoles?")  # near
    assert d.seen("4", "What port does the Bolt protocol use?")
    kinds = {drop.key: (drop.kind, drop.duplicate_of) for drop in d.drops}
    assert kinds["2"] == ("exact", "1")
    assert kinds["3"][0] == "near" and kinds["3"][1] == "1"
    assert "4" not in kinds


@pytest.mark.django_db
def test_build_reports_what_dedup_dropped(lead):
    make_examples(lead, 12)
    make_example(lead, question="How do I restore a snapshot from the console?")
    make_example(lead, question="how do i restore a snapshot from the console")
    make_example(lead, question="How do I restore a snapshot from the consoles?")
    release = built_release(lead)
    dedup = release.report["dedup"]
    assert dedup["exact"] + dedup["near"] == 2
    assert release.report["counts"]["examples"] == 13
    assert {d["kind"] for d in dedup["dropped"]} <= {"exact", "near"}
    assert all(d["question"] for d in dedup["dropped"])


def test_pii_scrub_finds_each_kind():
    counts = Counter()
    text = (
        "Mail jane.doe@example.com, call (415) 555-0132 or +44 20 7946 0958. "
        "Card 4111 1111 1111 1111 (order 1234567890123 stays). Host 192.168.1.20, "
        "key sk-proj-abcdefghijklmnopqrstuvwx12 and AKIAIOSFODNN7EXAMPLE, password=hunter2pw. "
        "Bolt uses port 7687 since 2019, version 1.2.3, $65 per month."
    )
    out = pii.scrub(text, counts)
    assert counts == Counter(email=1, phone=2, card=1, ip=1, secret=3)
    for leaked in ("jane.doe", "555-0132", "7946", "4111", "192.168", "sk-proj", "AKIA", "hunter2"):
        assert leaked not in out
    for kept in ("1234567890123", "7687", "2019", "1.2.3", "$65"):
        assert kept in out


def test_luhn():
    assert pii.luhn_ok("4111111111111111")
    assert not pii.luhn_ok("4111111111111112")


@pytest.mark.django_db
def test_build_scrubs_pii_from_files_and_counts_by_kind(lead):
    make_examples(lead, 11)
    make_example(
        lead,
        question="My email is bob@example.org, what now?",
        answer="We will call you at (415) 555-0132.",
    )
    release = built_release(lead, formats=["openai_chat"], fraction=0)
    pii_report = release.report["pii"]
    assert pii_report["email"] == 1 and pii_report["phone"] == 1
    raw = (selectors.release_folder(release) / "train.openai_chat.jsonl").read_text()
    assert "bob@example.org" not in raw and "555-0132" not in raw
    assert "[EMAIL]" in raw and "[PHONE]" in raw


@pytest.mark.django_db
def test_snapshot_does_not_change_when_the_example_is_edited(lead, tmp_path):
    examples = make_examples(lead, 12)
    release = built_release(lead, formats=["openai_chat"], fraction=0)
    before = (selectors.release_folder(release) / "train.openai_chat.jsonl").read_bytes()
    examples[0].answer = "Edited after the build."
    examples[0].save()
    item = ReleaseItem.objects.get(release=release, example=examples[0])
    assert item.answer != "Edited after the build."
    out = tmp_path / "out"
    call_command("export_release", str(release.id), "--out", str(out))
    assert (out / "train.openai_chat.jsonl").read_bytes() == before


@pytest.mark.django_db
def test_filters_select_by_date_topic_tags_scores_grounded_reviewers(lead, expert, expert2):
    from chat.models import Topic

    topic = Topic.objects.create(name="backups")
    old = timezone.now() - timedelta(days=30)
    make_example(lead, approved_at=old, tags=["a"])
    make_example(lead, topic=topic, tags=["b"], scores={"accuracy": 5})
    make_example(lead, grounded=False, scores={"accuracy": 2}, reviewers=[expert])
    make_example(lead, tags=["a", "c"], reviewers=[expert2])

    def count(**filters):
        return selectors.preview(filters, validation_fraction=0.1, seed=0)["examples"]

    assert count() == 4
    assert count(date_from=(timezone.now() - timedelta(days=7)).date().isoformat()) == 3
    assert count(date_to=(timezone.now() - timedelta(days=7)).date().isoformat()) == 1
    assert count(topics=[str(topic.id)]) == 1
    assert count(tags=["a"]) == 2
    assert count(min_scores={"accuracy": 4.5}) == 1
    assert count(grounded_only=True) == 3
    assert count(reviewers=[expert.id, expert2.id]) == 2
    preview = selectors.preview({}, validation_fraction=0.1, seed=0)
    assert preview["errors"] and "at least 10" in preview["errors"][0]


@pytest.mark.django_db
def test_build_with_fewer_than_ten_examples_is_refused(lead):
    from datasets import services

    make_examples(lead, 9)
    release = services.release_create(
        user=lead, name="tiny", version=1, filters={}, formats=["openai_chat"]
    )
    with pytest.raises(services.ReleaseError, match="at least 10"):
        services.release_request_build(release=release, user=lead)
    release.refresh_from_db()
    assert release.state == "draft"


@pytest.mark.django_db
def test_fewer_than_ten_after_dedup_fails_the_build(lead):
    make_examples(lead, 8)
    for _ in range(4):
        make_example(lead, question="The same question?")
    release = built_release(lead)
    assert release.state == "failed"
    assert "at least 10" in release.error and "dedup" in release.error
    assert not list(selectors.release_folder(release).glob("*.jsonl"))


@pytest.mark.django_db
def test_withdrawn_examples_are_not_exported(lead):
    from annotations.models import Example

    examples = make_examples(lead, 12)
    Example.objects.filter(id=examples[0].id).update(status="withdrawn")
    release = built_release(lead, formats=["openai_chat"], fraction=0)
    assert len(read_lines(release, "train.openai_chat.jsonl")) == 11
