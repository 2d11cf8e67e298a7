"""Review writes.

Contract used by other apps (keep the signature):
- queue_refresh(turn_ids=[...]) — called on chat's `turns_changed` signal (annotations.receivers)
  in the same transaction whenever turns are logged/ingested/replayed or their feedback
  changes, so the queue's priority reflects the new signals. Cheap and bulk: on PostgreSQL
  one INSERT … SELECT … ON CONFLICT statement per 1,000 ids (unchanged rows are not
  rewritten); elsewhere three queries per 1,000 ids. Turns that predate the queue:
  `manage.py queue_refresh` and the periodic `annotations.tasks.queue_backfill`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from annotations import selectors
from annotations.locks import example_is_locked
from annotations.models import (
    AuditEvent,
    Criterion,
    Example,
    Guideline,
    QueueItem,
    Review,
    Rubric,
    Tag,
)
from chat.models import Feedback, Turn
from chat.prompt_storage import is_packed
from chat.prompts import turn_production_messages
from outbox.services import record
from reviewhub import bulk
from reviewhub.ids import UUID7_SQL
from reviewhub.preferences import preference

REFRESH_BATCH = 1000
CLAIM_ATTEMPTS = 5


class ReviewError(Exception):
    """A review action that cannot happen now; the message is for the user."""


# --- the queue ------------------------------------------------------------------------


def queue_priority(
    *,
    feedback: str,
    grounded: bool,
    max_context_score: float | None,
    reviews_done: int,
    eval_score: float | None = None,
) -> int:
    w = settings.REVIEW_PRIORITY_WEIGHTS
    points = eval_points(feedback=feedback, eval_score=eval_score)
    if feedback == QueueItem.FeedbackSignal.DOWN:
        points += w["negative_feedback"]
    if not grounded:
        points += w["ungrounded"]
    elif max_context_score is None or max_context_score < settings.REVIEW_LOW_SCORE_THRESHOLD:
        points += w["low_score"]
    if reviews_done == 0:
        points += w["never_reviewed"]
    return points


def eval_points(*, feedback: str, eval_score: float | None) -> int:
    """Points from evaluator scores: a low score, and a judge that contradicts the thumbs
    (thumbs up on a low score, thumbs down on a high one)."""
    if eval_score is None:
        return 0
    w, low = settings.REVIEW_PRIORITY_WEIGHTS, settings.REVIEW_LOW_EVAL_THRESHOLD
    points = w["low_eval_score"] if eval_score < low else 0
    if (feedback == QueueItem.FeedbackSignal.UP and eval_score < low) or (
        feedback == QueueItem.FeedbackSignal.DOWN and eval_score >= settings.REVIEW_HIGH_EVAL
    ):
        points += w["eval_disagrees_with_thumbs"]
    return points


def eval_points_sql(*, feedback: str, eval_score: str) -> str:
    """eval_points() as SQL over the given columns. Named parameters."""
    return (
        f"(CASE WHEN {eval_score} < %(low_eval_threshold)s THEN %(w_low_eval_score)s ELSE 0 END"
        f" + CASE WHEN ({feedback} = 'up' AND {eval_score} < %(low_eval_threshold)s)"
        f" OR ({feedback} = 'down' AND {eval_score} >= %(high_eval)s)"
        f" THEN %(w_eval_disagrees_with_thumbs)s ELSE 0 END)"
    )


def queue_priority_sql(*, feedback: str, grounded: str, score: str) -> str:
    """queue_priority() as a SQL expression over the given columns, without the
    never-reviewed points (they depend on the existing row). Named parameters."""
    return (
        f"(CASE WHEN {feedback} = 'down' THEN %(w_negative_feedback)s ELSE 0 END"
        f" + CASE WHEN NOT {grounded} THEN %(w_ungrounded)s"
        f" WHEN {score} IS NULL OR {score} < %(low_score_threshold)s"
        f" THEN %(w_low_score)s ELSE 0 END)"
    )


def queue_priority_params() -> dict:
    return {
        **{f"w_{k}": v for k, v in settings.REVIEW_PRIORITY_WEIGHTS.items()},
        "low_score_threshold": settings.REVIEW_LOW_SCORE_THRESHOLD,
        "low_eval_threshold": settings.REVIEW_LOW_EVAL_THRESHOLD,
        "high_eval": settings.REVIEW_HIGH_EVAL,
    }


def queue_refresh(*, turn_ids: Iterable[object]) -> None:
    """Create or update the queue items of these turns from their current signals."""
    ids = list(dict.fromkeys(turn_ids))
    for start in range(0, len(ids), REFRESH_BATCH):
        _refresh_batch(ids[start : start + REFRESH_BATCH])


# Where the two databases word the refresh apart: a set of ids as a parameter (an array;
# SQLite: a JSON array of the 32-digit hex it keeps a uuid as), "any row true", and "differs".
_REFRESH_WORDS = {
    "postgresql": {
        "in_ids": "= ANY(%(ids)s::uuid[])",
        "any": "bool_or",
        "differs": "IS DISTINCT FROM",
    },
    "sqlite": {
        "in_ids": "IN (SELECT value FROM json_each(%(ids)s))",
        "any": "max",
        "differs": "IS NOT",
    },
}


@lru_cache(maxsize=2)
def _refresh_sql(vendor: str) -> str:
    """One INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE changed for a batch of turns: no
    rows travel to Python, and items whose signals did not change are not rewritten.
    Reading the signals into Python and upserting them back was a third of an ingestion
    request's time (issue #17)."""
    words = _REFRESH_WORDS[vendor]
    q, t, f = QueueItem._meta.db_table, Turn._meta.db_table, Feedback._meta.db_table
    base = queue_priority_sql(
        feedback="t.signal", grounded="t.grounded", score="t.max_context_score"
    )
    # the never-reviewed points, and the evaluator's: a new row has no evaluator score yet;
    # an existing one keeps its own (NULL adds nothing)
    never = f"CASE WHEN {q}.reviews_done = 0 THEN %(w_never_reviewed)s ELSE 0 END"
    never += (
        " + COALESCE("
        + eval_points_sql(feedback="excluded.feedback", eval_score=f"{q}.eval_score")
        + ", 0)"
    )
    columns = (
        "author_id",
        "turn_created_at",
        "model",
        "grounded",
        "max_context_score",
        "topic_id",
        "feedback",
    )
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT
    return f"""
        WITH t AS (
            SELECT t.id, t.user_id, t.created_at, t.model, t.grounded, t.max_context_score,
                   t.topic_id,
                   (SELECT CASE WHEN {words["any"]}(rating = 'down') THEN 'down'
                                WHEN {words["any"]}(rating = 'up') THEN 'up' ELSE 'none' END
                    FROM {f} WHERE turn_id = t.id) AS signal
            FROM {t} t
            WHERE t.id {words["in_ids"]} AND t.status = 'ok'
        )
        INSERT INTO {q} (id, turn_id, state, priority, reviews_done, author_id, turn_created_at,
                         model, grounded, max_context_score, topic_id, feedback, created_at,
                         updated_at)
        SELECT {UUID7_SQL[vendor]}, t.id, 'pending', {base} + %(w_never_reviewed)s, 0,
               t.user_id, t.created_at, t.model, t.grounded, t.max_context_score, t.topic_id,
               t.signal, %(now)s, %(now)s
        FROM t WHERE true
        ON CONFLICT (turn_id) DO UPDATE SET
            priority = excluded.priority - %(w_never_reviewed)s + {never},
            {", ".join(f"{c} = excluded.{c}" for c in columns)},
            updated_at = excluded.updated_at
        WHERE ({q}.priority, {", ".join(f"{q}.{c}" for c in columns)})
              {words["differs"]}
              (excluded.priority - %(w_never_reviewed)s + {never},
               {", ".join(f"excluded.{c}" for c in columns)})
    """


