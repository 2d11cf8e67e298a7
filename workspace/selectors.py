"""Workspace reads: the Conversations explorer (search + filters + keyset pages), the turns a
bulk action touches, the inbox, reviewer progress."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotations import pairwise
from annotations.models import AuditEvent, QueueItem, Review
from annotations.selectors import held_item, queue_depth
from chat.models import Conversation, Feedback, Turn
from chat.selectors import conversations_for, turns_visible_to
from datasets.models import Release
from reviewhub.models import SiteSettings
from reviewhub.preferences import DEFAULTS, preference
from reviewhub.roles import has_perm, is_expert, is_lead
from workspace.models import BulkJob
from workspace.search import search_q

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
COUNT_EXACT_UP_TO = 1_000
ORDER = ("-created_at", "-id")
NOT_QUEUED = "none"


@dataclass(frozen=True)
class ExplorerFilters:
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    source: str = ""
    model: str = ""
    rating: str = ""  # up | down | none
    topic_id: object | None = None
    grounded: bool | None = None
    review: str = ""  # a QueueItem state, or "none" (not in the queue)
    username: str = ""
    score: str = ""  # an evaluation expression, e.g. "groundedness >= 0.8"
    until: datetime | None = None  # bulk actions: only turns logged up to the confirmation
    extra: dict = field(default_factory=dict)


def scores_available() -> bool:
    return apps.is_installed("evaluation")


def score_q(expression: str) -> Q:
    """Integration point with the `evaluation` app: its one parser of score expressions.
    A bad expression raises ValidationError with a message for the person who typed it."""
    if not scores_available():
        raise ValidationError("Score filters need the evaluation app, which is not installed.")
    from evaluation.selectors import score_filter_q  # noqa: PLC0415 (optional app)

    try:
        return score_filter_q(expression)
    except ValidationError:
        raise
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def explorer_turns(*, viewer, filters: ExplorerFilters) -> QuerySet[Turn]:
    """Turns the viewer may see (end users: their own) that pass the filters. Unordered."""
    qs = turns_visible_to(viewer)
    tz = timezone.get_current_timezone()
    if filters.q and (match := search_q(filters.q)) is not None:
        qs = qs.filter(match)
    if filters.date_from:
        qs = qs.filter(created_at__gte=datetime.combine(filters.date_from, time.min, tz))
    if filters.date_to:
        qs = qs.filter(created_at__lt=datetime.combine(filters.date_to, time.min, tz) + _DAY)
    if filters.until:
        qs = qs.filter(created_at__lte=filters.until)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.grounded is not None:
        qs = qs.filter(grounded=filters.grounded)
    if filters.topic_id:
        qs = qs.filter(topic_id=filters.topic_id)
    if filters.username:
        qs = qs.filter(user__username=filters.username)
    if filters.rating in ("up", "down"):
        qs = qs.filter(Exists(Feedback.objects.filter(turn=OuterRef("pk"), rating=filters.rating)))
    elif filters.rating == NOT_QUEUED:
        qs = qs.exclude(Exists(Feedback.objects.filter(turn=OuterRef("pk"))))
    if filters.review == NOT_QUEUED:
        qs = qs.filter(queue_item__isnull=True)
    elif filters.review:
        qs = qs.filter(queue_item__state=filters.review)
    if filters.score:
        qs = qs.filter(score_q(filters.score))
    return qs


_DAY = timedelta(days=1)


# --- keyset pages ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts (after this created_at and id), and the count the first
    page found, so later pages of the same list show it without counting again."""

    created_at: datetime
    id: uuid.UUID
    count: int
    count_exact: bool


def encode_cursor(turn: Turn, count: int, count_exact: bool) -> str:
    raw = f"{turn.created_at.isoformat()}|{turn.id}|{count}|{int(count_exact)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """The cursor a page gave out; ValidationError for one we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, pk, count, exact = raw.split("|")
        when = parse_datetime(created)
        if when is not None and count.isdigit() and exact in ("0", "1"):
            return Cursor(when, uuid.UUID(pk), int(count), exact == "1")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationError("This cursor is not one a page gave out; start from the first page.")


def _before(qs: QuerySet[Turn], created: datetime, pk: uuid.UUID) -> QuerySet[Turn]:
    """(created_at, id) < (created, pk) as one row comparison: an index bound on PostgreSQL
    (an OR of column comparisons would be a filter), and SQLite has row values too."""
    table = Turn._meta.db_table
    values = (
        Turn._meta.get_field("created_at").get_db_prep_value(created, connection),
        Turn._meta.get_field("id").get_db_prep_value(pk, connection),
    )
    return qs.filter(
        RawSQL(f'("{table}"."created_at", "{table}"."id") < (%s, %s)', values, BooleanField())
    )


