from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotations import services
from annotations.models import AuditEvent, Example, QueueItem
from chat.models import Turn
from outbox.models import OutboxEntry
from tests.factories import make_rubric, make_turn

pytestmark = pytest.mark.django_db


def approve(lead, turns, reason="checked by hand"):
    return services.examples_approve_bulk(turn_ids=[t.id for t in turns], actor=lead, reason=reason)


def state(turn) -> str:
    return QueueItem.objects.get(turn=turn).state


def test_a_lead_approves_many_answers_recording_who_and_why_per_item(end_user, lead):
    turns = [make_turn(end_user, question=f"q {i}", answer=f"a {i}") for i in range(5)]
    result = approve(lead, turns, reason="  curated batch  ")
    assert result == {"approved": 5, "skipped": 0}
    examples = Example.objects.filter(turn__in=turns)
    assert examples.count() == 5
    for example in examples:
        assert example.status == "approved" and example.approved_by == lead
        assert example.approval_reason == "curated batch"
        assert example.answer == example.turn.answer and not example.corrected
        assert example.messages[-1] == {"role": "user", "content": example.question}
    events = AuditEvent.objects.filter(action="approve")
    assert events.count() == 5 and {e.actor for e in events} == {lead}
    assert {e.details["reason"] for e in events} == {"curated batch"}
    assert set(QueueItem.objects.filter(turn__in=turns).values_list("state", flat=True)) == {
        "approved"
    }
    outbox = set(OutboxEntry.objects.filter(entity="example").values_list("entity_id", flat=True))
    assert outbox >= {str(pk) for pk in examples.values_list("id", flat=True)}


def test_bulk_approval_keeps_the_rules_of_one_at_a_time_review(end_user, lead, expert, expert2):
    make_rubric()
    free = make_turn(end_user, question="free")
    own = make_turn(lead, question="the lead's own")
    failed = make_turn(end_user, question="failed", refresh=False)
    Turn.objects.filter(id=failed.id).update(status=Turn.Status.ERROR, answer="")
    rejected = make_turn(end_user, question="rejected")
    excluded = make_turn(end_user, question="excluded")
    held = make_turn(end_user, question="held", age_minutes=60)  # oldest: claimed first
    stale = make_turn(end_user, question="stale lease", age_minutes=50)
    claimed = services.queue_claim_next(expert=expert)
    assert claimed.turn_id == held.id  # erin is reviewing it right now
    QueueItem.objects.filter(turn=stale).update(
        holder=expert2, lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    QueueItem.objects.filter(turn=rejected).update(state="rejected")
    services.turns_exclude_from_datasets(turn_ids=[excluded.id], actor=lead)

    result = approve(lead, [free, own, failed, rejected, excluded, held, stale])

    assert result == {"approved": 2, "skipped": 5}
    assert set(Example.objects.values_list("turn_id", flat=True)) == {free.id, stale.id}
    assert (state(own), state(rejected), state(excluded), state(held)) == (
        "pending",
        "rejected",
        "excluded",
        "pending",
    )
    assert QueueItem.objects.get(turn=held).holder == expert  # still hers to finish


def test_approving_twice_changes_nothing_the_second_time(end_user, lead, lead2):
    turns = [make_turn(end_user) for _ in range(3)]
    approve(lead, turns, reason="first")
    again = approve(lead2, turns, reason="second")
    assert again == {"approved": 0, "skipped": 3}
    assert set(Example.objects.values_list("approved_by", "approval_reason")) == {
        (lead.id, "first")
    }
    assert AuditEvent.objects.filter(action="approve").count() == 3


def test_experts_cannot_approve_in_bulk_and_a_reason_is_required(end_user, expert, lead):
    turn = make_turn(end_user)
    with pytest.raises(services.ReviewError):
        approve(expert, [turn])
    with pytest.raises(ValidationError):
        approve(lead, [turn], reason=" ")
    assert not Example.objects.exists()


def test_bulk_examples_carry_the_exact_prompt_whether_or_not_it_quoted_passages(end_user, lead):
    """Turns logged with messages quoting their passages (stored packed, rebuilt from the
    context rows) and turns logged without messages are approved in one batch."""
    from chat.services import interactions_ingest

    passages = ["Snapshots are taken every night at 02:00.", "Restore from the Backups page."]
    system = "Answer from the context.\n\n" + "\n\n".join(passages)
    quoting = {
        "question": "When are snapshots taken?",
        "answer": "Every night.",
        "model": "m",
        "system_prompt": "Answer from the context.",
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "When are snapshots taken?"},
        ],
        "context": [{"text": p, "source": "", "title": "", "score": 0.5} for p in passages],
    }
    plain = {"question": "How do I restore?", "answer": "Use Backups.", "model": "m"}
    results = interactions_ingest(user=end_user, items=[quoting, plain])
    turns = list(Turn.objects.filter(id__in=[r[1] for r in results]))
    assert approve(lead, turns) == {"approved": 2, "skipped": 0}
    by_question = {e.question: e.messages for e in Example.objects.filter(turn__in=turns)}
    assert by_question[quoting["question"]] == quoting["messages"]
    assert by_question[plain["question"]] == [{"role": "user", "content": plain["question"]}]