def _refresh_batch(ids: list[object]) -> None:
    vendor = connection.vendor
    uuids = [i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in ids]
    params = {
        **queue_priority_params(),
        "ids": [str(i) for i in uuids]
        if vendor == "postgresql"
        else json.dumps([i.hex for i in uuids]),
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_refresh_sql(vendor), params)


def queue_eval_scores_set(*, scores: dict) -> int:
    """Record the evaluation layer's signal (turn id -> lowest 0–1 score, or None) on the
    queue items and re-rank them. Called by evaluation after it stores scores; this app
    never imports evaluation. Returns how many items changed."""
    rows = QueueItem.objects.filter(turn_id__in=list(scores)).values_list(
        "id",
        "turn_id",
        "feedback",
        "grounded",
        "max_context_score",
        "reviews_done",
        "eval_score",
        "priority",
    )
    changed = []
    for pk, turn_id, feedback, grounded, context_score, reviews_done, old, priority in rows:
        value = scores[turn_id] if turn_id in scores else scores.get(str(turn_id))
        new = queue_priority(
            feedback=feedback,
            grounded=grounded,
            max_context_score=context_score,
            reviews_done=reviews_done,
            eval_score=value,
        )
        if (old, priority) != (value, new):
            changed.append((value, new, pk))
    if changed:
        # One executemany of a plain UPDATE: bulk_update's CASE per row cost more than the
        # scoring itself at thousands of rows.
        table = connection.ops.quote_name(QueueItem._meta.db_table)
        convert = (lambda v: v) if connection.features.has_native_uuid_field else (lambda v: v.hex)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET eval_score = %s, priority = %s WHERE id = %s",
                [(value, new, convert(pk)) for value, new, pk in changed],
            )
    return len(changed)


