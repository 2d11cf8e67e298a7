"""Review reads: what to claim, the lead's queue list, item pages, agreement."""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from statistics import fmean

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotations.models import Criterion, Example, Guideline, QueueItem, Review, Rubric
from chat.models import Turn
from reviewhub.preferences import preference
from reviewhub.roles import is_expert, is_lead

ORDER = ("-priority", "turn_created_at", "id")


@dataclass(frozen=True)
class QueueFilters:
    date_from: date | None = None
    date_to: date | None = None
    model: str = ""
    grounded: bool | None = None
    topic_id: object | None = None
    feedback: str = ""
    max_eval_score: float | None = None  # the lowest evaluator score (0–1) at most this

    def apply(self, qs: QuerySet[QueueItem]) -> QuerySet[QueueItem]:
        tz = timezone.get_current_timezone()
        if self.date_from:
            qs = qs.filter(turn_created_at__gte=datetime.combine(self.date_from, time.min, tz))
        if self.date_to:
            qs = qs.filter(turn_created_at__lte=datetime.combine(self.date_to, time.max, tz))
        if self.model:
            qs = qs.filter(model=self.model)
        if self.grounded is not None:
            qs = qs.filter(grounded=self.grounded)
        if self.topic_id:
            qs = qs.filter(topic_id=self.topic_id)
        if self.feedback:
            qs = qs.filter(feedback=self.feedback)
        if self.max_eval_score is not None:
            qs = qs.filter(eval_score__lte=self.max_eval_score)
        return qs


def claimable(
    *, expert, now: datetime, filters: QueueFilters | None = None, exclude: tuple = ()
) -> QuerySet[QueueItem]:
    """Pending items nobody holds a live lease on, not the expert's own turns, not
    already reviewed by them (nor just skipped) — in priority order."""
    already_reviewed = Review.objects.filter(item=OuterRef("pk"), reviewer=expert)
    qs = (
        QueueItem.objects.filter(state=QueueItem.State.PENDING)
        .filter(Q(holder__isnull=True) | Q(lease_expires_at__lte=now))
        .exclude(author=expert)
        .exclude(Exists(already_reviewed))
        # An item a lead assigned to someone is theirs alone.
        .filter(Q(assignee__isnull=True) | Q(assignee=expert))
    )
    if exclude:
        qs = qs.exclude(pk__in=exclude)
    return (filters or QueueFilters()).apply(qs).order_by(*ORDER)


def held_item(*, expert, now: datetime) -> QueueItem | None:
    return (
        QueueItem.objects.filter(
            holder=expert, lease_expires_at__gt=now, state=QueueItem.State.PENDING
        )
        .order_by("lease_expires_at")
        .first()
    )


def active_rubric() -> Rubric | None:
    return (
        Rubric.objects.filter(is_active=True)
        .prefetch_related("criteria", "tags")
        .order_by("-created_at")
        .first()
    )


def rubric_versions() -> QuerySet[Rubric]:
    """Every rubric version, newest first, with how many reviews were made with it."""
    return Rubric.objects.annotate(reviews_made=Count("reviews")).order_by("-created_at")


def all_guidelines() -> QuerySet[Guideline]:
    return Guideline.objects.all()


def active_guidelines() -> list[Guideline]:
    return list(Guideline.objects.filter(is_active=True))


# --- access -------------------------------------------------------------------------


def _openable_by(user) -> Q:
    """The items this user may open: leads every item; experts those they hold (even past
    the lease's expiry, until someone else takes it) or have reviewed, never their own."""
    if is_lead(user):
        return Q()
    reviewed = Exists(Review.objects.filter(item=OuterRef("pk"), reviewer=user))
    return ~Q(author_id=user.pk) & (Q(holder_id=user.pk) | Q(reviewed))


def item_ids_openable_by(user, item_ids) -> set:
    """Of `item_ids`, the items `item_for_user` lets this user open, in one query (a list
    links only those: an expert is handed items by the queue, not by choosing one)."""
    items = QueueItem.objects.filter(_openable_by(user), pk__in=list(item_ids))
    return set(items.values_list("pk", flat=True))


def item_for_user(user, item_id) -> QueueItem:
    """The item if this user may open it (`_openable_by`); anyone else gets 404 (no guessing
    ids)."""
    item = (
        QueueItem.objects.select_related("turn", "turn__conversation", "turn__topic", "holder")
        .filter(_openable_by(user), pk=item_id)
        .first()
    )
    if item is None:
        raise Http404
    return item


