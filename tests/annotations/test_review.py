from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotations import selectors, services
from annotations.models import AuditEvent, Example, QueueItem, Review
from annotations.rendering import word_diff
from outbox.models import OutboxEntry
from reviewhub.rendering import render_markdown
from tests.factories import GOOD, make_rubric, make_turn

pytestmark = pytest.mark.django_db

PROMPT = [
    {
        "role": "system",
        "content": "You answer from the context.\n\nContext:\n[1] Bolt docs\nPort 7687.",
    },
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What port does Bolt use?"},
]


def claim(expert, turn=None) -> QueueItem:
    item = services.queue_claim_next(expert=expert)
    assert item is not None and (turn is None or item.turn_id == turn.id)
    return item


def submit(item, expert, **kw) -> Review:
    args = {"scores": dict(GOOD), "tags": [], "verdict": "approve"} | kw
    return services.review_submit(item_id=item.pk, reviewer=expert, **args)


def test_rubric_validation_rejects_out_of_range_missing_and_unknown_and_stores_nothing(
    end_user, expert
):
    make_rubric()
    item = claim(expert, make_turn(end_user))
    with pytest.raises(ValidationError) as err:
        submit(item, expert, scores={"correctness": 6, "helpfulness": 0}, tags=["nope"])
    errors = err.value.message_dict
    assert "from 1 to 5" in errors["score_correctness"][0]
    assert "Rate Groundedness" in errors["score_groundedness"][0]  # required, missing
    assert "from 1 to 5" in errors["score_helpfulness"][0]
    assert "nope" in errors["tags"][0]
    with pytest.raises(ValidationError) as err:
        submit(item, expert, scores={**GOOD, "vibes": 3}, verdict="maybe")
    assert set(err.value.message_dict) == {"scores", "verdict"}
    assert not Review.objects.exists() and not Example.objects.exists()
    item.refresh_from_db()
    assert item.reviews_done == 0 and item.state == QueueItem.State.PENDING
    # Helpfulness is optional in this rubric: leaving it out is fine.
    review = submit(item, expert, scores={"correctness": 4, "groundedness": 4}, tags=["tone"])
    assert review.scores == {"correctness": 4, "groundedness": 4} and review.tags == ["tone"]


def test_approval_creates_the_example_with_the_production_prompt(end_user, expert):
    make_rubric()
    turn = make_turn(
        end_user,
        prompt_messages=PROMPT,
        answer="Bolt uses 7474.",
        system_prompt="You answer from the context.",
        rendered_context="Context:\n[1] Bolt docs\nPort 7687.",
    )
    item = claim(expert, turn)
    review = submit(item, expert, tags=["outdated"], corrected_answer="Bolt uses port 7687.  ")
    example = Example.objects.get(turn=turn)
    assert example.messages == PROMPT  # exactly what the model saw
    assert example.question == turn.question
    assert example.answer == "Bolt uses port 7687." and example.original_answer == "Bolt uses 7474."
    assert example.corrected and example.status == "approved"
    assert example.approved_by == expert and example.approved_at is not None
    assert list(example.reviewers.all()) == [expert]
    assert example.tags == ["outdated"] and example.scores == {
        "correctness": 5.0,
        "groundedness": 4.0,
        "helpfulness": 4.0,
    }
    assert example.model == "gpt-test" and example.grounded
    item.refresh_from_db()
    assert item.state == "approved" and item.holder is None and item.reviews_done == 1
    actions = list(AuditEvent.objects.filter(item=item).values_list("action", flat=True))
    assert actions == ["claim", "rate", "correct", "approve"]
    outbox = set(OutboxEntry.objects.values_list("entity", "entity_id"))
    assert ("review", str(review.pk)) in outbox and ("example", str(example.pk)) in outbox


def test_api_turns_without_logged_messages_get_system_prompt_with_context(end_user, expert):
    make_rubric()
    turn = make_turn(end_user, system_prompt="Be brief.", rendered_context="[1] Port 7687.")
    submit(claim(expert, turn), expert, corrected_answer=turn.answer + "\n")
    example = Example.objects.get(turn=turn)
    assert example.messages == [
        {"role": "system", "content": "Be brief.\n\n[1] Port 7687."},
        {"role": "user", "content": turn.question},
    ]
    assert not example.corrected and example.answer == turn.answer  # unchanged ≠ correction