def queue_backfill(*, batch: int = REFRESH_BATCH) -> int:
    """Queue every answered turn that has no queue item yet (turns logged before the
    queue existed, or by a path that forgot to call queue_refresh). Returns how many."""
    total = 0
    while True:
        ids = list(
            Turn.objects.filter(status=Turn.Status.OK, queue_item__isnull=True).values_list(
                "id", flat=True
            )[:batch]
        )
        if not ids:
            return total
        with transaction.atomic():
            queue_refresh(turn_ids=ids)
        total += len(ids)


def _audit(item_id, actor, action: str, **details) -> None:
    AuditEvent.objects.create(item_id=item_id, actor=actor, action=action, details=details)


def queue_claim_next(
    *, expert, filters: selectors.QueueFilters | None = None, exclude: Iterable[object] = ()
) -> QueueItem | None:
    """Lease the highest-priority item nobody holds to `expert` (or give back the item
    they already hold). Two experts never hold the same item: on PostgreSQL the
    candidate is locked with FOR UPDATE SKIP LOCKED; everywhere the lease is taken with
    a compare-and-set update (holder empty or lease expired) whose result is checked."""
    now = timezone.now()
    held = selectors.held_item(expert=expert, now=now)
    if held is not None:
        return held
    lease_until = now + timedelta(minutes=settings.REVIEW_LEASE_MINUTES)
    qs = selectors.claimable(expert=expert, now=now, filters=filters, exclude=tuple(exclude))
    claim = _claim_pg if connection.vendor == "postgresql" else _claim_portable
    # Items a lead assigned to this expert come first (one cheap partial-index probe).
    assigned = qs.filter(assignee=expert)
    for candidates in (assigned, qs) if assigned.exists() else (qs,):
        for _ in range(CLAIM_ATTEMPTS):
            pk = claim(qs=candidates, expert=expert, now=now, lease_until=lease_until)
            if pk is not None:
                return QueueItem.objects.select_related("turn").get(pk=pk)
            if not candidates.exists():
                break
    return None  # every candidate was being claimed by someone else at that instant


