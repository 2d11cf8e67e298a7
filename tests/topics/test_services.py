"""Discovered topics stored and kept stable: services against the database."""

from __future__ import annotations

import pytest

from chat.models import Topic, TopicMembership, Turn
from chat.services import turn_set_topic
from outbox.models import OutboxEntry
from tests.factories import log_questions
from topics import services
from topics.discovery import Params

pytestmark = pytest.mark.django_db
SMALL = Params(seed=0, min_size=3)


def _discover(seed: int = 0):
    return services.topics_discover(params=Params(seed=seed, min_size=3))


def _members() -> dict:
    out: dict = {}
    for topic_id, turn_id in TopicMembership.objects.filter(method="discovered").values_list(
        "topic_id", "turn_id"
    ):
        out.setdefault(topic_id, set()).add(turn_id)
    return out


def test_discovery_stores_topics_with_members_scores_and_primary_topic(end_user):
    made = log_questions(end_user, per_topic=15)
    found, kept = _discover()
    assert 18 <= found <= 28 and kept == 0
    assert Topic.objects.filter(method="discovered").count() == found
    turn, _ = made[0]
    membership = TopicMembership.objects.get(turn=turn, method="discovered")
    assert 0 < membership.score <= 1
    turn.refresh_from_db()
    assert turn.topic_id == membership.topic_id  # no keyword or manual topic: discovered is primary
    assert OutboxEntry.objects.filter(entity="turn", entity_id=str(turn.pk)).exists()


def test_running_again_on_the_same_questions_changes_nothing(end_user):
    log_questions(end_user, per_topic=15)
    _discover()
    before = _members()
    names = dict(Topic.objects.values_list("id", "name"))
    found, kept = _discover()
    assert kept == found
    assert _members() == before
    assert dict(Topic.objects.values_list("id", "name")) == names


def test_a_rerun_after_new_questions_keeps_ids_and_expert_names(end_user, expert):
    first = log_questions(end_user, per_topic=12, seed=1)
    _discover()
    turn, _ = first[0]
    topic = TopicMembership.objects.get(turn=turn, method="discovered").topic
    services.topic_rename(topic=topic, name="Money back")
    ids_before = set(Topic.objects.values_list("id", flat=True))
    log_questions(end_user, per_topic=12, seed=2)  # as many new questions again
    found, kept = _discover()
    assert kept >= 0.9 * len(ids_before)
    assert Topic.objects.get(pk=topic.pk).name == "Money back"
    assert TopicMembership.objects.get(turn=turn, method="discovered").topic_id == topic.pk
    assert Topic.objects.get(pk=topic.pk).memberships.count() > len(
        [1 for t, k in first if TopicMembership.objects.filter(turn=t, topic=topic).exists()]
    )  # new questions joined the kept topic


def test_pinned_topics_and_manual_choices_survive_a_rerun(end_user):
    made = log_questions(end_user, per_topic=15)
    _discover()
    turns = [t for t, _ in made]
    a = TopicMembership.objects.get(turn=turns[0], method="discovered").topic
    b = next(
        m.topic
        for m in TopicMembership.objects.filter(turn__in=turns, method="discovered")
        if m.topic_id != a.pk
    )
    # an expert moves one question of a by hand into b, and splits two off a into a pinned topic
    moved = turns[0]
    turn_set_topic(turn=moved, topic=b)
    rest = list(a.memberships.filter(method="discovered").exclude(turn=moved)[:2])
    split = services.topic_split(topic=a, turn_ids=[m.turn_id for m in rest], name="Edge cases")
    assert split.pinned
    _discover(seed=5)
    moved.refresh_from_db()
    assert TopicMembership.objects.get(turn=moved, method="manual").topic_id == b.pk
    assert moved.topic_id == b.pk  # manual is the primary topic
    assert set(split.memberships.values_list("turn_id", flat=True)) >= {m.turn_id for m in rest}
    assert Topic.objects.get(pk=split.pk).name == "Edge cases"


def test_keyword_topics_keep_working_beside_discovered_ones(end_user):
    made = log_questions(end_user, per_topic=15)
    keyword = Topic.objects.create(name="Refunds", keywords=["refund"])
    turn = next(t for t, _ in made if "refund" in t.question.split())
    TopicMembership.objects.create(turn=turn, topic=keyword, method="keyword")
    _discover()
    methods = set(TopicMembership.objects.filter(turn=turn).values_list("method", flat=True))
    assert methods == {"keyword", "discovered"}
    turn.refresh_from_db()
    assert turn.topic_id == keyword.pk  # keyword before discovered
    assert Topic.objects.filter(pk=keyword.pk).exists()


