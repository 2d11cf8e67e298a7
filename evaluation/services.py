"""Evaluation writes: evaluators and their versions, scores, online scoring, backfills.

The evaluation layer sits beside the domain apps: it reads chat and annotations models, and
nothing there imports it. New turns reach it through a periodic scan (`online_scan`, every
`EVAL_ONLINE_INTERVAL_S` from Celery beat), not through a hook on the logging path, so logging a
turn costs exactly what it did before (`chat_logging_overhead_p95_ms` cannot move) and a broker
or judge outage never touches logging. Offline checks run inside the scan (≥ 500 turns/s);
judge work is recorded as `ScoreRequest` rows and done by `evaluation.tasks.judge_turns`.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from annotations.models import Review
from chat.models import Turn, TurnContext
from evaluation import judge, offline
from evaluation.models import (
    BackfillJob,
    Evaluator,
    EvaluatorVersion,
    JudgeUsage,
    OnlineCursor,
    Score,
    ScoreRequest,
)
from evaluation.selectors import latest_version_ids
from knowledge import retrieval
from outbox.services import record
from reviewhub import bulk, jobs

log = logging.getLogger(__name__)

OFFLINE_CRITERION_SCALE = {"scale_min": 0, "scale_max": 1}
SCORE_UPDATE = (
    "value",
    "normalized",
    "reason",
    "details",
    "latency_ms",
    "judge_prompt_tokens",
    "judge_completion_tokens",
    "attempts",
    "error",
    "source",
    "updated_at",
)


class EvaluationError(ValueError):
    """A request the user should be told about in plain words."""


# --- evaluators -------------------------------------------------------------------------------

BUILTIN_DESCRIPTIONS = {
    "groundedness": "Share of answer sentences supported by the passages (offline, lexical).",
    "citation_validity": "Every [n] names a given passage that supports the sentence (offline).",
    "context_relevance": "Share of retrieved passages that are about the question (offline).",
    "refusal": "1 when the answer declines to answer ('I don't know'), else 0 (offline).",
    "kb_support": "Share of answer sentences the knowledge base supports, whether or not the "
    "answer was grounded; a refusal the knowledge base could have answered is 0 (offline).",
}


def builtin_evaluators_ensure() -> list[Evaluator]:
    """The built-in offline evaluators, created on first use (idempotent)."""
    out = []
    for key, description in BUILTIN_DESCRIPTIONS.items():
        evaluator, created = Evaluator.objects.get_or_create(
            builtin=key,
            kind=Evaluator.Kind.OFFLINE,
            defaults={"name": Evaluator.Builtin(key).label, "description": description},
        )
        if created:
            EvaluatorVersion.objects.create(
                evaluator=evaluator,
                criteria=[{"key": key, "label": evaluator.name, **OFFLINE_CRITERION_SCALE}],
            )
        out.append(evaluator)
    return out


def criteria_clean(criteria: object) -> list[dict]:
    """Validated judge criteria: [{"key", "label", "scale_min", "scale_max"}, …]."""
    if not isinstance(criteria, list) or not criteria:
        raise EvaluationError("Give at least one criterion.")
    out, seen = [], set()
    for c in criteria:
        key = str(c.get("key", "")).strip() if isinstance(c, dict) else ""
        if not key.replace("_", "").isalnum() or len(key) > 50:
            raise EvaluationError(f"Criterion key {key!r}: use letters, digits and underscores.")
        if key in seen:
            raise EvaluationError(f"Criterion {key!r} is listed twice.")
        low, high = c.get("scale_min", 1), c.get("scale_max", 5)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise EvaluationError(f"Criterion {key!r}: the scale must be whole numbers.")
        if high <= low:
            raise EvaluationError(f"Criterion {key!r}: the scale's top must be above its bottom.")
        seen.add(key)
        out.append(
            {
                "key": key,
                "label": str(c.get("label") or key)[:120],
                "scale_min": low,
                "scale_max": high,
            }
        )
    return out


def _check_template(template: str) -> None:
    if "{answer}" not in template:
        raise EvaluationError("The prompt template must contain {answer}.")


@transaction.atomic
def evaluator_create(
    *,
    name: str,
    created_by,
    criteria: list[dict] | None = None,
    prompt_template: str = "",
    model: str = "",
    description: str = "",
    sampling_rate: float = 1.0,
    filter_sources: list[str] | None = None,
    filter_models: list[str] | None = None,
    filter_topics: list[str] | None = None,
    hourly_cap: int = 0,
    is_active: bool = True,
) -> Evaluator:
    """A new LLM-judge evaluator with its version 1."""
    name = name.strip()
    if not name:
        raise EvaluationError("Give the evaluator a name.")
    if Evaluator.objects.filter(name=name).exists():
        raise EvaluationError(f"An evaluator named {name!r} already exists.")
    template = prompt_template or judge.DEFAULT_PROMPT
    _check_template(template)
    _check_sampling(sampling_rate)
    evaluator = Evaluator.objects.create(
        name=name,
        kind=Evaluator.Kind.LLM_JUDGE,
        description=description,
        sampling_rate=sampling_rate,
        filter_sources=filter_sources or [],
        filter_models=filter_models or [],
        filter_topics=[str(t) for t in filter_topics or []],
        hourly_cap=hourly_cap,
        is_active=is_active,
        created_by=created_by,
    )
    EvaluatorVersion.objects.create(
        evaluator=evaluator,
        criteria=criteria_clean(criteria or judge.DEFAULT_CRITERIA),
        prompt_template=template,
        model=model,
        created_by=created_by,
    )
    return evaluator


def _check_sampling(rate: float) -> None:
    if not 0 <= rate <= 1:
        raise EvaluationError("The sampling rate is a share between 0 and 1.")


@transaction.atomic
def evaluator_update(
    *,
    evaluator: Evaluator,
    actor,
    criteria: list[dict] | None = None,
    prompt_template: str | None = None,
    model: str | None = None,
    **settings_: object,
) -> EvaluatorVersion:
    """Change an evaluator. Operational settings (sampling, filters, cap, description,
    active) change in place. A change to what produces scores (criteria, template, model)
    edits the current version while it has no scores, and otherwise makes a new version, so
    every score keeps the version that produced it. Returns the current version."""
    evaluator = Evaluator.objects.select_for_update().get(pk=evaluator.pk)
    allowed = {"sampling_rate", "filter_sources", "filter_models", "filter_topics"}
    allowed |= {"hourly_cap", "description", "is_active"}
    for key, value in settings_.items():
        if key not in allowed:
            raise TypeError(f"unknown evaluator setting {key!r}")
        if key == "sampling_rate":
            _check_sampling(float(value))
        setattr(evaluator, key, value)
    evaluator.save()
    current = evaluator.current
    wanted = {
        "criteria": criteria_clean(criteria) if criteria is not None else current.criteria,
        "prompt_template": prompt_template
        if prompt_template is not None
        else current.prompt_template,
        "model": model if model is not None else current.model,
    }
    if evaluator.kind != Evaluator.Kind.LLM_JUDGE:
        return current  # offline and external evaluators have nothing to version
    _check_template(wanted["prompt_template"])
    if all(getattr(current, k) == v for k, v in wanted.items()):
        return current
    if not current.scores.exists():
        EvaluatorVersion.objects.filter(pk=current.pk).update(**wanted)
        current.refresh_from_db()
        return current
    return EvaluatorVersion.objects.create(
        evaluator=evaluator, version=current.version + 1, created_by=actor, **wanted
    )


# --- reading turns for scoring ----------------------------------------------------------------


@dataclass(frozen=True)
class TurnData:
    id: object
    offline: offline.TurnInput
    judge: judge.JudgeInput


def turn_data(turn_ids: Iterable[object]) -> list[TurnData]:
    """What the evaluators read, as plain rows (model instances and prefetching cost a third
    of the online scan's time at thousands of turns)."""
    ids = list(turn_ids)
    passages: dict = defaultdict(list)
    for turn_id, rank, title, text in (
        TurnContext.objects.filter(turn_id__in=ids)
        .order_by("turn_id", "rank")
        .values_list("turn_id", "rank", "title", "text")
    ):
        passages[turn_id].append(offline.Passage(rank, text, title))
    references: dict = {}
    for turn_id, corrected in (
        Review.objects.filter(item__turn_id__in=ids)
        .exclude(corrected_answer="")
        .order_by("created_at")
        .values_list("item__turn_id", "corrected_answer")
    ):
        references[turn_id] = corrected  # the latest correction wins
    out = []
    rows = Turn.objects.filter(id__in=ids).values_list("id", "question", "answer")
    # In the order asked for: a capped judge scores the first turns of a batch, and a
    # backfill moves its cursor over exactly those.
    order = {str(turn_id): i for i, turn_id in enumerate(ids)}
    for turn_id, question, answer in sorted(rows, key=lambda row: order[str(row[0])]):
        given = tuple(passages.get(turn_id, ()))
        out.append(
            TurnData(
                id=turn_id,
                offline=offline.TurnInput(question, answer, given),
                judge=judge.JudgeInput(
                    question=question,
                    answer=answer,
                    passages=tuple((p.rank, p.title, p.text) for p in given),
                    reference=references.get(turn_id, ""),
                ),
            )
        )
    return out


# --- scores -----------------------------------------------------------------------------------


def normalized(value: float | None, criterion: dict | None) -> float | None:
    if value is None or criterion is None:
        return None
    low, high = criterion["scale_min"], criterion["scale_max"]
    return max(0.0, min(1.0, (value - low) / (high - low)))


def scores_store(rows: list[dict]) -> int:
    """Upsert score rows on (turn, evaluator version, criterion): a re-run replaces."""
    now = timezone.now()
    for row in rows:
        row.setdefault("created_at", now)
        row["updated_at"] = now
    with transaction.atomic():
        stored = bulk.upsert(
            Score,
            rows,
            unique=("turn_id", "evaluator_version_id", "criterion"),
            update=SCORE_UPDATE,
        )
        # The graph shows scores on the answer's lineage. The upsert does not say which ids
        # it wrote; the rows of these turns × versions are those ids (plus, rarely, other
        # criteria of the same pair: re-syncing them is harmless).
        turn_ids = sorted({row["turn_id"] for row in rows}, key=str)
        versions = {row["evaluator_version_id"] for row in rows}
        for start in range(0, len(turn_ids), 500):
            scored = Score.objects.filter(
                turn_id__in=turn_ids[start : start + 500], evaluator_version_id__in=versions
            )
            record("score", scored.values_list("id", flat=True))
    return stored


# Criteria that say nothing about the answer's quality: a refusal is not wrong, and
# context relevance judges the retrieval. They do not lower the review priority signal.
NOT_QUALITY = {"refusal", "context_relevance"}


def queue_signal_update(turn_ids: Iterable[object]) -> int:
    """Give the review queue the lowest 0–1 quality score of each turn (latest version of
    each evaluator), so low scores and judge-vs-thumbs disagreements come first."""
    from annotations.services import queue_eval_scores_set

    ids = list(turn_ids)
    lowest = {turn_id: None for turn_id in ids}
    for start in range(0, len(ids), 1000):
        rows = (
            Score.objects.filter(
                turn_id__in=ids[start : start + 1000],
                evaluator_version_id__in=latest_version_ids(),
                normalized__isnull=False,
            )
            .exclude(criterion__in=NOT_QUALITY)
            .values("turn_id")
            .annotate(low=Min("normalized"))
            .values_list("turn_id", "low")
        )
        lowest.update(rows)
    return queue_eval_scores_set(scores=lowest)


OnStored = Callable[[dict], None]  # called in the scores' transaction with the outcome


def score_offline(
    *, version: EvaluatorVersion, turns: list[TurnData], on_stored: OnStored | None = None
) -> int:
    """Run one built-in check on the turns and store its scores; returns rows stored."""
    return score_offline_many(
        wanted={version: {t.id for t in turns}}, turns=turns, on_stored=on_stored
    )


def score_offline_many(
    *,
    wanted: dict[EvaluatorVersion, set],
    turns: list[TurnData],
    on_stored: OnStored | None = None,
) -> int:
    """Run several built-in checks, each on the turns it wants; the passages of a turn are
    analysed once for all of them. Returns rows stored. `on_stored` runs in the same
    transaction as the scores (a backfill's progress commits with them, or neither does)."""
    rows = []
    chunks: dict = {}  # the knowledge base's chunks kb_support has read, for the whole call
    with retrieval.one_index():
        for t in turns:
            rows += _offline_rows(t, wanted, chunks)
    with transaction.atomic():
        stored = scores_store(rows)
        queue_signal_update([t.id for t in turns])
        if on_stored:
            on_stored({"scored": len(turns), "failed": 0, "capped": 0})
    return stored


def knowledge_passages(
    turn: offline.TurnInput, chunks: dict | None = None
) -> tuple[offline.Passage, ...]:
    """The knowledge base's passages for a turn, as kb_support reads them: a lexical search
    for the question and the answer together (no key, no call out). `chunks` keeps the
    chunks read so far ({id: (text, title)}): a scan reads each once, not once a turn."""
    from knowledge.models import Chunk

    chunks = {} if chunks is None else chunks
    query = f"{turn.question}\n{turn.answer}"
    found = [i for i, _ in retrieval.ranked_ids(query, offline.KB_PASSAGES, lexical_only=True)]
    missing = [i for i in found if i not in chunks]
    if missing:
        for pk, text, title in Chunk.objects.filter(pk__in=missing).values_list(
            "pk", "text", "document__title"
        ):
            chunks[pk] = (text, title)
    texts = [chunks[i] for i in found if i in chunks]  # (a chunk deleted meanwhile: skipped)
    return tuple(offline.Passage(rank, text, title) for rank, (text, title) in enumerate(texts, 1))


def _offline_rows(t: TurnData, wanted: dict[EvaluatorVersion, set], chunks: dict) -> list[dict]:
    rows = []
    evidence = None
    for version, ids in wanted.items():
        if t.id not in ids:
            continue
        started = time.perf_counter()
        name = version.evaluator.builtin
        if name == Evaluator.Builtin.KB_SUPPORT:
            result = offline.kb_support(t.offline, knowledge_passages(t.offline, chunks))
        else:
            evidence = evidence or offline.Evidence(t.offline.passages)
            result = offline.CHECKS[name](t.offline, evidence)
        if result is None:  # not applicable (no citations, no passages, a refusal)
            continue
        rows.append(
            {
                "turn_id": t.id,
                "evaluator_version_id": version.id,
                "criterion": name,
                "value": result.value,
                "normalized": result.value,
                "reason": result.reason,
                "details": result.details,
                "latency_ms": int((time.perf_counter() - started) * 1000),
            }
        )
    return rows


def judge_budget_claim(*, evaluator: Evaluator, wanted: int, now: datetime | None = None) -> int:
    """Claim up to `wanted` judge calls from this hour's cap; returns how many were granted.
    A compare-and-set UPDATE, so concurrent workers never overspend the cap."""
    if not evaluator.hourly_cap:
        return wanted
    hour = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    usage, _ = JudgeUsage.objects.get_or_create(evaluator=evaluator, hour=hour)
    for _attempt in range(10):
        calls = JudgeUsage.objects.filter(pk=usage.pk).values_list("calls", flat=True).get()
        grant = min(wanted, evaluator.hourly_cap - calls)
        if grant <= 0:
            return 0
        if JudgeUsage.objects.filter(pk=usage.pk, calls=calls).update(calls=F("calls") + grant):
            return grant
    return 0


def score_judge(
    *, version: EvaluatorVersion, turns: list[TurnData], on_stored: OnStored | None = None
) -> dict:
    """Judge the turns within the evaluator's hourly cap and store every outcome (a failed
    call is stored with its error and no value). Returns {"scored", "failed", "capped"}:
    the capped ones are the last turns given. `on_stored` as in `score_offline_many`."""
    granted = judge_budget_claim(evaluator=version.evaluator, wanted=len(turns))
    todo, capped = turns[:granted], len(turns) - granted
    outcomes = judge.judge_many(
        [t.judge for t in todo],
        template=version.prompt_template,
        criteria=version.criteria,
        model=version.model,
    )
    rows, failed = [], 0
    for t, outcome in zip(todo, outcomes, strict=True):
        failed += bool(outcome.error)
        for c in version.criteria:
            value, reason = outcome.scores.get(c["key"], (None, ""))
            rows.append(
                {
                    "turn_id": t.id,
                    "evaluator_version_id": version.id,
                    "criterion": c["key"],
                    "value": value,
                    "normalized": normalized(value, c),
                    "reason": reason,
                    "details": {},
                    "latency_ms": outcome.latency_ms,
                    "judge_prompt_tokens": outcome.prompt_tokens,
                    "judge_completion_tokens": outcome.completion_tokens,
                    "attempts": outcome.attempts,
                    "error": outcome.error,
                }
            )
    with transaction.atomic():
        scores_store(rows)
        queue_signal_update([t.id for t in todo])
        # Turns over the cap are dropped, not queued up: the cap bounds spend, and a backlog
        # would only move it to the next hour. A backfill picks them up later if wanted.
        ScoreRequest.objects.filter(
            evaluator_version=version, turn_id__in=[t.id for t in turns]
        ).delete()
        result = {"scored": len(todo) - failed, "failed": failed, "capped": capped}
        if on_stored:
            on_stored(result)
    return result


def score_turns(
    *, version: EvaluatorVersion, turn_ids: Iterable[object], on_stored: OnStored | None = None
) -> dict:
    """Score these turns with one evaluator version (replacing earlier scores of it)."""
    turns = turn_data(turn_ids)
    if version.evaluator.kind == Evaluator.Kind.OFFLINE:
        stored = score_offline(version=version, turns=turns, on_stored=on_stored)
        return {"scored": stored, "failed": 0, "capped": 0}
    if version.evaluator.kind == Evaluator.Kind.LLM_JUDGE:
        return score_judge(version=version, turns=turns, on_stored=on_stored)
    raise EvaluationError("Scores of a team's own evaluator come in through the API.")


# --- online scoring ---------------------------------------------------------------------------


def sampled(evaluator: Evaluator, turn_id: object) -> bool:
    """Deterministic per (evaluator, turn): a re-scan decides the same way."""
    if evaluator.sampling_rate >= 1:
        return True
    bucket = zlib.crc32(f"{evaluator.id}:{turn_id}".encode()) / 2**32
    return bucket < evaluator.sampling_rate


def _matches(evaluator: Evaluator, turn: dict) -> bool:
    if evaluator.filter_sources and turn["source"] not in evaluator.filter_sources:
        return False
    if evaluator.filter_models and turn["model"] not in evaluator.filter_models:
        return False
    topics = evaluator.filter_topics
    return not topics or str(turn["topic_id"]) in topics


OFFLINE_SLICE = 250  # turns per write transaction of the online scan (~0.4 s here)


def online_scan(*, now: datetime | None = None) -> dict:
    """Score turns logged since the last scan: offline checks here, judge calls recorded as
    ScoreRequests for `judge_turns`. Returns what it did, with the judge requests for the
    caller to enqueue. Not one transaction: each slice commits on its own, and the cursor
    moves last, so a scan that dies half-way is redone (what it scored is skipped)."""
    builtin_evaluators_ensure()
    now = now or timezone.now()
    overlap = timedelta(seconds=settings.EVAL_ONLINE_OVERLAP_S)
    cursor, _ = OnlineCursor.objects.get_or_create(
        name="online", defaults={"scanned_until": now - overlap}
    )
    rows = list(
        Turn.objects.filter(
            status=Turn.Status.OK,
            created_at__gt=cursor.scanned_until - overlap,
            created_at__lte=now,
        )
        .order_by("created_at")
        .values("id", "source", "model", "topic_id", "created_at")[: settings.EVAL_ONLINE_BATCH]
    )
    until = rows[-1]["created_at"] if len(rows) == settings.EVAL_ONLINE_BATCH else now
    report = {"turns": len(rows), "offline": 0, "judge_requests": {}}
    versions = [
        e.current
        for e in Evaluator.objects.filter(is_active=True).exclude(kind=Evaluator.Kind.EXTERNAL)
    ]
    offline_wanted: dict[EvaluatorVersion, set] = {}
    for version in filter(None, versions):
        evaluator = version.evaluator
        wanted = [r["id"] for r in rows if _matches(evaluator, r) and sampled(evaluator, r["id"])]
        done = set(
            Score.objects.filter(evaluator_version=version, turn_id__in=wanted).values_list(
                "turn_id", flat=True
            )
        )
        if evaluator.kind == Evaluator.Kind.LLM_JUDGE:
            done |= set(
                ScoreRequest.objects.filter(
                    evaluator_version=version, turn_id__in=wanted
                ).values_list("turn_id", flat=True)
            )
        todo = [t for t in wanted if t not in done]
        if not todo:
            continue
        if evaluator.kind == Evaluator.Kind.OFFLINE:
            offline_wanted[version] = set(todo)
        else:
            bulk.insert(
                ScoreRequest,
                [
                    {"turn_id": t, "evaluator_version_id": version.id, "requested_at": now}
                    for t in todo
                ],
            )
            report["judge_requests"][str(version.id)] = [str(t) for t in todo]
    ids = list(set().union(*offline_wanted.values()))
    # One short transaction per slice (score_offline_many's own): on SQLite a long write
    # transaction here would make chat logging wait for the lock.
    for start in range(0, len(ids), OFFLINE_SLICE):
        turns = turn_data(ids[start : start + OFFLINE_SLICE])
        report["offline"] += score_offline_many(wanted=offline_wanted, turns=turns)
    OnlineCursor.objects.filter(pk=cursor.pk).update(scanned_until=max(until, cursor.scanned_until))
    return report


def stale_requests(*, older_than_s: float = 900) -> dict[str, list[str]]:
    """Judge requests whose task was lost (broker restart): to be enqueued again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    out: dict[str, list[str]] = {}
    for version_id, turn_id in ScoreRequest.objects.filter(requested_at__lt=cutoff).values_list(
        "evaluator_version_id", "turn_id"
    )[:5000]:
        out.setdefault(str(version_id), []).append(str(turn_id))
    ScoreRequest.objects.filter(requested_at__lt=cutoff).update(requested_at=timezone.now())
    return out


# --- backfill ---------------------------------------------------------------------------------


def _backfill_fail(rows, reason: str) -> int:
    return rows.update(
        status=BackfillJob.Status.FAILED, error=reason[:2000], finished_at=timezone.now()
    )


def _backfill_lease_s() -> float:
    # The heartbeat comes with each batch's scores; a judge batch is one wave of concurrent
    # calls (EVAL_JUDGE_CONCURRENCY turns), each retried with backoff: the lease outlasts it.
    per_call = settings.EVAL_JUDGE_TIMEOUT_S + settings.EVAL_JUDGE_BACKOFF_MAX_S
    return max(settings.JOB_LEASE_S, settings.EVAL_JUDGE_MAX_ATTEMPTS * per_call)


BACKFILL_JOB = jobs.JobKind(
    model="evaluation.BackfillJob",
    task="evaluation.tasks.backfill_run",
    active=Q(
        status__in=[
            BackfillJob.Status.QUEUED,
            BackfillJob.Status.RUNNING,
            BackfillJob.Status.WAITING,
        ]
    ),
    fail=_backfill_fail,
    on_claim={"status": BackfillJob.Status.RUNNING},
    lease_s=_backfill_lease_s,
)
BACKFILL_OFFLINE_BATCH = 200  # turns per batch of a built-in check (~0.3 s here)


@transaction.atomic
def backfill_job_create(
    *,
    evaluator: Evaluator,
    actor,
    since: datetime | None = None,
    rescore: bool = False,
    enqueue: bool = True,
) -> BackfillJob:
    """Score old turns with the evaluator's current version, as a job with progress. The
    job is sent to a worker after commit; a broker outage leaves it waiting for a worker
    (shown on its page), and the job sweeper sends it later."""
    if evaluator.kind == Evaluator.Kind.EXTERNAL:
        raise EvaluationError("A team's own evaluator has nothing to run here.")
    version = evaluator.current
    turns = Turn.objects.filter(status=Turn.Status.OK)
    if since:
        turns = turns.filter(created_at__gte=since)
    if not rescore:
        turns = turns.exclude(scores__evaluator_version=version)
    ids = [str(t) for t in turns.order_by("created_at").values_list("id", flat=True)]
    job = BackfillJob.objects.create(
        evaluator_version=version,
        created_by=actor,
        since=since,
        rescore=rescore,
        turn_ids=ids,
        total=len(ids),
    )
    if enqueue:
        jobs.job_enqueue_on_commit(job)
    return job


def backfill_job_run(*, job_id) -> BackfillJob | None:
    """Run the backfill from where it stopped (`done`), in batches.

    The run holds the job's lease (reviewhub.jobs): a second message for the job does
    nothing, and a run whose worker died is re-queued by the sweeper. Each batch's scores
    and the job's progress commit in one transaction, so a re-queued run starts after the
    last stored batch and never scores a turn twice. When the evaluator's hourly cap stops
    it, the job waits (`job_wait`) until the next hour, when the sweeper sends it again."""
    job = jobs.job_claim(BackfillJob, job_id)
    if job is None:  # done, failed, waiting for later, held by another run, or deleted
        return BackfillJob.objects.filter(pk=job_id).first()
    try:
        _backfill_batches(job)
    except jobs.LeaseLost:
        log.warning("backfill %s: another run took over", job.pk)
    except Exception as exc:
        log.exception("backfill %s failed", job.pk)
        _backfill_fail(jobs.job_rows(job), f"{type(exc).__name__}: {exc}")
    job.refresh_from_db()
    return job


def _backfill_batches(job: BackfillJob) -> None:
    version = job.evaluator_version
    offline_kind = version.evaluator.kind == Evaluator.Kind.OFFLINE
    step = BACKFILL_OFFLINE_BATCH if offline_kind else settings.EVAL_JUDGE_CONCURRENCY
    while job.done < job.total:
        ids = job.turn_ids[job.done : job.done + step]

        def progress(result: dict, ids=ids) -> None:  # in the scores' transaction
            job.done += len(ids) - result["capped"]
            job.failed += result["failed"]
            jobs.job_heartbeat(job, done=job.done, failed=job.failed)

        result = score_turns(version=version, turn_ids=ids, on_stored=progress)
        if result["capped"]:
            _backfill_wait(job)
            return
    jobs.job_rows(job).update(status=BackfillJob.Status.DONE, finished_at=timezone.now())


def _backfill_wait(job: BackfillJob) -> None:
    now = timezone.now()
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    cap = job.evaluator_version.evaluator.hourly_cap
    note = f"the evaluator's cap of {cap} judge calls an hour is used up."
    jobs.job_wait(job, until=until, note=note, status=BackfillJob.Status.WAITING)


# --- teams' own scores (API) ------------------------------------------------------------------


@transaction.atomic
def external_score_record(
    *, turn: Turn, user, name: str, value: float, comment: str = "", source: str = "api"
) -> Score:
    """A score from a team's own evaluator: evaluator `source`, criterion `name`. Posting the
    same name and source again replaces the value."""
    evaluator, created = Evaluator.objects.get_or_create(
        name=f"{source} (API)",
        defaults={"kind": Evaluator.Kind.EXTERNAL, "created_by": user},
    )
    if evaluator.kind != Evaluator.Kind.EXTERNAL:
        raise EvaluationError(f"{source!r} is the name of a built-in or judge evaluator.")
    version = evaluator.current or EvaluatorVersion.objects.create(evaluator=evaluator)
    if version.criterion(name) is None:
        version.criteria = [
            *version.criteria,
            {"key": name, "label": name, "scale_min": 0, "scale_max": 1},
        ]
        version.save(update_fields=["criteria"])
    scores_store(
        [
            {
                "turn_id": turn.id,
                "evaluator_version_id": version.id,
                "criterion": name,
                "value": value,
                "normalized": value if 0 <= value <= 1 else None,
                "reason": comment,
                "details": {},
                "source": source,
            }
        ]
    )
    queue_signal_update([turn.id])
    return Score.objects.get(turn=turn, evaluator_version=version, criterion=name)