def _claim_pg(*, qs, expert, now: datetime, lease_until: datetime):
    """Pick, lock, lease and audit in one statement: one round trip and one commit,
    which is what keeps claim-next fast while a team works the queue."""
    candidate_sql, candidate_params = qs.values("pk")[:1].query.sql_with_params()
    q, a = QueueItem._meta.db_table, AuditEvent._meta.db_table
    sql = f"""
        WITH candidate(id) AS ({candidate_sql} FOR UPDATE SKIP LOCKED),
        taken AS (
            UPDATE {q} SET holder_id = %s, lease_expires_at = %s, updated_at = %s
            FROM candidate
            WHERE {q}.id = candidate.id AND {q}.state = 'pending'
              AND ({q}.holder_id IS NULL OR {q}.lease_expires_at <= %s)
            RETURNING {q}.id)
        INSERT INTO {a} (item_id, actor_id, action, details, created_at)
        SELECT id, %s, 'claim', %s::jsonb, %s FROM taken
        RETURNING item_id"""
    params = [
        *candidate_params,
        expert.pk,
        lease_until,
        now,
        now,
        expert.pk,
        json.dumps({"lease_until": lease_until.isoformat()}),
        now,
    ]
    # One statement is its own transaction (or joins the caller's): no BEGIN/COMMIT trips.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _claim_portable(*, qs, expert, now: datetime, lease_until: datetime):
    """SQLite (no row locks; writers are serialised): compare-and-set, checked."""
    with transaction.atomic():
        pk = qs.values_list("pk", flat=True).first()
        if pk is None:
            return None
        taken = (
            QueueItem.objects.filter(pk=pk, state=QueueItem.State.PENDING)
            .filter(Q(holder__isnull=True) | Q(lease_expires_at__lte=now))
            .update(holder=expert, lease_expires_at=lease_until, updated_at=now)
        )
        if taken != 1:
            return None
        _audit(pk, expert, AuditEvent.Action.CLAIM, lease_until=lease_until.isoformat())
        return pk


@transaction.atomic
def queue_release(*, item_id, expert) -> bool:
    """Give the item back (skip). Only the holder can release it."""
    released = QueueItem.objects.filter(pk=item_id, holder=expert).update(
        holder=None, lease_expires_at=None, updated_at=timezone.now()
    )
    if released:
        _audit(item_id, expert, AuditEvent.Action.RELEASE)
    return bool(released)


# --- reviewing ------------------------------------------------------------------------


def rubric_errors(rubric: Rubric, *, scores: dict, tags: Iterable[str]) -> dict[str, str]:
    """Per-field errors for scores and tags against the rubric (empty when valid)."""
    errors: dict[str, str] = {}
    criteria = list(rubric.criteria.all())
    known = {c.key for c in criteria}
    for c in criteria:
        value = scores.get(c.key)
        if value in (None, ""):
            if c.required:
                errors[f"score_{c.key}"] = f"Rate {c.label} ({c.scale_min}–{c.scale_max})."
            continue
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not c.scale_min <= value <= c.scale_max
        ):
            errors[f"score_{c.key}"] = (
                f"{c.label} must be a whole number from {c.scale_min} to {c.scale_max}."
            )
    for key in scores:
        if key not in known:
            errors["scores"] = f"Unknown criterion {key!r}."
    allowed = {t.name for t in rubric.tags.all()}
    unknown = sorted(set(tags) - allowed)
    if unknown:
        errors["tags"] = "Unknown tag: " + ", ".join(unknown)
    return errors


# --- the rubric (leads) ---------------------------------------------------------------

CRITERION_FIELDS = ("key", "label", "help_text", "scale_min", "scale_max", "required")


