"""Blind pairwise comparisons: two answers to one question, "A better / tie / B better".

Writes and reads of `PairwiseItem` in one place (a concept of its own beside the review
queue; the queue's services stay as they are). An item is leased to one expert at a time
with a compare-and-set update, as the review queue does, so two experts never judge the
same pair; the side shown as A is drawn per item when it is sent, never per view, so a
reload shows the same sides.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from annotations.models import PairwiseItem
from reviewhub.roles import is_lead

CLAIM_ATTEMPTS = 5


class PairwiseError(ValueError):
    """A judgement that cannot be recorded (shown to the expert)."""


@dataclass(frozen=True)
class Pair:
    question_id: object
    first_id: object
    second_id: object


# --- writes -----------------------------------------------------------------------------------


@transaction.atomic
def pairwise_send(
    *,
    batch,
    first_key: str,
    second_key: str,
    pairs: Iterable[Pair],
    rng: random.Random | None = None,
) -> int:
    """Put these pairs in the queue (a pair already sent is not sent again); returns how
    many are new. Sides are drawn here, once per item."""
    draw = rng or random.SystemRandom()
    rows = [
        PairwiseItem(
            batch=batch,
            first_key=first_key,
            second_key=second_key,
            question_id=p.question_id,
            first_id=p.first_id,
            second_id=p.second_id,
            flipped=draw.random() < 0.5,
        )
        for p in pairs
    ]
    before = PairwiseItem.objects.filter(
        batch=batch, first_key=first_key, second_key=second_key
    ).count()
    PairwiseItem.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    after = PairwiseItem.objects.filter(
        batch=batch, first_key=first_key, second_key=second_key
    ).count()
    return after - before


def pairwise_claim_next(*, expert, exclude: Iterable[object] = ()) -> PairwiseItem | None:
    """The pair this expert holds, else lease the oldest undecided pair nobody holds."""
    now = timezone.now()
    held = held_pair(expert=expert, now=now)
    if held is not None:
        return held
    until = now + timedelta(minutes=settings.REVIEW_LEASE_MINUTES)
    free = Q(holder__isnull=True) | Q(lease_expires_at__lte=now)
    candidates = open_pairs().filter(free).exclude(pk__in=list(exclude))
    for _ in range(CLAIM_ATTEMPTS):
        pk = candidates.values_list("pk", flat=True).first()
        if pk is None:
            return None
        taken = (
            PairwiseItem.objects.filter(pk=pk, verdict="")
            .filter(free)
            .update(holder=expert, lease_expires_at=until)
        )
        if taken:
            return PairwiseItem.objects.get(pk=pk)
    return None  # every candidate was taken by someone else at that instant


def pairwise_release(*, item_id, expert) -> bool:
    """Give the pair back (skip / put down). Only its holder can."""
    return bool(
        PairwiseItem.objects.filter(pk=item_id, holder=expert, verdict="").update(
            holder=None, lease_expires_at=None
        )
    )


@transaction.atomic
def pairwise_judge(*, item_id, expert, verdict: str) -> PairwiseItem:
    """Record the expert's choice as they saw it, and in the sender's terms."""
    if verdict not in PairwiseItem.Verdict.values:
        raise PairwiseError("Choose A better, tie or B better.")
    item = PairwiseItem.objects.select_for_update().get(pk=item_id)
    if item.verdict:
        raise PairwiseError("This pair has already been judged.")
    if item.holder_id != expert.pk:  # an expired lease counts until someone else takes it
        raise PairwiseError(
            "Your lease on this pair ran out and someone else took it; take the next pair."
        )
    item.verdict = verdict
    item.preferred = _preferred(verdict, item.flipped)
    item.decided_by, item.decided_at = expert, timezone.now()
    item.holder, item.lease_expires_at = None, None
    item.save(
        update_fields=[
            "verdict",
            "preferred",
            "decided_by",
            "decided_at",
            "holder",
            "lease_expires_at",
        ]
    )
    return item


def _preferred(verdict: str, flipped: bool) -> str:
    if verdict == PairwiseItem.Verdict.TIE:
        return PairwiseItem.Preferred.TIE
    shown_a = PairwiseItem.Preferred.SECOND if flipped else PairwiseItem.Preferred.FIRST
    other = PairwiseItem.Preferred.FIRST if flipped else PairwiseItem.Preferred.SECOND
    return shown_a if verdict == PairwiseItem.Verdict.A else other


# --- reads ------------------------------------------------------------------------------------


def open_pairs() -> QuerySet[PairwiseItem]:
    return PairwiseItem.objects.filter(verdict="").order_by("created_at", "id")


def pairs_waiting() -> int:
    return open_pairs().count()


def held_pair(*, expert, now) -> PairwiseItem | None:
    return (
        PairwiseItem.objects.filter(holder=expert, lease_expires_at__gt=now, verdict="")
        .order_by("lease_expires_at")
        .first()
    )


def pair_for_user(user, item_id) -> PairwiseItem:
    """The pair if this user may see it: leads see every pair; experts the pairs they hold
    or judged. 404 for anyone else (no guessing ids)."""
    item = (
        PairwiseItem.objects.select_related("question", "first", "second")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise Http404
    if is_lead(user) or user.pk in (item.holder_id, item.decided_by_id):
        return item
    raise Http404


def preferences(batch) -> dict[tuple[str, str], dict[str, int]]:
    """Judged pairs of a batch per (first_key, second_key): the second side's wins, ties
    and losses against the first, and how many pairs are still waiting."""
    rows = (
        PairwiseItem.objects.filter(batch=batch)
        .values("first_key", "second_key", "preferred")
        .annotate(n=Count("id"))
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        cell = out.setdefault(
            (r["first_key"], r["second_key"]), {"wins": 0, "ties": 0, "losses": 0, "waiting": 0}
        )
        name = {
            PairwiseItem.Preferred.SECOND: "wins",
            PairwiseItem.Preferred.TIE: "ties",
            PairwiseItem.Preferred.FIRST: "losses",
        }.get(r["preferred"], "waiting")
        cell[name] += r["n"]
    return out
