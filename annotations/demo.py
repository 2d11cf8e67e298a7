"""Demo review data: a rubric, guidelines, the queue over the demo turns; demo_expert
reviews the first few (some corrected) and demo_lead approves the rest but three in bulk,
with a reason, through the real services."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from annotations.models import Criterion, Guideline, QueueItem, Rubric, Tag
from annotations.services import (
    examples_approve_bulk,
    queue_backfill,
    queue_claim_next,
    review_submit,
)
from reviewhub.preferences import preference

CRITERIA = [
    ("correctness", "Correctness", "Is every statement in the answer true?"),
    ("groundedness", "Groundedness", "Is the answer supported by the retrieved context?"),
    ("helpfulness", "Helpfulness", "Does it answer what the user actually asked, clearly?"),
]
TAGS = ["outdated", "hallucination", "incomplete", "tone", "pii"]
GUIDELINES = [
    (
        "How to rate",
        "Rate each criterion from **1** (wrong / unsupported / useless) to **5** "
        "(fully correct / fully supported / exactly what was needed).\n\n"
        "- Judge the answer against the *context shown*, not what you know.\n"
        "- Thumbs-down comments from users are a hint, not a verdict.",
    ),
    (
        "When to correct",
        "Write the answer you would want the model to learn. Keep the user's "
        "language and tone; cite only what the context supports. Leave the editor unchanged "
        "when the answer is already right.",
    ),
    (
        "Verdicts",
        "**Approve** only what you would ship as a training example. **Reject** "
        "answers that cannot be fixed by editing (wrong question, missing context). Ask for a "
        "**second opinion** when you are unsure — a colleague will review it too.",
    ),
]
LEAVE_IN_QUEUE = 3
REVIEWED = 6  # approved through reviews (scores, corrections); the rest in bulk by the lead


def seed_rubric() -> Rubric:
    rubric, created = Rubric.objects.get_or_create(
        name="Default rubric", defaults={"description": "Correctness, groundedness, helpfulness"}
    )
    if created:
        for position, (key, label, help_text) in enumerate(CRITERIA):
            Criterion.objects.create(
                rubric=rubric,
                key=key,
                label=label,
                help_text=help_text,
                position=position,
                scale_min=1,
                scale_max=5,
            )
        Tag.objects.bulk_create([Tag(rubric=rubric, name=name) for name in TAGS])
    for position, (title, body) in enumerate(GUIDELINES):
        Guideline.objects.get_or_create(title=title, defaults={"body": body, "position": position})
    return rubric


def seed(stdout) -> None:
    rubric = seed_rubric()
    queued = queue_backfill()
    total = QueueItem.objects.filter(state=QueueItem.State.PENDING).count()
    target = max(total - LEAVE_IN_QUEUE, 0)
    reviewed = _review(rubric, min(REVIEWED, target))
    waiting = QueueItem.objects.filter(state=QueueItem.State.PENDING).order_by(
        "-priority", "turn_created_at", "id"
    )
    rest = list(waiting.values_list("turn_id", flat=True))[: max(target - reviewed, 0)]
    lead = User.objects.get(username="demo_lead")
    bulk = examples_approve_bulk(
        turn_ids=rest, actor=lead, reason="Demo: read and approved by the team lead."
    )
    stdout.write(
        f"review queue: {queued} turns queued, {reviewed + bulk['approved']} approved as "
        f"examples ({reviewed} reviewed, {bulk['approved']} in bulk), "
        f"{QueueItem.objects.filter(state='pending').count()} left to review"
    )


def _review(rubric: Rubric, target: int) -> int:
    """demo_expert (and a colleague when reviews_required asks for two) approve `target`
    items through the queue, every third with a correction; returns how many."""
    reviewers = list(
        User.objects.filter(
            username__in=["demo_expert", "demo_expert2", "demo_lead", "demo_lead2"]
        ).order_by("username")
    )
    reviewers.sort(key=lambda u: u.username != "demo_expert")  # demo_expert first
    needed = preference("reviews_required")
    approved, n = 0, 0
    while approved < target:
        progressed = False
        for reviewer in reviewers[: max(needed, 1)]:
            with transaction.atomic():
                item = queue_claim_next(expert=reviewer)
                if item is None:
                    continue
                n += 1
                answer = item.turn.answer.strip()
                correction = (
                    (
                        f"{answer}\n\nIf this does not solve it, contact support with "
                        "the exact error message."
                    )
                    if n % 3 == 0
                    else ""
                )
                review_submit(
                    item_id=item.pk,
                    reviewer=reviewer,
                    rubric=rubric,
                    scores={"correctness": 4 + (n % 2), "groundedness": 4, "helpfulness": 4},
                    tags=["incomplete"] if correction else [],
                    verdict="approve",
                    notes="Demo review.",
                    corrected_answer=correction,
                )
                progressed = True
                item.refresh_from_db()
                approved += item.state == QueueItem.State.APPROVED
            if approved >= target:
                break
        if not progressed:
            break
    return approved