@transaction.atomic
def rubric_save(
    *,
    actor,
    rubric: Rubric | None,
    name: str,
    description: str,
    criteria: list[dict],
    tags: list[str],
) -> Rubric:
    """A lead's edit of the rubric reviewers use (criteria in order, with their scales;
    tags), or the first rubric when there is none. A version no review was made with is
    changed in place; one with reviews is left as it is — its reviews keep pointing at the
    criteria they were scored against — and the edit becomes the next version, which
    reviewers use from now on. `criteria` are dicts of CRITERION_FIELDS, already valid."""
    if rubric is None:
        rubric = Rubric.objects.create(name=name, description=description, created_by=actor)
    else:
        # FOR UPDATE waits for reviews being saved with this version (their foreign key
        # holds a KEY SHARE lock on it), so `in use` below sees them.
        rubric = Rubric.objects.select_for_update().get(pk=rubric.pk)
        if not rubric.is_active:
            raise ValidationError("This version was replaced meanwhile: edit the newest one.")
        if rubric.reviews.exists():
            Rubric.objects.filter(pk=rubric.pk).update(is_active=False)
            rubric = Rubric.objects.create(
                name=rubric.name,
                version=rubric.version + 1,
                previous=rubric,
                description=description,
                created_by=actor,
            )
        else:
            rubric.description = description
            rubric.save(update_fields=["description"])
            rubric.criteria.all().delete()
            rubric.tags.all().delete()
    Criterion.objects.bulk_create(
        Criterion(rubric=rubric, position=position, **{f: c[f] for f in CRITERION_FIELDS})
        for position, c in enumerate(criteria)
    )
    Tag.objects.bulk_create(Tag(rubric=rubric, name=name) for name in sorted(set(tags)))
    return rubric


@transaction.atomic
def guideline_save(
    *, guideline: Guideline | None, title: str, body: str, position: int, is_active: bool
) -> Guideline:
    guideline = guideline or Guideline()
    guideline.title, guideline.body = title, body
    guideline.position, guideline.is_active = position, is_active
    guideline.save()
    return guideline


def _normalised_correction(item: QueueItem, corrected_answer: str) -> str:
    text = (corrected_answer or "").strip()
    if not text or " ".join(text.split()) == " ".join(item.turn.answer.split()):
        return ""  # unchanged is not a correction
    return text


@transaction.atomic
def review_submit(
    *,
    item_id,
    reviewer,
    scores: dict,
    tags: list[str],
    verdict: str,
    notes: str = "",
    corrected_answer: str = "",
    rubric: Rubric | None = None,
) -> Review:
    """Record one reviewer's rating, correction and verdict; resolve the item when it
    has the reviews it needs (approve → Example, disagreement → adjudication)."""
    item = QueueItem.objects.select_for_update().select_related("turn").get(pk=item_id)
    now = timezone.now()
    # The row lock above orders this against a concurrent claim, so two experts never
    # both finish an item whose lease ran out.
    if blocker := selectors.review_blocker(item, reviewer):
        raise ReviewError(blocker)
    if Review.objects.filter(item=item, reviewer=reviewer).exists():
        raise ReviewError("You have already reviewed this item.")
    rubric = rubric or selectors.active_rubric()
    if rubric is None:
        raise ReviewError("No active rubric: a lead must set one up under Review → Rubric.")
    errors = rubric_errors(rubric, scores=scores, tags=tags)
    if verdict not in Review.Verdict.values:
        errors["verdict"] = "Choose approve, reject or second opinion."
    if errors:
        raise ValidationError(errors)
    correction = _normalised_correction(item, corrected_answer)
    review = Review.objects.create(
        item=item,
        reviewer=reviewer,
        rubric=rubric,
        scores=scores,
        tags=sorted(set(tags)),
        verdict=verdict,
        notes=notes.strip(),
        corrected_answer=correction,
    )
    _audit(item.pk, reviewer, AuditEvent.Action.RATE, scores=scores, tags=review.tags)
    if correction:
        _audit(item.pk, reviewer, AuditEvent.Action.CORRECT, chars=len(correction))
    _audit(item.pk, reviewer, verdict, review=str(review.pk))
    item.reviews_done += 1
    item.holder, item.lease_expires_at = None, None
    item.priority = queue_priority(
        feedback=item.feedback,
        grounded=item.grounded,
        max_context_score=item.max_context_score,
        reviews_done=item.reviews_done,
        eval_score=item.eval_score,
    )
    _resolve(item, actor=reviewer, now=now)
    item.save(
        update_fields=[
            "reviews_done",
            "holder",
            "lease_expires_at",
            "priority",
            "state",
            "updated_at",
        ]
    )
    record("review", [review.pk])
    return review


