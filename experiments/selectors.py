"""Experiment reads: the results page's numbers, each one traceable to the answers behind it.

An answer's quality is the mean of its normalized (0–1) evaluator scores over the quality
criteria (everything but `refusal`, which says what kind of answer it is, not how good).
Arms are compared with the first arm as the baseline: per question, a difference above
`TIE_MARGIN` is a win or a loss, anything closer is a tie.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import Http404

from chat.models import TopicMembership, Turn
from experiments import stats
from experiments.models import Arm, Experiment

TIE_MARGIN = 0.05
NO_TOPIC = "no topic"
NOT_QUALITY = {"refusal"}


def experiments_for_list() -> QuerySet[Experiment]:
    return Experiment.objects.select_related("created_by", "release").order_by("-created_at")


def experiment_get(pk) -> Experiment:
    experiment = Experiment.objects.select_related("created_by", "release").filter(pk=pk).first()
    if experiment is None:
        raise Http404("No such experiment")
    return experiment


def compare_pairs(experiment: Experiment, arm: Arm) -> list[tuple[Turn, Turn | None]]:
    """(baseline answer, this arm's answer) per question, in question order, with their
    passages and every rating, for the side-by-side page (what a replay showed)."""
    from django.db.models import Prefetch

    from chat.models import Feedback

    details = Prefetch("feedback", queryset=Feedback.objects.select_related("user"))
    baseline = experiment.arms.order_by("position").first()

    def by_question(a: Arm) -> dict[str, Turn]:
        if a.kind == Arm.Kind.LOGGED:
            turns = Turn.objects.filter(pk__in=experiment.question_ids)
            return {str(t.pk): t for t in turns.prefetch_related("contexts", details)}
        turns = Turn.objects.filter(conversation_id=a.conversation_id)
        return {str(t.replay_of_id): t for t in turns.prefetch_related("contexts", details)}

    left, right = by_question(baseline), by_question(arm)
    return [(left[q], right.get(q)) for q in experiment.question_ids if q in left]


@dataclass
class Answer:
    question_id: str
    question: str
    topics: tuple[str, ...]  # every topic the question belongs to, primary first
    arm: int
    turn_id: str | None
    status: str
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return ", ".join(self.topics)

    @property
    def quality(self) -> float | None:
        values = [v for k, v in self.scores.items() if k not in NOT_QUALITY]
        return sum(values) / len(values) if values else None


def compared_quality(a: Answer, b: Answer) -> tuple[float, float] | None:
    """Two answers' quality over the criteria both were scored on, or None when they share
    none. A question's answers are compared on one yardstick: a grounded answer has a
    groundedness score an ungrounded one cannot have, and a mean over different criteria
    would weigh that in."""
    common = (a.scores.keys() & b.scores.keys()) - NOT_QUALITY
    if not common:
        return None
    return (
        sum(a.scores[c] for c in common) / len(common),
        sum(b.scores[c] for c in common) / len(common),
    )


def answers(experiment: Experiment) -> tuple[list[Arm], list[Answer], list[str]]:
    """Every (question, arm) answer with its scores, in question order; and the criteria."""
    arms = list(experiment.arms.order_by("position"))
    questions = {
        str(t["id"]): t
        for t in Turn.objects.filter(pk__in=experiment.question_ids).values("id", "question")
    }
    topics = question_topics(experiment)
    by_arm: dict[int, dict[str, dict]] = {}
    for arm in arms:
        if arm.kind == Arm.Kind.LOGGED:
            by_arm[arm.position] = {
                q: {"id": q, "status": Turn.Status.OK} for q in questions
            }  # the original answer is the question's own turn
            continue
        rows = Turn.objects.filter(conversation_id=arm.conversation_id).values(
            "id", "replay_of_id", "status"
        )
        by_arm[arm.position] = {
            str(r["replay_of_id"]): {"id": str(r["id"]), "status": r["status"]} for r in rows
        }
    turn_ids = [a["id"] for per in by_arm.values() for a in per.values()]
    scores, criteria = _scores(experiment, turn_ids)
    out = []
    for qid in experiment.question_ids:
        question = questions.get(qid)
        if question is None:
            continue
        for arm in arms:
            given = by_arm[arm.position].get(qid)
            out.append(
                Answer(
                    question_id=qid,
                    question=question["question"],
                    topics=topics.get(qid) or (NO_TOPIC,),
                    arm=arm.position,
                    turn_id=given["id"] if given else None,
                    status=given["status"] if given else "missing",
                    scores=scores.get(given["id"], {}) if given else {},
                )
            )
    return arms, out, criteria


def question_topics(experiment: Experiment) -> dict[str, tuple[str, ...]]:
    """Each question's topics by membership (keyword, discovered, manual), its primary topic
    first; only the filter's topics when the question set was chosen by topic, so the
    per-topic results are the topics the experiment asked about."""
    memberships = TopicMembership.objects.filter(turn_id__in=experiment.question_ids)
    chosen = experiment.filters.get("topics") or (
        [experiment.filters["topic"]] if experiment.filters.get("topic") else []
    )
    if chosen:
        memberships = memberships.filter(topic_id__in=chosen)
    rows = memberships.values_list("turn_id", "topic_id", "topic__name", "turn__topic_id")
    found: dict[str, list[tuple[bool, str]]] = defaultdict(list)
    for turn_id, topic_id, name, primary_id in rows.order_by("topic__name"):
        entry = (topic_id != primary_id, name)
        if entry not in found[str(turn_id)]:
            found[str(turn_id)].append(entry)
    return {qid: tuple(dict.fromkeys(n for _, n in sorted(e))) for qid, e in found.items()}


def _scores(experiment: Experiment, turn_ids: list[str]) -> tuple[dict, list[str]]:
    from evaluation.models import Score
    from evaluation.selectors import latest_version_ids

    rows = Score.objects.filter(
        turn_id__in=turn_ids,
        evaluator_version_id__in=latest_version_ids(),
        evaluator_version__evaluator__name__in=experiment.evaluators,
        normalized__isnull=False,
    ).values_list("turn_id", "criterion", "normalized")
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    criteria: set[str] = set()
    for turn_id, criterion, value in rows.iterator(chunk_size=5000):
        scores[str(turn_id)][criterion] = value
        criteria.add(criterion)
    return scores, sorted(criteria)


def results(experiment: Experiment) -> dict:
    """The results page's numbers, JSON-ready (a finished experiment keeps them, so the page
    does not recompute intervals over thousands of answers on every view)."""
    arms, rows, criteria = answers(experiment)
    arm_dicts = [_arm_dict(arm) for arm in arms]
    per_arm = {arm.position: [r for r in rows if r.arm == arm.position] for arm in arms}
    summary = []
    for arm, arm_dict in zip(arms, arm_dicts, strict=True):
        arm_rows = per_arm[arm.position]
        cells = {}
        for criterion in [*criteria, "quality"]:
            values = [
                r.quality if criterion == "quality" else r.scores.get(criterion) for r in arm_rows
            ]
            cells[criterion] = _interval([v for v in values if v is not None])
        errors = sum(1 for r in arm_rows if r.status == Turn.Status.ERROR)
        summary.append({"arm": arm_dict, "cells": cells, "n": len(arm_rows), "errors": errors})
    baseline = arms[0].position if arms else 0
    by_key = {(r.question_id, r.arm): r for r in rows}
    pairwise = [_pairwise(a, baseline, by_key, experiment) for a in arm_dicts[1:]]
    return {
        "arms": arm_dicts,
        "criteria": criteria,
        "summary": summary,
        "pairwise": pairwise,
        "topics": _topics(arms, rows, baseline),
        "turned_negative": _turned_negative(rows, baseline),
        "answers": len(rows),
    }


def results_for_page(experiment: Experiment) -> dict:
    """Kept results for a finished experiment, computed ones while it runs; the experts'
    blind preferences read fresh either way (they keep coming in after the run)."""
    found = experiment.results if experiment.finished and experiment.results else None
    found = dict(found) if found else results(experiment)
    found["pairwise"] = with_expert_preferences(experiment, found["pairwise"], found["arms"])
    return found


def with_expert_preferences(experiment: Experiment, pairwise: list[dict], arms: list) -> list:
    """Each comparison with the experts' blind preferences beside the judge's: wins, ties and
    losses of the arm against the baseline, a sign test, and how many pairs still wait."""
    from annotations.pairwise import preferences

    judged = preferences(experiment.pk)
    baseline = str(arms[0]["position"]) if arms else "0"
    out = []
    for p in pairwise:
        cell = judged.get((baseline, str(p["arm"]["position"])))
        experts = None
        if cell:
            n = cell["wins"] + cell["ties"] + cell["losses"]
            experts = {**cell, "n": n, "p": stats.sign_test(cell["wins"], cell["losses"])}
            for pct, count in (("win_pct", "wins"), ("tie_pct", "ties"), ("loss_pct", "losses")):
                experts[pct] = 100 * cell[count] / n if n else 0
        out.append({**p, "experts": experts})
    return out


def _arm_dict(arm: Arm) -> dict:
    return {
        "position": arm.position,
        "label": arm.label,
        "kind": arm.kind,
        "model_key": arm.model_key,
        "grounded": arm.grounded,
        "k": arm.k,
    }


def _interval(values: list[float]) -> dict | None:
    found = stats.bootstrap_ci(values)
    if found is None:
        return None
    mean, low, high = found
    return {"mean": mean, "low": low, "high": high, "n": len(values)}


def _pairwise(arm: dict, baseline: int, answers: dict, experiment: Experiment) -> dict:
    wins = ties = losses = 0
    for qid in experiment.question_ids:
        first, second = answers.get((qid, baseline)), answers.get((qid, arm["position"]))
        compared = compared_quality(first, second) if first and second else None
        if compared is None:
            continue
        a, b = compared
        if b - a > TIE_MARGIN:
            wins += 1
        elif a - b > TIE_MARGIN:
            losses += 1
        else:
            ties += 1
    total = wins + ties + losses
    return {
        "arm": arm,
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "n": total,
        "p": stats.sign_test(wins, losses),
        "win_pct": 100 * wins / total if total else 0,
        "tie_pct": 100 * ties / total if total else 0,
        "loss_pct": 100 * losses / total if total else 0,
    }


def _topics(arms: list[Arm], rows: list[Answer], baseline: int) -> list[dict]:
    """Per topic: each arm's mean quality and its change against the baseline, the topics
    that got worse first (the seed's "topics that trended negative")."""
    by_topic: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.quality is not None:
            for topic in r.topics:  # a question in two topics counts in both
                by_topic[topic][r.arm].append(r.quality)
    out = []
    for topic, per_arm in by_topic.items():
        means = {a.position: _mean(per_arm.get(a.position, [])) for a in arms}
        base = means.get(baseline)
        changes = {
            a.position: (means[a.position] - base)
            if base is not None and means[a.position] is not None
            else None
            for a in arms[1:]
        }
        worst = min((c for c in changes.values() if c is not None), default=0.0)
        n = max((len(v) for v in per_arm.values()), default=0)
        cells = [{"mean": means[a.position], "change": changes.get(a.position)} for a in arms]
        out.append({"topic": topic, "n": n, "cells": cells, "worst": worst})
    return sorted(out, key=lambda t: (t["worst"], t["topic"]))


def _turned_negative(rows: list[Answer], baseline: int) -> list[dict]:
    base = {r.question_id: r for r in rows if r.arm == baseline}
    worse = []
    for r in rows:
        b = base.get(r.question_id)
        compared = compared_quality(b, r) if r.arm != baseline and b is not None else None
        if compared is None:
            continue
        before, after = compared
        if before - after > TIE_MARGIN:
            worse.append(
                {
                    "question": r.question,
                    "topic": r.topic,
                    "arm": r.arm,
                    "drop": before - after,
                    "answer_id": r.turn_id,
                    "baseline_id": b.turn_id,
                }
            )
    return sorted(worse, key=lambda w: -w["drop"])[:50]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