def test_merging_moves_the_questions_and_deletes_the_merged_topic(end_user):
    log_questions(end_user, per_topic=15)
    _discover()
    a, b = list(Topic.objects.filter(method="discovered")[:2])
    a_turns = set(a.memberships.values_list("turn_id", flat=True))
    services.topic_merge(source=a, target=b)
    assert not Topic.objects.filter(pk=a.pk).exists()
    assert a_turns <= set(b.memberships.values_list("turn_id", flat=True))
    assert set(Turn.objects.filter(id__in=a_turns).values_list("topic_id", flat=True)) == {b.pk}


def test_bad_edits_are_refused_and_store_nothing(end_user):
    log_questions(end_user, per_topic=15)
    _discover()
    a, b = list(Topic.objects.filter(method="discovered")[:2])
    with pytest.raises(services.TopicError):
        services.topic_rename(topic=a, name="   ")
    with pytest.raises(services.TopicError):
        services.topic_rename(topic=a, name=b.name.upper())
    with pytest.raises(services.TopicError):
        services.topic_merge(source=a, target=a)
    every = list(a.memberships.values_list("turn_id", flat=True))
    with pytest.raises(services.TopicError):
        services.topic_split(topic=a, turn_ids=every, name="All of it")
    assert not Topic.objects.filter(name="All of it").exists()
    assert Topic.objects.get(pk=a.pk).name == a.name


def test_a_queued_run_is_claimed_once_and_reports_progress(
    end_user, lead, django_capture_on_commit_callbacks
):
    log_questions(end_user, per_topic=15)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.discovery_run_create(user=lead)
        assert services.discovery_run_create(user=lead).pk == run.pk  # one at a time
    done = services.discovery_run_execute(run_id=run.pk)
    assert (done.status, done.percent) == ("done", 100)
    assert done.questions == 24 * 15 and done.topics_found >= 18
    again = services.discovery_run_execute(run_id=run.pk)  # a redelivered task
    assert again.topics_kept == 0 and again.status == "done"


def test_a_run_whose_worker_died_is_requeued_by_the_sweeper_and_finishes(
    end_user, lead, django_capture_on_commit_callbacks
):
    """A worker killed mid-discovery leaves the run "running" with a lease nobody renews;
    it used to block every later run. The job sweeper gives it back and it completes."""
    from datetime import timedelta

    from django.utils import timezone

    from reviewhub import jobs
    from topics.models import DiscoveryRun

    log_questions(end_user, per_topic=6)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.discovery_run_create(user=lead)
    stale = timezone.now() - timedelta(hours=1)
    DiscoveryRun.objects.filter(pk=run.pk).update(
        status="running", lease_owner="dead-worker", heartbeat_at=stale, attempts=1
    )
    assert services.discovery_run_execute(run_id=run.pk).status == "running"  # held
    with django_capture_on_commit_callbacks(execute=False):
        assert services.discovery_run_create(user=lead).pk == run.pk  # still the one
    with django_capture_on_commit_callbacks(execute=False):
        assert jobs.job_sweep()["requeued"] == 1
    run.refresh_from_db()
    assert run.lease_owner == "" and "re-queued" in run.job_note
    done = services.discovery_run_execute(run_id=run.pk)
    assert (done.status, done.percent, done.attempts) == ("done", 100, 2)
    assert done.topics_found == Topic.objects.filter(method="discovered").count() > 0


def test_with_an_llm_configured_new_topics_get_a_short_name_from_it(end_user, llm_server):
    llm_server.answer = "Invoices and charges."
    log_questions(end_user, per_topic=15)
    found, _ = _discover()
    topics = list(Topic.objects.filter(method="discovered"))
    assert {t.named_by for t in topics} == {"llm"}
    names = {t.name for t in topics}
    assert {"Invoices and charges", "Invoices and charges (2)"} <= names and len(names) == found
    asked = [r for r in llm_server.requests if r["path"] == "/v1/chat/completions"]
    assert len(asked) == found
    assert topics[0].terms[0] in " ".join(
        r["body"]["messages"][0]["content"] for r in asked
    )  # the prompt carries the topic's distinctive words
    assert any(r["path"] == "/v1/embeddings" for r in llm_server.requests)  # text as embeddings