def _resolve(item: QueueItem, *, actor, now: datetime) -> None:
    reviews = list(item.reviews.order_by("created_at"))
    decisive = [r for r in reviews if r.verdict != Review.Verdict.SECOND_OPINION]
    if len(decisive) < preference("reviews_required"):
        return
    reasons = selectors.disagreement_reasons(reviews)
    if reasons:
        item.state = QueueItem.State.DISPUTED
        _audit(item.pk, actor, AuditEvent.Action.DISPUTE, reasons=reasons)
        return
    if decisive[-1].verdict == Review.Verdict.APPROVE:
        correction = next((r.corrected_answer for r in reversed(reviews) if r.corrected_answer), "")
        _example_upsert(
            item=item, reviews=reviews, approved_by=actor, correction=correction, now=now
        )
        item.state = QueueItem.State.APPROVED
    else:
        item.state = QueueItem.State.REJECTED


def _example_upsert(
    *,
    item: QueueItem,
    reviews: list[Review],
    approved_by,
    correction: str,
    now: datetime,
    tags: list[str] | None = None,
) -> Example:
    turn = item.turn
    if tags is None:
        tags = sorted({tag for r in reviews for tag in r.tags})
    example, _ = Example.objects.update_or_create(
        turn=turn,
        defaults={
            "status": Example.Status.APPROVED,
            "messages": turn_production_messages(turn),
            "question": turn.question,
            "answer": correction or turn.answer,
            "original_answer": turn.answer if correction else "",
            "corrected": bool(correction),
            "grounded": turn.grounded,
            "model": turn.model,
            "topic_id": turn.topic_id,
            "tags": tags,
            "scores": selectors.mean_scores(reviews),
            "approved_by": approved_by,
            "approved_at": now,
        },
    )
    example.reviewers.set({r.reviewer_id for r in reviews})
    record("example", [example.pk])
    return example


@transaction.atomic
def item_adjudicate(
    *, item_id, lead, verdict: str, corrected_answer: str = "", notes: str = ""
) -> Example | None:
    """A lead decides a disputed item: approve (with the final answer) or reject."""
    item = QueueItem.objects.select_for_update().select_related("turn").get(pk=item_id)
    if item.state != QueueItem.State.DISPUTED:
        raise ReviewError("This item is not waiting for adjudication.")
    if item.author_id == lead.pk:
        raise ReviewError("You cannot decide on your own chat turns.")
    if verdict not in (Review.Verdict.APPROVE, Review.Verdict.REJECT):
        raise ValidationError({"verdict": "Choose approve or reject."})
    now = timezone.now()
    correction = _normalised_correction(item, corrected_answer)
    example = None
    if verdict == Review.Verdict.APPROVE:
        reviews = list(item.reviews.order_by("created_at"))
        example = _example_upsert(
            item=item, reviews=reviews, approved_by=lead, correction=correction, now=now
        )
        item.state = QueueItem.State.APPROVED
    else:
        item.state = QueueItem.State.REJECTED
    item.save(update_fields=["state", "updated_at"])
    _audit(
        item.pk,
        lead,
        AuditEvent.Action.ADJUDICATE,
        verdict=verdict,
        corrected=bool(correction),
        notes=notes.strip(),
    )
    return example


@transaction.atomic
def example_withdraw(*, example_id, actor) -> Example:
    """Take back an approval, unless the example is already in an approved release."""
    example = Example.objects.select_for_update().get(pk=example_id)
    if example.status != Example.Status.APPROVED:
        raise ReviewError("This example is not approved.")
    if example_is_locked(example):
        raise ReviewError("This example is in an approved release and can no longer be withdrawn.")
    example.status = Example.Status.WITHDRAWN
    example.save(update_fields=["status", "updated_at"])
    item = QueueItem.objects.filter(turn_id=example.turn_id).first()
    if item is not None:
        item.state = QueueItem.State.WITHDRAWN
        item.save(update_fields=["state", "updated_at"])
        _audit(item.pk, actor, AuditEvent.Action.WITHDRAW, example=str(example.pk))
    record("example", [example.pk])
    return example