ROW_FIELDS = (
    "id",
    "question",
    "answer",
    "source",
    "model",
    "grounded",
    "status",
    "created_at",
    "user__username",
    "topic__name",
    "queue_item__id",
    "queue_item__state",
    "queue_item__priority",
    "queue_item__assignee_id",
)


@dataclass
class Page:
    rows: list[Turn]
    next_cursor: str
    count: int
    count_exact: bool


def explorer_page(
    *, viewer, filters: ExplorerFilters, cursor: str = "", size: int = PAGE_SIZE
) -> Page:
    """One page, newest first, after `cursor`, whatever the page size and however deep the
    page in one query (the rows, with who asked, topic, review state and rating joined in),
    plus on the first page a count, exact up to COUNT_EXACT_UP_TO ("1,000+" beyond it);
    later pages carry that count in their cursor.

    Why capped, and counted once (bench/bench_search.py, 1M turns on PostgreSQL): the rows
    of a page cost a few ms however common the words, but a count reads every match —
    ~90 ms for 10,000 of them, seconds for all the turns with a common word. The bulk
    action's confirmation counts exactly (selectors.bulk_count), once, when it matters."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    after = decode_cursor(cursor) if cursor else None
    qs = explorer_turns(viewer=viewer, filters=filters)
    page_qs = _before(qs, after.created_at, after.id) if after else qs
    rows = list(
        page_qs.select_related("user", "topic", "queue_item")
        .only(*ROW_FIELDS)
        .annotate(rating=_worst_rating())
        .order_by(*ORDER)[: size + 1]
    )
    if after:
        count, exact = after.count, after.count_exact
    else:
        counted = qs.order_by()[: COUNT_EXACT_UP_TO + 1].count()
        count, exact = min(counted, COUNT_EXACT_UP_TO), counted <= COUNT_EXACT_UP_TO
    next_cursor = encode_cursor(rows[size - 1], count, exact) if len(rows) > size else ""
    return Page(rows[:size], next_cursor, count, exact)


def _worst_rating() -> Subquery:
    """The worst rating: "down" if anyone rated the turn down, else "up" if rated, else None. A
    scalar subquery runs for the page's rows only; the EXISTS pair it replaces was planned
    as two hashes over every rating before the LIMIT (50–80 ms at 1M turns)."""
    ratings = Feedback.objects.filter(turn=OuterRef("pk")).order_by("rating")  # down < up
    return Subquery(ratings.values("rating")[:1])


def bulk_turns(*, viewer, filters: ExplorerFilters, action: str) -> QuerySet[Turn]:
    """The turns a bulk action on these filters touches (filters carry `until`). An
    experiment asks the questions again, so answers that were themselves replays are left
    out (the experiments app refuses them as questions)."""
    qs = explorer_turns(viewer=viewer, filters=filters)
    if action == BulkJob.Action.EXPERIMENT:
        qs = qs.exclude(source=Conversation.Source.REPLAY)
    return qs


def bulk_turn_positions(
    *, viewer, filters: ExplorerFilters, action: str, after: tuple | None = None
) -> list[tuple[uuid.UUID, datetime]]:
    """(id, created_at) of the turns a bulk action touches, in page order, after a
    position (a resumed run)."""
    qs = bulk_turns(viewer=viewer, filters=filters, action=action)
    if after:
        qs = _before(qs, *after)
    return list(qs.order_by(*ORDER).values_list("id", "created_at"))


def encode_position(pk: uuid.UUID, created_at: datetime) -> str:
    return f"{created_at.isoformat()}|{pk}"


def decode_position(text: str) -> tuple[datetime, uuid.UUID]:
    created, pk = text.split("|")
    return parse_datetime(created), uuid.UUID(pk)


def bulk_count(*, viewer, filters: ExplorerFilters, action: str) -> int:
    return bulk_turns(viewer=viewer, filters=filters, action=action).order_by().count()


def reviewers() -> QuerySet[User]:
    """People who can be assigned review items."""
    perm = Q(groups__permissions__codename="review") | Q(user_permissions__codename="review")
    return User.objects.filter(perm, is_active=True).distinct().order_by("username")


# --- inbox -----------------------------------------------------------------------------


def inbox(*, user, limit: int = 50) -> dict:
    """What waits for this person: items assigned to them, disputes (leads), releases
    another lead built that wait for their approval (leads)."""
    assigned = (
        _assigned_to(user)
        .select_related("turn")
        .only("id", "priority", "turn_created_at", "turn__question")
        .order_by("-priority", "turn_created_at")
    )
    result = {"assigned": list(assigned[:limit]), "disputes": [], "releases": []}
    if is_lead(user):
        result["disputes"] = list(
            _disputes_for(user)
            .select_related("turn")
            .only("id", "updated_at", "turn__question")
            .order_by("updated_at")[:limit]
        )
        result["releases"] = list(_releases_waiting(user).select_related("built_by")[:limit])
    return result


def _assigned_to(user) -> QuerySet[QueueItem]:
    """Items a lead routed to this reviewer that still wait."""
    return QueueItem.objects.filter(assignee=user, state=QueueItem.State.PENDING)


def _disputes_for(user) -> QuerySet[QueueItem]:
    """Disputed items this lead may decide: not about their own turns."""
    return QueueItem.objects.filter(state=QueueItem.State.DISPUTED).exclude(author=user)


def _releases_waiting(user) -> QuerySet[Release]:
    built = Release.objects.filter(state=Release.State.BUILT).order_by("built_at")
    if preference("release_four_eyes"):
        built = built.exclude(built_by=user)
    return built


def inbox_count(user) -> int:
    """The number in the navigation, in one query (the counts, and the four-eyes setting
    that decides whether a lead's own releases count, as subqueries)."""
    if not (user and user.is_authenticated):
        return 0
    counts = {"a": _count_of(_assigned_to(user))}
    if is_lead(user):
        built = Release.objects.filter(state=Release.State.BUILT)
        counts |= {
            "d": _count_of(_disputes_for(user)),
            "r": _count_of(built),
            "own": _count_of(built.filter(built_by=user)),
            "four_eyes": Subquery(
                SiteSettings.objects.filter(pk=1).values("release_four_eyes")[:1],
                output_field=BooleanField(),
            ),
        }
    row = User.objects.filter(pk=user.pk).annotate(**counts).values(*counts).first() or {}
    four_eyes = row.pop("four_eyes", None)
    if four_eyes is None:
        four_eyes = getattr(settings, DEFAULTS["release_four_eyes"])
    own = row.pop("own", 0)
    return sum(row.values()) - (own if four_eyes else 0)


def _count_of(qs: QuerySet) -> Subquery:
    counted = qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Subquery(counted, output_field=IntegerField())


def reviewer_progress(*, now: datetime | None = None) -> list[dict]:
    """Per reviewer: reviews done today and this week (Monday on), and how often their
    verdict agreed with the item's final outcome."""
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    rows = (
        Review.objects.filter(created_at__gte=week)
        .values("reviewer__username")
        .annotate(
            week=Count("id"),
            today=Count("id", filter=Q(created_at__gte=today)),
        )
        .order_by("-week", "reviewer__username")
    )
    decided = Q(item__state__in=("approved", "rejected"))
    agreement = dict(
        (r["reviewer__username"], r)
        for r in Review.objects.filter(decided, created_at__gte=week)
        .exclude(verdict=Review.Verdict.SECOND_OPINION)
        .values("reviewer__username")
        .annotate(
            decided=Count("id"),
            agreed=Count(
                "id",
                filter=Q(verdict="approve", item__state="approved")
                | Q(verdict="reject", item__state="rejected"),
            ),
        )
    )
    out = []
    for r in rows:
        a = agreement.get(r["reviewer__username"], {})
        decided_n = a.get("decided", 0)
        out.append(
            {
                "reviewer": r["reviewer__username"],
                "today": r["today"],
                "week": r["week"],
                "agreement": round(100 * a.get("agreed", 0) / decided_n) if decided_n else None,
            }
        )
    return out


def recent_audit_for(item_ids: list) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(item_id__in=item_ids).select_related("actor")


def replace_until(filters: ExplorerFilters, until: datetime) -> ExplorerFilters:
    from dataclasses import replace

    return replace(filters, until=until)


def home_overview(*, user, now: datetime | None = None) -> dict:
    """What the home page shows a person, in a fixed number of cheap queries: their latest
    chats; for experts what waits in the review queue (the item they hold, items assigned to
    them, blind pairs); for leads also disputes, releases waiting for their approval and the
    latest release."""
    now = now or timezone.now()
    overview: dict = {"recent": []}
    if has_perm(user, "use_chat"):
        overview["recent"] = list(
            conversations_for(user)
            .filter(source=Conversation.Source.CHAT)
            .only("id", "title", "updated_at")
            .order_by("-updated_at")[:5]
        )
    if not is_expert(user):
        return overview
    overview |= {
        "depth": queue_depth(),
        "held": held_item(expert=user, now=now),
        "held_pair": pairwise.held_pair(expert=user, now=now),
        "assigned": _assigned_to(user).order_by().count(),
        "pairs_waiting": pairwise.pairs_waiting(),
    }
    if has_perm(user, "adjudicate"):  # the same permissions the page's tiles check
        overview["disputes"] = _disputes_for(user).order_by().count()
    if is_lead(user):
        overview |= {
            "releases_waiting": _releases_waiting(user).count(),
            "latest_release": Release.objects.order_by("-created_at").first(),
        }
    return overview
