"""Release reads.

Contract used by other apps (keep the signature):
- example_is_locked(example) — True when the example is in an approved or published
  release, so its approval can no longer be withdrawn.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db.models import Count, QuerySet
from django.db.models.functions import Coalesce

from annotations.models import Example
from datasets.exports import MIN_EXAMPLES, PAIR_FORMATS, RECOMMENDED_MIN
from datasets.models import Release, ReleaseItem, Split
from evaluation.selectors import score_filter_q

LOCKED_STATES = (Release.State.APPROVED, Release.State.PUBLISHED)


def example_is_locked(example) -> bool:
    return ReleaseItem.objects.filter(
        example_id=getattr(example, "pk", example), release__state__in=LOCKED_STATES
    ).exists()


def release_folder(release: Release) -> Path:
    return Path(settings.EXPORT_DIR) / str(release.id)


def releases_for_list() -> QuerySet[Release]:
    return Release.objects.select_related("built_by", "approved_by").order_by(
        "-created_at", "name", "-version"
    )


def next_version(name: str) -> int:
    last = Release.objects.filter(name=name).order_by("-version").values_list("version", flat=True)
    return (last.first() or 0) + 1


def previous_release(release: Release) -> Release | None:
    """The latest earlier version of the same name that has items to compare with."""
    return (
        Release.objects.filter(name=release.name, version__lt=release.version)
        .exclude(state__in=[Release.State.DRAFT, Release.State.BUILDING, Release.State.FAILED])
        .order_by("-version")
        .first()
    )


# --- selecting examples by a release's filters ------------------------------------------


def examples_matching(filters: dict) -> QuerySet[Example]:
    """Approved examples that pass the database-side filters, in id order.

    Tags are checked in Python by `passes_tags` (JSON-array containment is not portable
    between SQLite and PostgreSQL).
    """
    qs = Example.objects.filter(status=Example.Status.APPROVED)
    if filters.get("date_from"):
        qs = qs.filter(approved_at__date__gte=date.fromisoformat(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(approved_at__date__lte=date.fromisoformat(filters["date_to"]))
    if filters.get("topics"):
        qs = qs.filter(topic_id__in=filters["topics"])
    if filters.get("grounded_only"):
        qs = qs.filter(grounded=True)
    for criterion, minimum in (filters.get("min_scores") or {}).items():
        qs = qs.filter(**{f"scores__{criterion}__gte": minimum})
    if filters.get("eval_scores"):
        qs = qs.filter(score_filter_q(filters["eval_scores"], field="turn_id"))
    if filters.get("reviewers"):
        through = Example.reviewers.through.objects.filter(user_id__in=filters["reviewers"])
        qs = qs.filter(id__in=through.values("example_id"))
    return qs.order_by("id")


def passes_tags(filters: dict, tags) -> bool:
    wanted = filters.get("tags") or []
    return not wanted or bool(set(wanted) & set(tags or []))


def split_for(example_id, *, seed: int, validation_fraction: float) -> str:
    """Deterministic split: a hash of (seed, example id) mapped onto [0, 1)."""
    digest = hashlib.sha256(f"{seed}:{example_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    return Split.VALIDATION if point < validation_fraction else Split.TRAIN


def preview(filters: dict, *, validation_fraction: float, seed: int) -> dict:
    """Counts before building: what the filters select and how it would split."""
    counts = {"examples": 0, "corrected": 0, "grounded": 0, Split.TRAIN: 0, Split.VALIDATION: 0}
    rows = examples_matching(filters).values_list("id", "tags", "corrected", "grounded")
    for example_id, tags, corrected, grounded in rows.iterator(chunk_size=2000):
        if not passes_tags(filters, tags):
            continue
        counts["examples"] += 1
        counts["corrected"] += corrected
        counts["grounded"] += grounded
        counts[split_for(example_id, seed=seed, validation_fraction=validation_fraction)] += 1
    counts["errors"], counts["warnings"] = count_messages(counts["examples"], counts["corrected"])
    return counts


def count_messages(examples: int, corrected: int, formats=None) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    if examples < MIN_EXAMPLES:
        errors.append(
            f"A release needs at least {MIN_EXAMPLES} examples; these filters select {examples}."
        )
    for fmt, (minimum, text) in RECOMMENDED_MIN.items():
        if formats is not None and fmt not in formats:
            continue
        n = corrected if fmt in PAIR_FORMATS else examples
        if n < minimum:
            warnings.append(f"{fmt}: {n} — {text}.")
    return errors, warnings


def release_diff(release: Release, previous: Release | None, limit: int = 200) -> dict:
    """Examples added and removed against the previous version (by example id)."""
    current = dict(
        ReleaseItem.objects.filter(release=release).values_list("example_id", "question")
    )
    before = (
        dict(ReleaseItem.objects.filter(release=previous).values_list("example_id", "question"))
        if previous
        else {}
    )
    added = sorted(set(current) - set(before), key=str)
    removed = sorted(set(before) - set(current), key=str)
    return {
        "added_count": len(added),
        "removed_count": len(removed),
        "kept_count": len(set(current) & set(before)),
        "added": [(pk, current[pk]) for pk in added[:limit]],
        "removed": [(pk, before[pk]) for pk in removed[:limit]],
        "limit": limit,
    }


# The topic a release counts an example under: the one it was approved under, else its turn's.
BALANCE_TOPIC = Coalesce("topic__name", "turn__topic__name")


def topic_balance(release: Release, *, limit: int = 30, counted: dict | None = None) -> dict:
    """The release's topics next to real traffic's: each question's primary topic, the share
    of the release's examples and the share of every logged question (replays and failed
    turns left out), largest first. A dataset that trains on what users really ask has
    shares close to traffic's; `gap` is the release share minus the traffic share.
    `counted`: the release's examples per BALANCE_TOPIC name, when the caller counted them
    (the build does, as it goes); else they are read from its items."""
    from chat.models import Turn

    def shares(rows) -> tuple[dict, int]:
        counts: dict[str, int] = {}
        for name, n in rows:
            counts[name or "(no topic)"] = counts.get(name or "(no topic)", 0) + n
        return counts, sum(counts.values())

    if counted is None:
        counted = dict(
            release.items.annotate(
                name=Coalesce("example__topic__name", "example__turn__topic__name")
            )
            .values_list("name")
            .annotate(n=Count("example_id"))
            .values_list("name", "n")
        )
    released, in_release = shares(counted.items())
    traffic, in_traffic = shares(
        Turn.objects.filter(status=Turn.Status.OK, replay_of__isnull=True)
        .values_list("topic__name")
        .annotate(n=Count("id"))
        .values_list("topic__name", "n")
    )
    rows = []
    for name in sorted(set(released) | set(traffic), key=lambda t: (-released.get(t, 0), t)):
        r_share = released.get(name, 0) / in_release if in_release else 0.0
        t_share = traffic.get(name, 0) / in_traffic if in_traffic else 0.0
        rows.append(
            {
                "topic": name,
                "examples": released.get(name, 0),
                "share": round(r_share, 4),
                "traffic": traffic.get(name, 0),
                "traffic_share": round(t_share, 4),
                "gap": round(r_share - t_share, 4),
            }
        )
    return {
        "basis": "primary topic of each question; traffic is every logged question "
        "(replays and failed turns left out)",
        "examples": in_release,
        "traffic": in_traffic,
        "topics": rows[:limit],
        "other_topics": max(0, len(rows) - limit),
    }


def describe_filters(filters: dict) -> list[tuple[str, str]]:
    """A release definition as people read it: reviewer and topic names, not ids."""
    from django.contrib.auth.models import User

    from chat.models import Topic

    names = {
        "reviewers": lambda ids: sorted(
            User.objects.filter(id__in=ids).values_list("username", flat=True)
        ),
        "topics": lambda ids: sorted(
            Topic.objects.filter(id__in=ids).values_list("name", flat=True)
        ),
    }
    rows = []
    for key, value in filters.items():
        if key in names:
            value = names[key](value)
        if key == "min_scores":
            shown = ", ".join(f"{k} ≥ {v:g}" for k, v in value.items())
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = str(value)
        rows.append((key.replace("_", " "), shown))
    return rows