# --- bulk -------------------------------------------------------------------------------------

BULK_BATCH = 1000


def examples_approve_bulk(*, turn_ids: Iterable[object], actor, reason: str) -> dict[str, int]:
    """A lead approves many logged answers as training examples at once, without a review:
    the approval records who (`approved_by`) and why (`approval_reason`, and the audit trail).

    The rules of one-at-a-time approval hold (`selectors.review_blocker`): only answers
    waiting for review (not rejected, disputed, excluded or withdrawn; failed answers have
    no queue item), never the lead's own turns, never an item someone else holds under a
    live lease, never twice (an approved example is left as it is). Items are locked while
    they are decided (FOR UPDATE on PostgreSQL; SQLite serialises writers).

    Set-based, per 1,000 turns in one transaction: one read of their queue items (a refresh
    for turns without one), one locking read of the eligible items, one UPDATE of them, one
    read of their turns, one multi-row upsert of the examples, one multi-row INSERT of
    audit events and one of outbox rows. Measured (bench_release, 20,000 turns, load ~2 on
    2 cores): ~4,500/s on SQLite, ~5,800/s on PostgreSQL (its INSERTs are COPYs, the upsert
    through a temp table: reviewhub.bulk). Returns {"approved": n, "skipped": m}."""
    from reviewhub.roles import is_lead

    if not is_lead(actor):
        raise ReviewError("Only leads can approve examples in bulk.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why these answers are approved without a review."})
    ids = list(dict.fromkeys(turn_ids))
    approved = 0
    for start in range(0, len(ids), BULK_BATCH):
        with transaction.atomic():
            approved += _approve_batch(ids[start : start + BULK_BATCH], actor, reason)
    return {"approved": approved, "skipped": len(ids) - approved}


# What an example is made of (chat.prompts.turn_production_messages reads the prompt ones).
EXAMPLE_TURN_FIELDS = (
    "id",
    "question",
    "answer",
    "system_prompt",
    "rendered_context",
    "prompt_messages",
    "grounded",
    "model",
    "topic_id",
)


def _approve_batch(ids: list[object], actor, reason: str) -> int:
    now = timezone.now()
    # A queue item for every answered turn (the rules' and the audit's home); turns logged
    # since the queue began have theirs, so only the rest are refreshed.
    queued = set(QueueItem.objects.filter(turn_id__in=ids).values_list("turn_id", flat=True))
    queue_refresh(turn_ids=[pk for pk in ids if pk not in queued])
    items = dict(
        selectors.bulk_approvable(turn_ids=ids, actor=actor, now=now)
        .select_for_update(of=("self",))
        .values_list("turn_id", "id")
    )
    if not items:
        return 0
    QueueItem.objects.filter(id__in=items.values()).update(
        state=QueueItem.State.APPROVED, holder=None, lease_expires_at=None, updated_at=now
    )
    # The prompt columns are packed (chat.prompt_storage). Only a packed prompt with messages
    # can refer to passages: those turns get their contexts prefetched, the rest (turns logged
    # without messages, rebuilt from the production rule) none; reading 3,000 context rows per
    # 1,000 turns that never used them was a fifth of the approval's time on PostgreSQL.
    turns = list(Turn.objects.filter(id__in=items).only(*EXAMPLE_TURN_FIELDS))
    prefetch_related_objects([t for t in turns if _refers_to_passages(t)], "contexts")
    rows = [_example_row(turn, actor=actor, reason=reason, now=now) for turn in turns]
    update = tuple(k for k in rows[0] if k != "turn_id")
    bulk.upsert(Example, rows, unique=("turn_id",), update=update)
    _audit_many(items.values(), actor, AuditEvent.Action.APPROVE, {"bulk": True, "reason": reason})
    record("example", Example.objects.filter(turn_id__in=items).values_list("id", flat=True))
    return len(rows)


def _refers_to_passages(turn: Turn) -> bool:
    raw = turn.__dict__.get("prompt_messages")
    return bool(raw) and is_packed(raw)


