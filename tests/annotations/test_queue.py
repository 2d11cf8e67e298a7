from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from annotations import services
from annotations.models import AuditEvent, QueueItem
from annotations.selectors import QueueFilters
from chat.models import Feedback, Topic, Turn
from tests.factories import make_turn

pytestmark = pytest.mark.django_db


def item_of(turn) -> QueueItem:
    return QueueItem.objects.get(turn=turn)


def test_priority_puts_thumbs_down_first_then_ungrounded_then_low_scores(end_user):
    good = make_turn(end_user, score=0.9)
    low = make_turn(end_user, score=0.2)
    ungrounded = make_turn(end_user, grounded=False)
    down = make_turn(end_user, score=0.9, feedback="down")
    ranked = list(QueueItem.objects.order_by("-priority").values_list("turn_id", flat=True))
    assert ranked == [down.id, ungrounded.id, low.id, good.id]
    assert item_of(down).priority == 100 + 10 and item_of(good).priority == 10


def test_feedback_change_refreshes_priority_and_signal(end_user):
    turn = make_turn(end_user)
    assert item_of(turn).feedback == "none"
    Feedback.objects.create(turn=turn, user=end_user, rating="down")
    services.queue_refresh(turn_ids=[turn.id])
    item = item_of(turn)
    assert item.feedback == "down" and item.priority == 110
    Feedback.objects.filter(turn=turn).update(rating="up")
    services.queue_refresh(turn_ids=[turn.id])
    assert item_of(turn).feedback == "up" and item_of(turn).priority == 10


def test_queue_refresh_is_a_few_bulk_queries_for_many_turns(
    end_user, django_assert_max_num_queries
):
    turns = [make_turn(end_user, refresh=False) for _ in range(60)]
    with django_assert_max_num_queries(3):
        services.queue_refresh(turn_ids=[t.id for t in turns] * 2)  # duplicates are fine
    assert QueueItem.objects.count() == 60
    with django_assert_max_num_queries(3):  # a second refresh updates in place
        services.queue_refresh(turn_ids=[t.id for t in turns])
    assert QueueItem.objects.count() == 60


def test_failed_turns_are_not_queued(end_user):
    turn = make_turn(end_user, refresh=False)
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.ERROR)
    services.queue_refresh(turn_ids=[turn.id])
    assert not QueueItem.objects.exists()


def test_backfill_command_queues_turns_logged_before_the_queue(end_user):
    old = [make_turn(end_user, refresh=False) for _ in range(3)]
    queued = make_turn(end_user)
    call_command("queue_refresh")
    queued_ids = set(QueueItem.objects.values_list("turn_id", flat=True))
    assert queued_ids == {t.id for t in [*old, queued]}
    QueueItem.objects.update(priority=0)
    call_command("queue_refresh", "--all")
    assert not QueueItem.objects.filter(priority=0).exists()


def test_the_periodic_backfill_task_queues_missed_turns(end_user):
    from annotations.tasks import queue_backfill

    missed = make_turn(end_user, refresh=False)
    assert queue_backfill.apply().get() == 1
    assert QueueItem.objects.filter(turn=missed).exists()
    assert queue_backfill.apply().get() == 0


def test_claim_takes_the_top_item_with_a_lease_and_records_it(end_user, expert, settings):
    settings.REVIEW_LEASE_MINUTES = 7
    make_turn(end_user)
    top = make_turn(end_user, feedback="down")
    item = services.queue_claim_next(expert=expert)
    assert item.turn_id == top.id and item.holder == expert
    left = item.lease_expires_at - timezone.now()
    assert timedelta(minutes=6) < left <= timedelta(minutes=7)
    assert AuditEvent.objects.filter(item=item, actor=expert, action="claim").count() == 1


def test_two_experts_get_different_items_and_a_holder_gets_theirs_back(end_user, expert, expert2):
    make_turn(end_user)
    make_turn(end_user)
    first = services.queue_claim_next(expert=expert)
    second = services.queue_claim_next(expert=expert2)
    assert first.pk != second.pk
    assert services.queue_claim_next(expert=expert).pk == first.pk
    assert AuditEvent.objects.filter(action="claim").count() == 2


def test_nothing_to_claim_when_every_item_is_held(end_user, expert, expert2):
    make_turn(end_user)
    assert services.queue_claim_next(expert=expert) is not None
    assert services.queue_claim_next(expert=expert2) is None


def test_an_expired_lease_is_claimable_again(end_user, expert, expert2):
    make_turn(end_user)
    item = services.queue_claim_next(expert=expert)
    expired = timezone.now() - timedelta(seconds=1)
    QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=expired)
    taken = services.queue_claim_next(expert=expert2)
    assert taken.pk == item.pk and taken.holder == expert2


def test_skip_releases_the_lease_for_others(end_user, expert, expert2):
    make_turn(end_user)
    item = services.queue_claim_next(expert=expert)
    assert services.queue_release(item_id=item.pk, expert=expert2) is False  # not theirs
    assert services.queue_release(item_id=item.pk, expert=expert) is True
    item.refresh_from_db()
    assert item.holder is None and item.lease_expires_at is None
    assert AuditEvent.objects.filter(item=item, action="release", actor=expert).exists()
    assert services.queue_claim_next(expert=expert2).pk == item.pk


def test_an_expert_never_gets_their_own_chat_turns(expert, end_user):
    make_turn(expert, feedback="down")  # the expert chatted too; top priority
    theirs = make_turn(end_user)
    assert services.queue_claim_next(expert=expert).turn_id == theirs.id
    services.queue_release(item_id=item_of(theirs).pk, expert=expert)
    QueueItem.objects.filter(turn=theirs).delete()
    assert services.queue_claim_next(expert=expert) is None


def test_claim_filters_by_model_grounding_feedback_topic_and_date(end_user, expert):
    topic = Topic.objects.create(name="billing")
    a = make_turn(end_user, model="m-a", grounded=False)
    b = make_turn(end_user, model="m-b", feedback="up", topic=topic)
    c = make_turn(end_user, model="m-b", age_minutes=60 * 24 * 10)

    def claim(**kw):
        item = services.queue_claim_next(expert=expert, filters=QueueFilters(**kw))
        if item:
            services.queue_release(item_id=item.pk, expert=expert)
        return item.turn_id if item else None

    assert claim(model="m-a") == a.id
    assert claim(grounded=True, feedback="up") == b.id
    assert claim(topic_id=topic.pk) == b.id
    assert claim(date_to=(timezone.now() - timedelta(days=5)).date()) == c.id
    assert claim(model="m-a", grounded=True) is None
    assert claim(date_from=date(2000, 1, 1), feedback="down") is None


@pytest.mark.parametrize("feedback", [None, "up", "down"])
@pytest.mark.parametrize(
    "grounded,score", [(False, None), (True, None), (True, 0.2), (True, 0.5), (True, 0.9)]
)
def test_refresh_stores_the_priority_queue_priority_computes(end_user, feedback, grounded, score):
    turn = make_turn(end_user, feedback=feedback, grounded=grounded, score=score)
    item = item_of(turn)
    assert item.feedback == (feedback or "none")
    assert item.priority == services.queue_priority(
        feedback=item.feedback, grounded=grounded, max_context_score=score, reviews_done=0
    )
    QueueItem.objects.filter(pk=item.pk).update(reviews_done=1, priority=-1)
    services.queue_refresh(turn_ids=[turn.id])
    assert item_of(turn).priority == services.queue_priority(
        feedback=item.feedback, grounded=grounded, max_context_score=score, reviews_done=1
    )