def test_context_already_inside_the_system_prompt_is_not_repeated(end_user, expert):
    make_rubric()
    turn = make_turn(
        end_user, system_prompt="Be brief.\n[1] Port 7687.", rendered_context="[1] Port 7687."
    )
    submit(claim(expert, turn), expert)
    assert Example.objects.get(turn=turn).messages[0]["content"] == "Be brief.\n[1] Port 7687."


def test_reject_creates_no_example(end_user, expert):
    make_rubric()
    item = claim(expert, make_turn(end_user))
    submit(item, expert, verdict="reject")
    item.refresh_from_db()
    assert item.state == "rejected" and not Example.objects.exists()


def test_review_needs_the_lease_held_by_the_reviewer(end_user, expert, expert2):
    make_rubric()
    item = claim(expert, make_turn(end_user))
    with pytest.raises(services.ReviewError, match="lease"):
        submit(item, expert2)
    services.queue_release(item_id=item.pk, expert=expert)
    with pytest.raises(services.ReviewError, match="lease"):
        submit(item, expert)
    assert not Review.objects.exists()


def test_an_expired_lease_counts_until_someone_else_takes_the_item(end_user, expert, expert2):
    make_rubric()
    first, second = make_turn(end_user, age_minutes=2), make_turn(end_user, age_minutes=1)
    expired = timezone.now() - timedelta(seconds=1)
    item = claim(expert, first)
    QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=expired)
    submit(item, expert)  # nobody took it meanwhile: the work is kept
    taken = claim(expert, second)
    QueueItem.objects.filter(pk=taken.pk).update(lease_expires_at=expired)
    assert claim(expert2, second).pk == taken.pk  # expired: someone else takes it
    with pytest.raises(services.ReviewError, match="taken by someone else"):
        submit(taken, expert)
    assert Review.objects.filter(item=taken).count() == 0


def test_correction_diff_marks_removed_and_added_words():
    parts = word_diff("Bolt uses port 7474.", "Bolt uses port 7687 <b>now</b>.")
    assert ("del", "7474") in parts and ("ins", "7687 <b>now</b>") in parts
    assert "".join(t for op, t in parts if op != "del") == "Bolt uses port 7687 <b>now</b>."
    assert "".join(t for op, t in parts if op != "ins") == "Bolt uses port 7474."


def test_markdown_is_rendered_and_sanitised():
    html = render_markdown(
        "**bold** <script>alert(1)</script> [x](javascript:alert(1)) "
        "![pixel](https://tracker.example/p.png) <a href='/ok' onclick=x>y</a>"
    )
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "javascript:" not in html
    assert "<img" not in html and "onclick" not in html and 'href="/ok"' in html