def _example_row(turn: Turn, *, actor, reason: str, now: datetime) -> dict:
    return {
        "turn_id": turn.id,
        "status": Example.Status.APPROVED,
        "messages": turn_production_messages(turn),
        "question": turn.question,
        "answer": turn.answer,
        "original_answer": "",  # uncorrected: the answer is the original
        "corrected": False,
        "grounded": turn.grounded,
        "model": turn.model,
        "topic_id": turn.topic_id,
        "approved_by_id": actor.pk,
        "approved_at": now,
        "approval_reason": reason,
        "updated_at": now,
    }


def _audit_many(item_ids: Iterable[object], actor, action: str, details: dict) -> None:
    now = timezone.now()
    bulk.insert(
        AuditEvent,
        (
            {"item_id": pk, "actor_id": actor.pk, "action": action, "details": details}
            | {"created_at": now}
            for pk in item_ids
        ),
    )


@transaction.atomic
def queue_items_prioritise(*, turn_ids: list[object], priority: int, actor) -> int:
    """Put these turns in the review queue at `priority` (turns never queued get an item;
    items still waiting get the new priority; decided items are left as they are). A later
    change of the turn's signals (new feedback) recomputes the priority. Returns how many."""
    queue_refresh(turn_ids=turn_ids)
    waiting = QueueItem.objects.filter(turn_id__in=turn_ids, state=QueueItem.State.PENDING)
    item_ids = list(waiting.values_list("id", flat=True))
    QueueItem.objects.filter(id__in=item_ids).update(priority=priority, updated_at=timezone.now())
    _audit_many(item_ids, actor, AuditEvent.Action.ENQUEUE, {"priority": priority, "bulk": True})
    return len(item_ids)


@transaction.atomic
def queue_items_assign(*, turn_ids: list[object], reviewer, actor) -> int:
    """Route these turns' waiting items to one reviewer (never their own turns): only they
    claim them, first, and they appear in their inbox. Returns how many were assigned."""
    from reviewhub.roles import is_expert

    if not is_expert(reviewer):
        raise ValidationError({"reviewer": f"{reviewer.username} is not a reviewer."})
    queue_refresh(turn_ids=turn_ids)
    waiting = QueueItem.objects.filter(turn_id__in=turn_ids, state=QueueItem.State.PENDING).exclude(
        author=reviewer
    )
    item_ids = list(waiting.values_list("id", flat=True))
    QueueItem.objects.filter(id__in=item_ids).update(assignee=reviewer, updated_at=timezone.now())
    details = {"assignee": reviewer.username, "bulk": True}
    _audit_many(item_ids, actor, AuditEvent.Action.ASSIGN, details)
    return len(item_ids)


@transaction.atomic
def turns_exclude_from_datasets(*, turn_ids: list[object], actor) -> int:
    """Keep these turns out of every future release: their items leave the queue (state
    "excluded") and approved examples are withdrawn — except examples an approved release
    already contains, which stay (a release is reproducible). Returns how many."""
    locked = set(
        Example.objects.filter(
            turn_id__in=turn_ids, release_items__release__state__in=("approved", "published")
        ).values_list("turn_id", flat=True)
    )
    ids = [pk for pk in turn_ids if pk not in locked]
    queue_refresh(turn_ids=ids)
    now = timezone.now()
    examples = Example.objects.filter(turn_id__in=ids, status=Example.Status.APPROVED)
    example_ids = list(examples.values_list("id", flat=True))
    Example.objects.filter(id__in=example_ids).update(
        status=Example.Status.WITHDRAWN, updated_at=now
    )
    items = QueueItem.objects.filter(turn_id__in=ids).exclude(state=QueueItem.State.EXCLUDED)
    item_ids = list(items.values_list("id", flat=True))
    QueueItem.objects.filter(id__in=item_ids).update(
        state=QueueItem.State.EXCLUDED, holder=None, lease_expires_at=None, updated_at=now
    )
    _audit_many(item_ids, actor, AuditEvent.Action.EXCLUDE, {"bulk": True})
    record("example", example_ids)
    return len(item_ids)
