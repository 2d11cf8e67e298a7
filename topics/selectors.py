"""Topic reads for the topics page: volume, trend, ratings, passages used, grounding gaps.

Read from SQL, the system of record (the graph holds the same memberships as ABOUT edges).
Counts are per membership: a question in a keyword topic and a discovered one counts in both.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, F, Q
from django.http import Http404
from django.utils import timezone

from chat.llm import RELEVANCE_FLOOR
from chat.models import Feedback, Topic, TopicMembership, Turn, TurnContext
from evaluation.selectors import latest_quality_scores
from topics.models import DiscoveryRun

TREND_DAYS = 7
MAX_PAIRS = 50_000  # replay pairs read for the grounding effect (the newest)
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
    quality = topic_quality()
    effect = grounding_effect()
    out = sorted(rows.values(), key=lambda r: (-r["volume"], r["name"]))
    for r in out:
        rated = r["up"] + r["down"]
        r["up_ratio"] = round(r["up"] / rated, 2) if rated else None
        r["trend"] = r["recent"] - r["before"]
        r["quality"] = quality.get(r["id"])
        r["grounding"] = effect.get(r["id"])
    return out


def topic_quality(topic_id=None) -> dict:
    """{topic id: {"mean", "n"}}: the mean 0–1 evaluator score of the topic's answers
    (every quality criterion of the current evaluator versions), where scores exist."""
    scores = latest_quality_scores().filter(turn__topic_memberships__isnull=False)
    if topic_id is not None:
        scores = scores.filter(turn__topic_memberships__topic_id=topic_id)
    rows = scores.values("turn__topic_memberships__topic_id").annotate(
        mean=Avg("normalized"), n=Count("turn_id", distinct=True)
    )
    return {
        r["turn__topic_memberships__topic_id"]: {"mean": round(r["mean"], 2), "n": r["n"]}
        for r in rows
    }


def topic_criteria(topic: Topic) -> list[dict]:
    """The topic's mean 0–1 score per evaluator criterion, worst first."""
    return list(
        latest_quality_scores()
        .filter(turn__topic_memberships__topic=topic)
        .values("evaluator_version__evaluator__name", "criterion")
        .annotate(mean=Avg("normalized"), n=Count("turn_id", distinct=True))
        .order_by("mean", "criterion")
    )


def grounding_effect(topic_id=None) -> dict:
    """{topic id: {"delta", "n", "better", "worse"}}: what grounding changed, from replays and
    experiments — each answer re-asked with grounding switched (an original without
    grounding replayed with it, or the other way round), the grounded answer's mean 0–1
    score minus the ungrounded one's, averaged over the topic's pairs (positive: grounding
    helped). Pairs where either side has no score are left out; the topic is the original
    question's."""
    switched = Turn.objects.filter(replay_of__isnull=False).exclude(
        grounded=F("replay_of__grounded")
    )
    if topic_id is not None:
        switched = switched.filter(replay_of__topic_memberships__topic_id=topic_id)
    pairs = list(
        switched.order_by("-created_at").values_list("id", "replay_of_id", "grounded")[:MAX_PAIRS]
    )
    if not pairs:
        return {}
    ids = {i for pair in pairs for i in pair[:2]}
    quality = dict(
        latest_quality_scores()
        .filter(turn_id__in=ids)
        .values("turn_id")
        .annotate(q=Avg("normalized"))
        .values_list("turn_id", "q")
    )
    topics_of: dict = {}
    memberships = TopicMembership.objects.filter(turn_id__in={p[1] for p in pairs})
    if topic_id is not None:
        memberships = memberships.filter(topic_id=topic_id)
    for turn_id, tid in memberships.values_list("turn_id", "topic_id"):
        topics_of.setdefault(turn_id, set()).add(tid)
    deltas: dict = {}
    for replay, original, replay_grounded in pairs:
        if replay not in quality or original not in quality:
            continue
        grounded, ungrounded = (replay, original) if replay_grounded else (original, replay)
        delta = quality[grounded] - quality[ungrounded]
        for tid in topics_of.get(original, ()):
            deltas.setdefault(tid, []).append(delta)
    return {
        tid: {
            "delta": round(sum(d) / len(d), 2),
            "n": len(d),
            "better": sum(1 for x in d if x > 0),
            "worse": sum(1 for x in d if x < 0),
        }
        for tid, d in deltas.items()
    }


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