def test_reviewers_that_agree_approve_and_that_disagree_go_to_adjudication(
    end_user, expert, expert2, lead, settings
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    agreed = make_turn(end_user, feedback="down")
    disputed = make_turn(end_user)
    item = claim(expert, agreed)
    submit(item, expert)
    item.refresh_from_db()
    assert item.state == "pending" and not Example.objects.exists()
    assert claim(expert2, agreed).pk == item.pk  # the second reviewer gets it next
    # ...while the first reviewer is never offered it again.
    assert claim(expert, disputed).turn_id == disputed.id
    submit(item, expert2, scores={**GOOD, "correctness": 4})
    item.refresh_from_db()
    assert item.state == "approved"
    example = Example.objects.get(turn=agreed)
    assert example.scores["correctness"] == 4.5
    assert set(example.reviewers.all()) == {expert, expert2}

    other = QueueItem.objects.get(turn=disputed)
    submit(other, expert, verdict="approve")
    submit(claim(expert2, disputed), expert2, verdict="reject", scores={**GOOD, "correctness": 2})
    other.refresh_from_db()
    assert other.state == "disputed"
    reasons = AuditEvent.objects.get(item=other, action="dispute").details["reasons"]
    assert any("verdicts differ" in r for r in reasons)
    assert any("correctness ratings spread 2–5" in r for r in reasons)

    with pytest.raises(ValidationError):
        services.item_adjudicate(item_id=other.pk, lead=lead, verdict="second_opinion")
    example = services.item_adjudicate(
        item_id=other.pk,
        lead=lead,
        verdict="approve",
        corrected_answer="The lead's answer.",
        notes="ok",
    )
    assert example.approved_by == lead and example.answer == "The lead's answer."
    assert example.corrected
    other.refresh_from_db()
    assert other.state == "approved"
    assert AuditEvent.objects.filter(item=other, action="adjudicate", actor=lead).exists()
    with pytest.raises(services.ReviewError):
        services.item_adjudicate(item_id=other.pk, lead=lead, verdict="reject")


def test_second_opinion_keeps_the_item_in_the_queue_for_someone_else(end_user, expert, expert2):
    make_rubric()
    turn = make_turn(end_user)
    item = claim(expert, turn)
    submit(item, expert, verdict="second_opinion", scores={**GOOD, "correctness": 4})
    item.refresh_from_db()
    assert item.state == "pending" and item.reviews_done == 1
    assert services.queue_claim_next(expert=expert) is None
    submit(claim(expert2, turn), expert2, verdict="approve")
    item.refresh_from_db()
    assert item.state == "approved"


def test_withdrawing_an_approval_until_it_is_in_an_approved_release(end_user, expert, monkeypatch):
    make_rubric()
    turn = make_turn(end_user)
    item = claim(expert, turn)
    submit(item, expert)
    example = Example.objects.get(turn=turn)
    # The releases app decides what is locked; stand in for an approved release here.
    monkeypatch.setattr(services, "example_is_locked", lambda ex: ex.pk == example.pk)
    with pytest.raises(services.ReviewError, match="approved release"):
        services.example_withdraw(example_id=example.pk, actor=expert)
    monkeypatch.undo()
    services.example_withdraw(example_id=example.pk, actor=expert)
    example.refresh_from_db()
    item.refresh_from_db()
    assert example.status == "withdrawn" and item.state == "withdrawn"
    assert AuditEvent.objects.filter(item=item, action="withdraw", actor=expert).exists()
    with pytest.raises(services.ReviewError):
        services.example_withdraw(example_id=example.pk, actor=expert)


def test_agreement_matches_a_hand_computed_krippendorff_alpha(
    end_user, expert, expert2, lead, client_for, settings
):
    """Two reviewers, four items. Correctness (ordinal): (1,1) (2,2) (3,3) (1,3).
    Coincidences: o11=o22=o33=2, o13=o31=1; n1=3, n2=2, n3=3, n=8.
    Ordinal δ²: δ12=δ23=(5/2)²=6.25, δ13=(8-3)²=25.
    Do = (1+1)·25/8 = 6.25; De = 2·(3·2·6.25 + 3·3·25 + 2·3·6.25)/(8·7) = 600/56.
    alpha = 1 - 6.25·56/600 = 0.41667.
    Verdicts (nominal): (a,a) (a,a) (r,r) (a,r): Do = 2/8, De = 2·5·3/56, alpha = 1-14/30."""
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    pairs = [
        ((1, "approve"), (1, "approve")),
        ((2, "approve"), (2, "approve")),
        ((3, "reject"), (3, "reject")),
        ((1, "approve"), (3, "reject")),
    ]
    for age, (first, second) in enumerate(pairs):
        turn = make_turn(end_user, age_minutes=100 - age)
        for reviewer, (score, verdict) in ((expert, first), (expert2, second)):
            submit(
                claim(reviewer, turn),
                reviewer,
                verdict=verdict,
                scores={"correctness": score, "groundedness": 4},
            )
    result = selectors.agreement()
    assert result["items"] == 4 and result["reviewers"] == 2
    by_key = {c["key"]: c for c in result["criteria"]}
    assert by_key["correctness"]["alpha"] == pytest.approx(1 - 350 / 600, abs=1e-4)
    assert by_key["correctness"]["units"] == 4
    assert by_key["groundedness"]["alpha"] is None  # every rating the same: undefined
    assert result["verdict_alpha"] == pytest.approx(1 - 14 / 30, abs=1e-4)
    html = client_for(lead).get("/review/agreement/").content.decode()
    assert "0.417" in html and "0.533" in html and "n/a" in html
