"""Evaluation reads: evaluator lists, scores of a turn, score filters, judge–expert alignment."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Avg, Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone

from annotations.models import Criterion, Review
from annotations.selectors import active_rubric
from evaluation.models import BackfillJob, Evaluator, EvaluatorVersion, Score

MAX_DISAGREEMENTS = 10


def rubric_criteria() -> list[dict]:
    """The active review rubric's criteria, as judge criteria: a judge that scores the same
    keys on the same scale is compared with the experts on the alignment page."""
    rubric = active_rubric()
    if rubric is None:
        return []
    return [
        {"key": c.key, "label": c.label, "scale_min": c.scale_min, "scale_max": c.scale_max}
        for c in rubric.criteria.all()
    ]


def evaluators_for_list() -> QuerySet[Evaluator]:
    return Evaluator.objects.annotate(
        n_versions=Count("versions", distinct=True),
    ).order_by("kind", "name")


def evaluator_get(pk) -> Evaluator:
    return get_object_or_404(Evaluator, pk=pk)


def backfill_get(pk) -> BackfillJob:
    return get_object_or_404(
        BackfillJob.objects.select_related("evaluator_version__evaluator"), pk=pk
    )


def score_counts(version_ids: list) -> dict:
    rows = (
        Score.objects.filter(evaluator_version_id__in=version_ids)
        .values("evaluator_version_id")
        .annotate(n=Count("id"), errors=Count("id", filter=~Q(error="")))
    )
    return {r["evaluator_version_id"]: r for r in rows}


def latest_version_ids() -> QuerySet:
    """The current version of every evaluator (the one whose scores count), as a subquery
    for `evaluator_version_id__in=`: no round trip of its own on pages that use it twice."""
    newer = EvaluatorVersion.objects.filter(
        evaluator_id=OuterRef("evaluator_id"), version__gt=OuterRef("version")
    )
    return EvaluatorVersion.objects.filter(~Exists(newer)).values("id")


def turn_scores(turn_ids: list) -> dict[object, list[Score]]:
    """Scores per turn (latest version of each evaluator only), for review and replay pages."""
    out: dict[object, list[Score]] = defaultdict(list)
    for s in (
        Score.objects.filter(turn_id__in=turn_ids, evaluator_version_id__in=latest_version_ids())
        .select_related("evaluator_version__evaluator")
        .order_by("evaluator_version__evaluator__name", "criterion")
    ):
        out[s.turn_id].append(s)
    return out


# --- score filters ("groundedness >= 0.8") --------------------------------------------------

_FILTER = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(>=|<=|>|<|≥|≤)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS = {">=": "gte", "≥": "gte", "<=": "lte", "≤": "lte", ">": "gt", "<": "lt"}


class ScoreFilterError(ValueError):
    pass


def known_criteria() -> set[str]:
    return set(Score.objects.values_list("criterion", flat=True).distinct()) | {
        c["key"] for v in EvaluatorVersion.objects.values_list("criteria", flat=True) for c in v
    }


def score_filter_q(expression: str, *, field: str = "id") -> Q:
    """A Q over turns (`field` names the turn id: "id" on Turn, "turn_id" elsewhere) for
    comma-separated "criterion op value" terms on the 0–1 normalised score; a turn passes a
    term when every latest-version score it has on that criterion does (and it has one).
    An unknown criterion or bad syntax raises ScoreFilterError naming it."""
    q = Q()
    known = None
    for term in filter(None, (t.strip() for t in expression.split(","))):
        match = _FILTER.match(term)
        if not match:
            raise ScoreFilterError(f"{term!r}: write criterion >= value, e.g. groundedness >= 0.8")
        key, op, value = match.group(1), _OPS[match.group(2)], float(match.group(3))
        known = known if known is not None else known_criteria()
        if key not in known:
            choices = ", ".join(sorted(known)) or "none yet"
            raise ScoreFilterError(f"No evaluator scores {key!r}; known criteria: {choices}.")
        bound = "min" if op in ("gte", "gt") else "max"
        agg = Min("normalized") if bound == "min" else Max("normalized")
        ids = (
            Score.objects.filter(criterion=key, normalized__isnull=False)
            .values("turn_id")
            .annotate(bound=agg)
            .filter(**{f"bound__{op}": value})
            .values("turn_id")
        )
        q &= Q(**{f"{field}__in": ids})
    return q


# --- alignment with the experts ---------------------------------------------------------------


@dataclass
class Alignment:
    evaluator: Evaluator
    version: EvaluatorVersion
    criterion: str
    scale: tuple[int, int]
    n: int = 0
    alpha: float | None = None
    agreement: float | None = None
    note: str = ""
    disagreements: list[dict] = field(default_factory=list)


def _on_scale(normalized: float, low: int, high: int) -> int:
    return round(low + normalized * (high - low))


def alignment() -> list[Alignment]:
    """For every evaluator version × criterion that experts also rated (a review rubric
    criterion with the same key) on the same turns: Krippendorff's alpha (ordinal) between the
    evaluator and the experts' mean, plain agreement (the same point on the rubric's scale),
    n, and the turns where they disagree most. Evaluator scores are put on the rubric's scale
    through their 0–1 normalised value."""
    import krippendorff

    scales = {(c.rubric_id, c.key): (c.scale_min, c.scale_max) for c in Criterion.objects.all()}
    keys = {key for _, key in scales}
    expert: dict[tuple, list[float]] = defaultdict(list)
    expert_scale: dict[str, tuple[int, int]] = {}
    scored = Score.objects.filter(criterion__in=keys, normalized__isnull=False)
    turn_ids = scored.values("turn_id")
    for turn_id, rubric_id, scores in Review.objects.filter(item__turn_id__in=turn_ids).values_list(
        "item__turn_id", "rubric_id", "scores"
    ):
        for key, value in (scores or {}).items():
            if (rubric_id, key) in scales and isinstance(value, (int, float)):
                expert[(turn_id, key)].append(value)
                expert_scale.setdefault(key, scales[(rubric_id, key)])
    pairs: dict[tuple, list[tuple]] = defaultdict(list)
    for s in scored.values(
        "turn_id", "evaluator_version_id", "criterion", "normalized", "turn__question"
    ):
        mine = expert.get((s["turn_id"], s["criterion"]))
        if mine:
            pairs[(s["evaluator_version_id"], s["criterion"])].append(
                (s["turn_id"], s["normalized"], sum(mine) / len(mine), s["turn__question"])
            )
    versions = EvaluatorVersion.objects.select_related("evaluator").in_bulk([v for v, _ in pairs])
    out = []
    for (version_id, key), rows in sorted(
        pairs.items(),
        key=lambda kv: (versions[kv[0][0]].evaluator.name, kv[0][1], -versions[kv[0][0]].version),
    ):
        low, high = expert_scale[key]
        version = versions[version_id]
        judge_points = [_on_scale(n, low, high) for _, n, _, _ in rows]
        expert_points = [round(e) for _, _, e, _ in rows]
        row = Alignment(version.evaluator, version, key, (low, high), n=len(rows))
        row.agreement = sum(a == b for a, b in zip(judge_points, expert_points, strict=True)) / len(
            rows
        )
        if len(set(judge_points) | set(expert_points)) < 2:
            row.note = "every rating is the same point, so alpha is undefined"
        else:
            row.alpha = float(
                krippendorff.alpha(
                    reliability_data=[judge_points, expert_points],
                    level_of_measurement="ordinal",
                    value_domain=list(range(low, high + 1)),
                )
            )
        ranked = sorted(zip(rows, judge_points, strict=True), key=lambda r: -abs(r[1] - r[0][2]))
        row.disagreements = [
            {"turn_id": t, "question": q, "judge": p, "experts": round(e, 2), "gap": abs(p - e)}
            for (t, _, e, q), p in ranked[:MAX_DISAGREEMENTS]
            if abs(p - e) >= 1
        ]
        out.append(row)
    return out


# --- analytics --------------------------------------------------------------------------------


def latest_quality_scores() -> QuerySet[Score]:
    """The 0–1 scores that speak of an answer's quality: current evaluator versions, no
    refusal flags (a refusal is not wrong)."""
    return Score.objects.filter(
        evaluator_version_id__in=latest_version_ids(), normalized__isnull=False
    ).exclude(criterion="refusal")


HEAT_BANDS = 5  # a cell's colour: its mean in fifths, 0 (below 0.2) to 4 (0.8 and over)


def scores_by_topic(topics: int = 30) -> dict:
    """Mean 0–1 score per topic and criterion (current versions), as a grid for the heat map:
    a row a topic, a column a criterion, the topics whose worst criterion is lowest first
    (where the model struggles). Past `topics` rows the rest are counted in `more`."""
    rows = (
        latest_quality_scores()
        .values("turn__topic__name", "criterion")
        .annotate(mean=Avg("normalized"), n=Count("id"))
        .order_by()
    )
    criteria = sorted({r["criterion"] for r in rows})
    by_topic: dict[str, dict] = defaultdict(dict)
    for r in rows:
        by_topic[r["turn__topic__name"] or "(no topic)"][r["criterion"]] = r
    grid = []
    for name, cells in by_topic.items():
        worst = min(c["mean"] for c in cells.values())
        grid.append(
            {
                "topic": name,
                "worst": worst,
                "cells": [_heat_cell(c, cells.get(c)) for c in criteria],
            }
        )
    grid.sort(key=lambda row: (row["worst"], row["topic"]))
    return {"criteria": criteria, "topics": grid[:topics], "more": max(len(grid) - topics, 0)}


def _heat_cell(criterion: str, row: dict | None) -> dict | None:
    if row is None:
        return None
    band = min(int(row["mean"] * HEAT_BANDS), HEAT_BANDS - 1)
    return {"criterion": criterion, "mean": row["mean"], "n": row["n"], "band": band}


def scores_over_time(days: int = 30) -> dict:
    """Mean 0–1 score per day (of the answer) and criterion, over the last `days` days."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        latest_quality_scores()
        .filter(turn__created_at__gte=since)
        .annotate(day=TruncDate("turn__created_at"))
        .values("day", "criterion")
        .annotate(mean=Avg("normalized"), n=Count("id"))
        .order_by("day", "criterion")
    )
    criteria = sorted({r["criterion"] for r in rows})
    by_day: dict = defaultdict(dict)
    for r in rows:
        by_day[r["day"]][r["criterion"]] = r["mean"]
    return {
        "criteria": criteria,
        "days": [
            {"day": day, "means": [by_day[day].get(c) for c in criteria]} for day in sorted(by_day)
        ],
    }
