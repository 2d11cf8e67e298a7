"""Topic reads for the topics page: volume, trend, ratings, passages used, grounding gaps.

Read from SQL, the system of record (the graph holds the same memberships as ABOUT edges).
Counts are per membership: a question in a keyword topic and a discovered one counts in both.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from chat.llm import RELEVANCE_FLOOR
from chat.models import Feedback, Topic, TopicMembership, Turn, TurnContext
from topics.models import DiscoveryRun

TREND_DAYS = 7
UNRELATED_TOPICS = 3  # a chunk retrieved for this many discovered topics is "everywhere"


def topic_for_expert(topic_id) -> Topic:
    try:
        return Topic.objects.get(pk=topic_id)
    except Topic.DoesNotExist as exc:
        raise Http404("No such topic") from exc


def latest_run() -> DiscoveryRun | None:
    return DiscoveryRun.objects.select_related("created_by").first()


def topics_overview() -> list[dict]:
    """One row per topic: volume, this week against last week, thumbs, weak grounding."""
    now = timezone.now()
    week, fortnight = now - timedelta(days=TREND_DAYS), now - timedelta(days=2 * TREND_DAYS)
    rows = {
        r["id"]: {**r, "up": 0, "down": 0}
        for r in Topic.objects.annotate(
            volume=Count("memberships"),
            recent=Count("memberships", filter=Q(memberships__turn__created_at__gte=week)),
            before=Count(
                "memberships",
                filter=Q(
                    memberships__turn__created_at__gte=fortnight,
                    memberships__turn__created_at__lt=week,
                ),
            ),
            weak=Count("memberships", filter=_weak_context("memberships__turn__")),
        ).values("id", "name", "method", "pinned", "terms", "volume", "recent", "before", "weak")
    }
    ratings = (
        Feedback.objects.filter(turn__topic_memberships__isnull=False)
        .values("turn__topic_memberships__topic_id", "rating")
        .annotate(n=Count("id"))
    )
    for r in ratings:
        row = rows.get(r["turn__topic_memberships__topic_id"])
        if row:
            row[r["rating"]] += r["n"]
    out = sorted(rows.values(), key=lambda r: (-r["volume"], r["name"]))
    for r in out:
        rated = r["up"] + r["down"]
        r["up_ratio"] = round(r["up"] / rated, 2) if rated else None
        r["trend"] = r["recent"] - r["before"]
    return out


def _weak_context(prefix: str = "") -> Q:
    """No good context: nothing retrieved, or nothing above the relevance floor."""
    return Q(**{f"{prefix}max_context_score__isnull": True}) | Q(
        **{f"{prefix}max_context_score__lt": RELEVANCE_FLOOR}
    )


def topic_questions(topic: Topic, *, limit: int = 100) -> list[dict]:
    return list(
        TopicMembership.objects.filter(topic=topic)
        .order_by("-turn__created_at")
        .values(
            "turn_id",
            "method",
            "score",
            "turn__question",
            "turn__created_at",
            "turn__max_context_score",
        )[:limit]
    )


def topic_passages(topic: Topic, *, limit: int = 10) -> dict:
    """The chunks and documents this topic's questions retrieved, most used first."""
    contexts = TurnContext.objects.filter(turn__topic_memberships__topic=topic).exclude(chunk=None)
    chunks = (
        contexts.values("chunk_id", "chunk__index", "chunk__document__title")
        .annotate(n=Count("id"))
        .order_by("-n", "chunk_id")[:limit]
    )
    documents = (
        contexts.values("chunk__document_id", "chunk__document__title")
        .annotate(n=Count("id"))
        .order_by("-n", "chunk__document__title")[:limit]
    )
    return {"chunks": list(chunks), "documents": list(documents)}


def grounding_gaps(*, limit: int = 20) -> dict:
    """Candidates for better grounding data."""
    from knowledge.models import Chunk, Document

    weak_by_topic = (
        TopicMembership.objects.filter(_weak_context("turn__"))
        .values("topic_id", "topic__name")
        .annotate(n=Count("turn_id", distinct=True))
        .order_by("-n", "topic__name")[:limit]
    )
    weak_without_topic = Turn.objects.filter(_weak_context(), topic=None, replay_of=None).count()
    never = (
        Document.objects.exclude(
            id__in=Chunk.objects.filter(turn_contexts__isnull=False).values("document_id")
        )
        .order_by("title")
        .values("id", "title", "source")[:limit]
    )
    everywhere = (
        TurnContext.objects.exclude(chunk=None)
        .filter(turn__topic_memberships__method=TopicMembership.Method.DISCOVERED)
        .values("chunk_id", "chunk__index", "chunk__document__title")
        .annotate(topics=Count("turn__topic_memberships__topic", distinct=True))
        .filter(topics__gte=UNRELATED_TOPICS)
        .order_by("-topics", "chunk_id")[:limit]
    )
    return {
        "weak_by_topic": list(weak_by_topic),
        "weak_without_topic": weak_without_topic,
        "never_retrieved": list(never),
        "everywhere": list(everywhere),
    }