def review_screen(*, item: QueueItem, user) -> dict:
    """Everything the review screen shows about one item, in a fixed number of queries."""
    turn = item.turn
    earlier = list(
        Turn.objects.filter(conversation_id=turn.conversation_id, position__lt=turn.position)
        .only("question", "answer", "position")
        .order_by("-position")[:10]
    )[::-1]
    reviews = list(item.reviews.select_related("reviewer"))
    own = next((r for r in reviews if r.reviewer_id == user.pk), None)
    visible = reviews_visible_to(user, item, reviews)
    return {
        "turn": turn,
        "earlier": earlier,
        "contexts": list(turn.contexts.order_by("rank")),
        "feedback": list(turn.feedback.select_related("user")),
        "own_review": own,
        "reviews": visible,
        "hidden_reviews": len(reviews) - len(visible),
        "history": history_visible_to(
            user, item, list(item.audit_events.select_related("actor")), reviews
        ),
    }


# --- blind review -------------------------------------------------------------------
# The one rule for every surface that shows reviews (review screen, lineage, API, exports):
# while an item is open (still pending: fewer decisive reviews than REVIEWS_REQUIRED), a
# reviewer sees only their own review — never another reviewer's scores, verdict or notes,
# not even after submitting (a later reviewer of the same item must stay independent).
# A lead who takes no part in the item sees every review (to supervise); once the item is
# closed, everyone who may see it sees them all.

REVIEW_ACTIONS = {"rate", "correct", "approve", "reject", "second_opinion"}


def item_is_open(item: QueueItem | None) -> bool:
    return item is not None and item.state == QueueItem.State.PENDING


def reviews_blind_for(user, item: QueueItem | None, reviews: list[Review]) -> bool:
    """True when this user must see only their own reviews of this item (never when a
    lead switched blind review off in the settings)."""
    if not item_is_open(item) or not preference("blind_review"):
        return False
    taking_part = item.holder_id == user.pk or any(r.reviewer_id == user.pk for r in reviews)
    return taking_part or not is_lead(user)


def reviews_visible_to(user, item: QueueItem | None, reviews: list[Review]) -> list[Review]:
    if not reviews_blind_for(user, item, reviews):
        return reviews
    return [r for r in reviews if r.reviewer_id == user.pk]


def history_visible_to(user, item: QueueItem, events: list, reviews: list[Review]) -> list:
    """The audit trail without other reviewers' ratings and verdicts while blind."""
    if not reviews_blind_for(user, item, reviews):
        return events
    return [e for e in events if e.action not in REVIEW_ACTIONS or e.actor_id == user.pk]


def review_ids_visible_to(user, turn_id) -> set[str] | None:
    """For surfaces keyed by turn (lineage): the ids of the reviews this user may see,
    or None when the turn has no queue item (then it has no reviews either)."""
    item = QueueItem.objects.filter(turn_id=turn_id).only("id", "state", "holder_id").first()
    if item is None:
        return None
    reviews = list(Review.objects.filter(item=item).only("id", "reviewer_id"))
    return {str(r.id) for r in reviews_visible_to(user, item, reviews)}


def scores_hidden_for(user, turn_id) -> bool:
    """Evaluator scores are for experts and leads, never end users; while blind review
    applies to this user on the turn's open item, they stay hidden until the user has
    submitted a review of it (as on the review screen)."""
    if not is_expert(user):
        return True
    item = QueueItem.objects.filter(turn_id=turn_id).only("id", "state", "holder_id").first()
    if item is None:
        return False
    reviews = list(Review.objects.filter(item=item).only("id", "reviewer_id"))
    if not reviews_blind_for(user, item, reviews):
        return False
    return not any(r.reviewer_id == user.pk for r in reviews)


def example_of(item: QueueItem) -> Example | None:
    return Example.objects.filter(turn_id=item.turn_id).first()


# --- the lead's list (keyset pagination) --------------------------------------------


