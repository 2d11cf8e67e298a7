"""The ingestion API (JSON, `Authorization: Bearer <token>`), mounted at /api/v1/.

Each view is declared once with `reviewhub.apispec.operation`, whose models (chat/openapi.py)
validate the request and describe it in /api/v1/openapi.json. Views authenticate the token
(no session, no CSRF: a token is not ambient authority). Errors are JSON:
`{"errors": {"<field>": ["message", ...]}}`; in a batch the field names are prefixed with the
item's index (`"3.question"`). A bad batch stores nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.db import IntegrityError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils.module_loading import import_string

from chat import services
from chat.models import Feedback, Turn
from chat.openapi import (
    INTERACTION_LIST,
    MAX_ITEMS,
    BatchAccepted,
    BatchStored,
    ContextRecord,
    FeedbackIn,
    FeedbackRecord,
    IngestBatchRecord,
    Interaction,
    Interactions,
    InteractionStored,
    ReviewRecord,
    Stored,
    TurnRecord,
    service_items,
)
from chat.selectors import ingest_batch_for_user, turn_visible_to
from reviewhub import apispec
from reviewhub.ids import uuid7

NOT_FOUND = {"id": ["No such interaction."]}


@apispec.operation(
    "POST",
    "/interactions",
    summary=f"Log one interaction or a batch of up to {MAX_ITEMS:,}",
    description=(
        "A batch sent with the header `Prefer: respond-async` (RFC 7240) is validated and "
        "saved at once, then stored by a worker within seconds: the answer is 202 with every "
        "item's id (yours, or one made for it) and the batch's status address "
        "(`Location`; GET it to see the batch stored). Invalid input is refused before "
        "anything is saved, as without the header."
    ),
    request=Interactions,
    responses={
        201: (Stored, "Stored; the ids in request order"),
        200: (Stored, "Every item was already stored (a retry)"),
        202: (BatchAccepted, "Accepted (`Prefer: respond-async`); stored within seconds"),
        413: f"Body over 8 MB or more than {MAX_ITEMS:,} items",
    },
)
def interactions(request: HttpRequest, *, user, body) -> JsonResponse:
    single = isinstance(body, Interaction)
    if not single and "respond-async" in request.headers.get("Prefer", "").lower():
        return _accept(user, body)
    items = service_items([body] if single else body)
    try:
        results = _ingest(user, items)
    except services.IdTaken as exc:
        return _taken(exc, single)
    created = sum(1 for *_, was_created in results if was_created)
    status = 201 if created else 200
    ids = [turn_id for _, turn_id, _ in results]
    if single:
        _, turn_id, was_created = results[0]
        stored = InteractionStored(id=turn_id, ids=ids, created=was_created)
        if not was_created:
            stored.record = turn_record(_load(turn_id), user)
        return apispec.respond(status, stored, exclude_unset=True)
    return apispec.respond(
        status, BatchStored(ids=ids, created=created, existing=len(results) - created)
    )


def _taken(exc: services.IdTaken, single: bool) -> JsonResponse:
    taken = {("id" if single else f"{i}.id"): ["This id is already used."] for i in exc.positions}
    return apispec.error(400, taken)


def _accept(user, body: list[Interaction]) -> JsonResponse:
    """A batch to store later: each item gets its id now, so the answer can name them all."""
    for item in body:
        if item.id is None:
            item.id = uuid7()
    ids = [item.id for item in body]
    try:
        batch, existing = services.interactions_accept(
            user=user, ids=ids, payload=INTERACTION_LIST.dump_json(body, exclude_none=True)
        )
    except services.IdTaken as exc:
        return _taken(exc, single=False)
    if batch is None:  # all stored already: the answer a synchronous retry gets
        return apispec.respond(200, BatchStored(ids=ids, created=0, existing=existing))
    where = reverse("api:ingest_batch", args=[batch.pk])
    response = apispec.respond(
        202,
        BatchAccepted(ids=ids, accepted=len(ids), existing=existing, batch=batch.pk, status=where),
    )
    response["Location"] = where
    response["Preference-Applied"] = "respond-async"
    return response


def _ingest(user, items: list[dict]):
    try:
        return services.interactions_ingest(user=user, items=items)
    except IntegrityError:  # a concurrent retry stored the same client id first
        return services.interactions_ingest(user=user, items=items)


def _turns():
    return Turn.objects.select_related("user", "conversation").prefetch_related(
        "contexts", "feedback__user"
    )


def _load(turn_id) -> Turn:
    return _turns().get(pk=turn_id)


@apispec.operation(
    "GET",
    "/interactions/{id}",
    summary="A stored interaction with its context, feedback and reviews",
    description=(
        "For the interaction's owner and for experts/leads. While the interaction is still "
        "under review, a reviewer sees only their own review (blind review)."
    ),
    responses={200: (TurnRecord, "The record"), 404: "No such interaction (or not yours)"},
)
def interaction_detail(request: HttpRequest, turn_id: uuid.UUID, *, user) -> JsonResponse:
    try:
        turn = turn_visible_to(user, turn_id, _turns())
    except Http404:
        return apispec.error(404, NOT_FOUND)
    return apispec.respond(200, turn_record(turn, user))


@apispec.operation(
    "GET",
    "/ingest-batches/{id}",
    summary="A batch accepted with `Prefer: respond-async`: queued, storing, stored or failed",
    responses={200: (IngestBatchRecord, "The batch"), 404: "No such batch (or not yours)"},
)
def ingest_batch(request: HttpRequest, batch_id: uuid.UUID, *, user) -> JsonResponse:
    try:
        batch = ingest_batch_for_user(user, batch_id)
    except Http404:
        return apispec.error(404, {"id": ["No such batch."]})
    return apispec.respond(
        200,
        IngestBatchRecord(
            id=batch.id,
            status=batch.status,
            items=batch.items,
            stored=batch.stored,
            existing=batch.existing,
            errors=batch.errors if isinstance(batch.errors, dict) else {},
            error=batch.error,
            created_at=batch.created_at,
            finished_at=batch.finished_at,
        ),
    )


@apispec.operation(
    "POST",
    "/interactions/{id}/feedback",
    summary="Rate an interaction (one per user; sending again changes it)",
    request=FeedbackIn,
    responses={
        201: (FeedbackRecord, "Rated"),
        200: (FeedbackRecord, "Rating changed"),
        404: "No such interaction (or not yours)",
    },
)
def interaction_feedback(
    request: HttpRequest, turn_id: uuid.UUID, *, user, body: FeedbackIn
) -> JsonResponse:
    turn = Turn.objects.filter(pk=turn_id, user=user).first()
    if turn is None:  # someone else's interaction looks the same as a missing one
        return apispec.error(404, NOT_FOUND)
    existed = Feedback.objects.filter(turn=turn, user=user).exists()
    feedback = services.feedback_set(
        turn=turn, user=user, rating=body.rating, comment=body.comment or ""
    )
    return apispec.respond(200 if existed else 201, _feedback_record(feedback))


@apispec.operation(
    "GET",
    "/openapi.json",
    summary="This document",
    auth=False,
    responses={200: (dict[str, Any], "The OpenAPI 3.1 document of every operation")},
)
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        apispec.document(
            server_url=request.build_absolute_uri("/api/v1"),
            title="ReviewHub ingestion API",
            version="1.0.0",
            description="Log LLM interactions from your own app, rate them, read them back.",
        )
    )


# --- records ------------------------------------------------------------------------------------


def _feedback_record(feedback: Feedback) -> FeedbackRecord:
    return FeedbackRecord(
        id=feedback.id,
        rating=feedback.rating,
        comment=feedback.comment,
        user=feedback.user.username if feedback.user else None,
        updated_at=feedback.updated_at,
    )


def turn_record(turn: Turn, viewer) -> TurnRecord:
    return TurnRecord(
        id=turn.id,
        conversation_id=turn.conversation.external_id or str(turn.conversation_id),
        user=turn.external_user or turn.user.username,
        source=turn.source,
        question=turn.question,
        answer=turn.answer,
        status=turn.status,
        error=turn.error,
        model=turn.model,
        provider=turn.provider,
        params=turn.params if isinstance(turn.params, dict) else {},
        system_prompt=turn.system_prompt,
        grounded=turn.grounded,
        latency_ms=turn.latency_ms,
        prompt_tokens=turn.prompt_tokens,
        completion_tokens=turn.completion_tokens,
        created_at=turn.created_at,
        metadata=turn.metadata if isinstance(turn.metadata, dict) else {},
        context=[
            ContextRecord(rank=c.rank, text=c.text, source=c.source, title=c.title, score=c.score)
            for c in turn.contexts.all()
        ],
        feedback=[_feedback_record(f) for f in turn.feedback.all()],
        reviews=_reviews(turn, viewer),
    )


# The blind-review rule lives in annotations (one rule for the review screen, lineage, exports
# and this API); named by its dotted path because annotations sits above chat.
REVIEW_IDS_VISIBLE_TO = "annotations.selectors.review_ids_visible_to"


def _reviews(turn: Turn, viewer) -> list[ReviewRecord]:
    """The reviews of the turn this viewer may see: while the item is open, a reviewer (or a
    lead taking part) sees only their own; once it is decided, everyone who may see it."""
    visible = import_string(REVIEW_IDS_VISIBLE_TO)(viewer, turn.pk)
    if not visible:
        return []
    review_model = apps.get_model("annotations", "Review")
    reviews = review_model.objects.filter(pk__in=visible).select_related("reviewer")
    return [
        ReviewRecord(
            id=r.id,
            reviewer=r.reviewer.username,
            verdict=r.verdict,
            scores=r.scores if isinstance(r.scores, dict) else {},
            tags=r.tags if isinstance(r.tags, list) else [],
            notes=r.notes,
            corrected_answer=r.corrected_answer,
            created_at=r.created_at,
        )
        for r in reviews.order_by("created_at")
    ]
