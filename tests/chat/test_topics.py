from __future__ import annotations

import pytest
from django.core.management import call_command

from chat.topics import best_topic, score
from outbox.models import OutboxEntry
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_score_counts_whole_words_and_phrases():
    assert score("How do I get a refund?", ["refund", "invoice"]) == 1
    assert score("refunds", ["refund"]) == 0  # whole tokens only
    assert score("what is the refund policy", ["refund policy", "refund"]) == 3
    assert score("anything", []) == 0


def test_best_topic_prefers_the_highest_score_then_the_name(db):
    billing = f.topic("Billing", ["refund", "invoice"])
    shipping = f.topic("Shipping", ["parcel", "refund"])
    assert best_topic("refund my parcel", [billing, shipping]) == shipping
    assert best_topic("refund", [shipping, billing]) == billing  # tie → name order
    assert best_topic("hello", [billing, shipping]) is None


def test_assign_topics_never_overwrites_an_experts_choice_even_with_redo(end_user):
    from chat.models import TopicMembership
    from chat.services import turn_set_topic

    billing = f.topic("Billing", ["refund"])
    other = f.topic("Other", ["zzz"])
    conv = f.conversation(end_user)
    t1 = f.turn(conv, question="refund please")
    t2 = f.turn(conv, question="refund again")
    t3 = f.turn(conv, question="hello")
    turn_set_topic(turn=t2, topic=other)  # chosen by an expert
    OutboxEntry.objects.all().delete()
    call_command("assign_topics")
    for t in (t1, t2, t3):
        t.refresh_from_db()
    assert (t1.topic_id, t2.topic_id, t3.topic_id) == (billing.id, other.id, None)
    # t2 is about billing by the keywords too, beside the expert's choice
    assert set(TopicMembership.objects.filter(turn=t2).values_list("method", "topic_id")) == {
        ("manual", other.id),
        ("keyword", billing.id),
    }
    assert set(OutboxEntry.objects.values_list("entity", "entity_id")) == {
        ("turn", str(t1.id)),
        ("turn", str(t2.id)),
    }
    call_command("assign_topics", "--redo")
    t2.refresh_from_db()
    assert t2.topic_id == other.id
    turn_set_topic(turn=t2, topic=None)  # the expert withdraws the choice: keywords decide
    assert t2.topic_id == billing.id


def test_assigned_topics_reach_the_review_queue_filter(end_user, expert):
    from annotations.models import QueueItem
    from annotations.services import queue_refresh

    billing = f.topic("Billing", ["refund"])
    conv = f.conversation(end_user)
    t1 = f.turn(conv, question="refund please")
    queue_refresh(turn_ids=[t1.id])
    assert QueueItem.objects.get(turn=t1).topic_id is None
    call_command("assign_topics")
    assert QueueItem.objects.get(turn=t1).topic_id == billing.id


def test_an_experts_topic_choice_reaches_the_review_queue(end_user):
    from annotations.models import QueueItem
    from annotations.services import queue_refresh
    from chat.services import turn_set_topic

    shipping = f.topic("Shipping", ["parcel"])
    t1 = f.turn(f.conversation(end_user), question="where is it?")
    queue_refresh(turn_ids=[t1.id])
    turn_set_topic(turn=t1, topic=shipping)
    assert QueueItem.objects.get(turn=t1).topic_id == shipping.id