def encode_cursor(item: QueueItem) -> str:
    raw = f"{item.priority}|{item.turn_created_at.isoformat()}|{item.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        priority, created, pk = raw.split("|")
        when = parse_datetime(created)
        if when is None:
            return None
        return int(priority), when, uuid.UUID(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


PAGE_FIELDS = (
    "id",
    "priority",
    "state",
    "reviews_done",
    "holder__username",
    "lease_expires_at",
    "turn_created_at",
    "model",
    "grounded",
    "max_context_score",
    "feedback",
    "topic__name",
    "turn__question",
    "turn__id",
)


def _after_in_same_priority(
    qs: QuerySet[QueueItem], created: datetime, pk: uuid.UUID
) -> QuerySet[QueueItem]:
    """(turn_created_at, id) > (created, pk) as a row comparison, which PostgreSQL turns
    into an index bound (an OR of column comparisons would be a filter over the whole
    priority group)."""
    table = QueueItem._meta.db_table
    values = (
        QueueItem._meta.get_field("turn_created_at").get_db_prep_value(created, connection),
        QueueItem._meta.get_field("id").get_db_prep_value(pk, connection),
    )
    return qs.filter(
        RawSQL(
            f'("{table}"."turn_created_at", "{table}"."id") > (%s, %s)',
            values,
            output_field=BooleanField(),
        )
    )


def queue_page(
    *, state: str, filters: QueueFilters, cursor: str = "", size: int | None = None
) -> tuple[list[QueueItem], str]:
    """One page of the queue in claim order, after `cursor`; returns (items, next cursor).

    Keyset, not OFFSET: a deep page costs the same as the first. At most two queries
    whatever the page size: the rest of the cursor's priority group, then lower ones."""
    size = size or settings.REVIEW_QUEUE_PAGE_SIZE
    base = filters.apply(QueueItem.objects.filter(state=state))

    def fetch(qs: QuerySet[QueueItem], n: int) -> list[QueueItem]:
        return list(
            qs.select_related("turn", "holder", "topic").only(*PAGE_FIELDS).order_by(*ORDER)[:n]
        )

    after = decode_cursor(cursor) if cursor else None
    if after is None:
        rows = fetch(base, size + 1)
    else:
        priority, created, pk = after
        rows = fetch(_after_in_same_priority(base.filter(priority=priority), created, pk), size + 1)
        if len(rows) <= size:
            rows += fetch(base.filter(priority__lt=priority), size + 1 - len(rows))
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else ""
    return rows[:size], next_cursor


DEPTH_EXACT_UP_TO = 10_000


def _estimated_pending() -> int | None:
    """PostgreSQL's count of entries in the partial index of pending items, as of the
    last (auto)vacuum/analyze: a catalogue read instead of counting a million rows."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", ["queue_pending_order"])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None


def queue_depth() -> dict:
    """Pending and disputed counts in a fixed number of cheap queries: exact up to
    DEPTH_EXACT_UP_TO, beyond that PostgreSQL's estimate (counting a million index
    entries on every page view would cost more than the whole rest of the page)."""
    pending_qs = QueueItem.objects.filter(state=QueueItem.State.PENDING).order_by()
    pending = pending_qs[: DEPTH_EXACT_UP_TO + 1].count()
    approx = pending > DEPTH_EXACT_UP_TO
    if approx:
        pending = max(_estimated_pending() or pending, pending)
    disputed = (
        QueueItem.objects.filter(state=QueueItem.State.DISPUTED)
        .order_by()[: DEPTH_EXACT_UP_TO + 1]
        .count()
    )
    return {"pending": pending, "pending_approx": approx, "disputed": disputed}


def live_leases(*, now: datetime, limit: int = 100) -> list[QueueItem]:
    return list(
        QueueItem.objects.filter(holder__isnull=False, lease_expires_at__gt=now)
        .select_related("holder")
        .only("id", "holder__username", "lease_expires_at", "priority")
        .order_by("lease_expires_at")[:limit]
    )


def disputed_items(*, limit: int = 200) -> list[QueueItem]:
    return list(
        QueueItem.objects.filter(state=QueueItem.State.DISPUTED)
        .select_related("turn")
        .only("id", "priority", "reviews_done", "updated_at", "turn__question", "turn__id")
        .order_by("updated_at")[:limit]
    )


# --- agreement ---------------------------------------------------------------------


def disagreement_reasons(reviews: list[Review]) -> list[str]:
    """Why these reviews disagree (empty when they agree)."""
    reasons: list[str] = []
    verdicts = {r.verdict for r in reviews if r.verdict != Review.Verdict.SECOND_OPINION}
    if len(verdicts) > 1:
        reasons.append("verdicts differ: " + ", ".join(sorted(verdicts)))
    by_key: dict[str, list[int]] = defaultdict(list)
    for r in reviews:
        for key, value in r.scores.items():
            if value is not None:
                by_key[key].append(value)
    for key, values in sorted(by_key.items()):
        if len(values) > 1 and max(values) - min(values) > settings.REVIEW_DISAGREEMENT_SPREAD:
            reasons.append(f"{key} ratings spread {min(values)}–{max(values)}")
    corrections = {" ".join(r.corrected_answer.split()) for r in reviews if r.corrected_answer}
    if len(corrections) > 1:
        reasons.append("different corrections")
    return reasons


def mean_scores(reviews: list[Review]) -> dict[str, float]:
    by_key: dict[str, list[float]] = defaultdict(list)
    for r in reviews:
        for key, value in r.scores.items():
            if value is not None:
                by_key[key].append(float(value))
    return {key: round(fmean(values), 3) for key, values in sorted(by_key.items())}


def _alpha(matrix: list[list[float]], level: str) -> float | None:
    # Imported here: every web process loads these selectors, few requests compute alpha,
    # and numpy with krippendorff are ~16 MB of each web process that never does.
    import krippendorff
    import numpy as np

    data = np.array(matrix, dtype=float)
    values = data[~np.isnan(data)]
    if data.shape[1] == 0 or len(np.unique(values)) < 2:
        return None  # alpha is undefined with fewer than two distinct values
    try:
        alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:
        return None
    return None if math.isnan(alpha) else round(alpha, 4)


def agreement(*, limit_items: int = 5000, items: QuerySet[QueueItem] | None = None) -> dict:
    """Krippendorff's alpha per criterion (ordinal) and on verdicts (nominal), over the
    most recent items with two or more reviews (of `items` when given, e.g. a release's)."""
    base = QueueItem.objects.all() if items is None else items
    item_ids = list(
        base.filter(reviews_done__gte=2)
        .order_by("-updated_at")
        .values_list("id", flat=True)[:limit_items]
    )
    rows = list(
        Review.objects.filter(item_id__in=item_ids).values_list(
            "item_id", "reviewer_id", "scores", "verdict"
        )
    )
    items = sorted({r[0] for r in rows}, key=str)
    raters = sorted({r[1] for r in rows})
    col = {item: i for i, item in enumerate(items)}
    row = {rater: i for i, rater in enumerate(raters)}
    keys = sorted({k for r in rows for k in r[2]})
    labels = dict(Criterion.objects.filter(key__in=keys).values_list("key", "label"))
    verdict_codes = {v: i for i, v in enumerate(Review.Verdict.values)}

    def empty() -> list[list[float]]:
        return [[math.nan] * len(items) for _ in raters]

    per_key = {key: empty() for key in keys}
    verdicts = empty()
    for item_id, reviewer_id, scores, verdict in rows:
        i, j = row[reviewer_id], col[item_id]
        verdicts[i][j] = verdict_codes[verdict]
        for key, value in scores.items():
            if value is not None:
                per_key[key][i][j] = float(value)
    criteria = [
        {
            "key": key,
            "label": labels.get(key, key),
            "alpha": _alpha(per_key[key], "ordinal"),
            "units": sum(
                1
                for j in range(len(items))
                if sum(not math.isnan(per_key[key][i][j]) for i in range(len(raters))) > 1
            ),
        }
        for key in keys
    ]
    return {
        "items": len(items),
        "reviewers": len(raters),
        "criteria": criteria,
        "verdict_alpha": _alpha(verdicts, "nominal") if items else None,
    }


def bulk_approvable(*, turn_ids: list[object], actor, now) -> QuerySet[QueueItem]:
    """The queue items of these turns that `actor` may approve without a review, by
    `review_blocker`'s rules for a set: waiting for review, not their own turn, not held by
    someone else under a live lease — and no approved example yet."""
    return (
        QueueItem.objects.filter(turn_id__in=turn_ids, state=QueueItem.State.PENDING)
        .exclude(author=actor)
        .filter(Q(holder__isnull=True) | Q(holder=actor) | Q(lease_expires_at__lte=now))
        .exclude(turn__example__status=Example.Status.APPROVED)
    )


def review_blocker(item: QueueItem, user) -> str:
    """Why `user` may not submit a review of `item` now ("" when they may): the one rule
    that the review screen shows and `review_submit` enforces."""
    if item.author_id == user.pk:
        return "You cannot review your own chat turns."
    if item.state != QueueItem.State.PENDING:
        return "This item is no longer waiting for review."
    # An expired lease still counts while nobody else has taken the item.
    if item.holder_id != user.pk:
        return (
            "Your lease on this item ran out and it was released or taken by "
            "someone else; take the next item from the queue."
        )
    return ""
