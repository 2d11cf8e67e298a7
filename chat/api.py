"""The ingestion API (JSON, `Authorization: Bearer <token>`), mounted at /api/v1/.

Views authenticate the token themselves (no session, no CSRF: a token is not ambient
authority). Errors are JSON: `{"errors": {"<field>": ["message", ...]}}`; in a batch the field
names are prefixed with the item's index (`"3.question"`). A bad batch stores nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from chat import services
from chat.models import Feedback, Turn
from chat.openapi import schema
from chat.selectors import turn_visible_to

MAX_ITEMS = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TEXT = 100_000
MAX_CONTEXT_ITEMS = 50
FIELDS = {
    "id",
    "conversation_id",
    "user",
    "question",
    "answer",
    "model",
    "system_prompt",
    "context",
    "grounded",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
    "metadata",
    "messages",
}


def _error(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def _authenticate(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return services.api_token_user(raw.strip())


def _unauthorized() -> JsonResponse:
    response = _error(
        401, {"authorization": ["Send a valid API token: Authorization: Bearer <token>."]}
    )
    response["WWW-Authenticate"] = 'Bearer realm="reviewhub"'
    return response


def _read_json(request: HttpRequest) -> tuple[object, JsonResponse | None]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None, _error(
            413,
            {"body": [f"The body is larger than {MAX_BODY_BYTES} bytes; send smaller batches."]},
        )
    try:
        return json.loads(request.body or b"null"), None
    except (ValueError, UnicodeDecodeError):
        return None, _error(400, {"body": ["The body is not valid JSON."]})


# --- validation ---------------------------------------------------------------------------------


def _text(value, name, errors, *, required=False, max_len=MAX_TEXT, allow_empty=False):
    if value is None:
        if required:
            errors.setdefault(name, []).append("This field is required.")
        return None
    if not isinstance(value, str):
        errors.setdefault(name, []).append("Must be a string.")
        return None
    if required and not allow_empty and not value.strip():
        errors.setdefault(name, []).append("Must not be empty.")
    elif len(value) > max_len:
        errors.setdefault(name, []).append(f"At most {max_len} characters.")
    return value


def _count(value, name, errors):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**31 - 1:
        errors.setdefault(name, []).append("Must be a non-negative integer.")
        return None
    return value


def validate_interaction(raw) -> tuple[dict, dict[str, list[str]]]:
    """(clean item, per-field errors) for one interaction object."""
    if not isinstance(raw, dict):
        return {}, {"": ["Each interaction must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    for unknown in sorted(set(raw) - FIELDS):
        errors[unknown] = ["Unknown field."]
    clean: dict = {}
    if raw.get("id") is not None:
        try:
            clean["id"] = uuid.UUID(str(raw["id"]))
        except ValueError:
            errors["id"] = ["Must be a UUID."]
    clean["conversation_id"] = _text(
        raw.get("conversation_id"), "conversation_id", errors, max_len=200
    )
    clean["user"] = _text(raw.get("user"), "user", errors, max_len=200)
    clean["question"] = _text(raw.get("question"), "question", errors, required=True)
    clean["answer"] = _text(raw.get("answer"), "answer", errors, required=True, allow_empty=True)
    clean["model"] = _text(raw.get("model"), "model", errors, required=True, max_len=120)
    clean["system_prompt"] = _text(raw.get("system_prompt"), "system_prompt", errors)
    for name in ("latency_ms", "prompt_tokens", "completion_tokens"):
        clean[name] = _count(raw.get(name), name, errors)
    grounded = raw.get("grounded")
    if grounded is not None and not isinstance(grounded, bool):
        errors["grounded"] = ["Must be true or false."]
    clean["grounded"] = grounded if isinstance(grounded, bool) else None
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        errors["metadata"] = ["Must be an object."]
    clean["metadata"] = metadata if isinstance(metadata, dict) else {}
    clean["created_at"] = _datetime(raw.get("created_at"), errors)
    clean["context"] = _context(raw.get("context"), errors)
    clean["messages"] = _messages(raw.get("messages"), errors)
    return clean, errors


def _datetime(value, errors) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        errors["created_at"] = ["Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z."]
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _context(value, errors) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors["context"] = ["Must be a list of {text, source, score} objects."]
        return []
    if len(value) > MAX_CONTEXT_ITEMS:
        errors["context"] = [f"At most {MAX_CONTEXT_ITEMS} passages."]
        return []
    passages = []
    for i, item in enumerate(value):
        name = f"context.{i}"
        if not isinstance(item, dict):
            errors[name] = ["Must be an object with text, source and score."]
            continue
        for unknown in sorted(set(item) - {"text", "source", "score", "title"}):
            errors[f"{name}.{unknown}"] = ["Unknown field."]
        text = _text(item.get("text"), f"{name}.text", errors, required=True)
        source = _text(item.get("source"), f"{name}.source", errors, max_len=1000)
        title = _text(item.get("title"), f"{name}.title", errors, max_len=300)
        score = item.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            errors[f"{name}.score"] = ["Must be a number."]
            score = None
        passages.append(
            {
                "text": text,
                "source": source or "",
                "title": title or "",
                "score": float(score) if score is not None else None,
            }
        )
    return passages


def _messages(value, errors) -> list[dict] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    )
    if not ok:
        errors["messages"] = ["Must be a list of {role, content} objects."]
        return None
    return [{"role": m["role"], "content": m["content"]} for m in value]


# --- views --------------------------------------------------------------------------------------


@login_not_required
@csrf_exempt
def interactions(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error(405, {"method": ["Use POST."]})
    user = _authenticate(request)
    if user is None:
        return _unauthorized()
    body, problem = _read_json(request)
    if problem:
        return problem
    single = isinstance(body, dict)
    raw_items = [body] if single else body
    if not isinstance(raw_items, list) or not raw_items:
        return _error(400, {"body": ["Send one interaction object or a non-empty list of them."]})
    if len(raw_items) > MAX_ITEMS:
        return _error(413, {"body": [f"At most {MAX_ITEMS} interactions per request."]})
    items, errors = [], {}
    for i, raw in enumerate(raw_items):
        clean, item_errors = validate_interaction(raw)
        for field, messages in item_errors.items():
            key = field if single else f"{i}.{field}" if field else str(i)
            errors[key or "body"] = messages
        items.append(clean)
    if errors:
        return _error(400, errors)
    try:
        results = _ingest(user, items)
    except services.IdTaken as exc:
        return _error(
            400,
            {("id" if single else f"{i}.id"): ["This id is already used."] for i in exc.positions},
        )
    created = sum(1 for *_, was_created in results if was_created)
    status = 201 if created else 200
    if single:
        _, turn_id, was_created = results[0]
        payload = {"id": str(turn_id), "ids": [str(turn_id)], "created": was_created}
        if not was_created:
            payload["record"] = turn_record(_load(turn_id))
        return JsonResponse(payload, status=status)
    return JsonResponse(
        {
            "ids": [str(turn_id) for _, turn_id, _ in results],
            "created": created,
            "existing": len(results) - created,
        },
        status=status,
    )


def _ingest(user, items: list[dict]):
    try:
        return services.interactions_ingest(user=user, items=items)
    except IntegrityError:  # a concurrent retry stored the same client id first
        return services.interactions_ingest(user=user, items=items)


def _load(turn_id) -> Turn:
    return (
        Turn.objects.select_related("user", "conversation")
        .prefetch_related("contexts", "feedback__user")
        .get(pk=turn_id)
    )


@login_not_required
@csrf_exempt
def interaction_detail(request: HttpRequest, turn_id: uuid.UUID) -> JsonResponse:
    if request.method != "GET":
        return _error(405, {"method": ["Use GET."]})
    user = _authenticate(request)
    if user is None:
        return _unauthorized()
    turns = Turn.objects.select_related("user", "conversation").prefetch_related(
        "contexts", "feedback__user"
    )
    try:
        turn = turn_visible_to(user, turn_id, turns)
    except Http404:
        return _error(404, {"id": ["No such interaction."]})
    return JsonResponse(turn_record(turn))


@login_not_required
@csrf_exempt
def interaction_feedback(request: HttpRequest, turn_id: uuid.UUID) -> JsonResponse:
    if request.method != "POST":
        return _error(405, {"method": ["Use POST."]})
    user = _authenticate(request)
    if user is None:
        return _unauthorized()
    turn = Turn.objects.filter(pk=turn_id, user=user).first()
    if turn is None:  # someone else's interaction looks the same as a missing one
        return _error(404, {"id": ["No such interaction."]})
    body, problem = _read_json(request)
    if problem:
        return problem
    if not isinstance(body, dict):
        return _error(400, {"body": ['Send an object: {"rating": "up"|"down", "comment": "..."}.']})
    errors: dict[str, list[str]] = {}
    rating = body.get("rating")
    if rating not in Feedback.Rating.values:
        errors["rating"] = ['Must be "up" or "down".']
    comment = _text(body.get("comment"), "comment", errors, max_len=4000) or ""
    for unknown in sorted(set(body) - {"rating", "comment"}):
        errors[unknown] = ["Unknown field."]
    if errors:
        return _error(400, errors)
    existed = Feedback.objects.filter(turn=turn, user=user).exists()
    feedback = services.feedback_set(turn=turn, user=user, rating=rating, comment=comment)
    return JsonResponse(_feedback_record(feedback), status=200 if existed else 201)


@login_not_required
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(schema(request.build_absolute_uri("/api/v1")))


# --- records ------------------------------------------------------------------------------------


def _feedback_record(feedback: Feedback) -> dict:
    return {
        "id": str(feedback.id),
        "rating": feedback.rating,
        "comment": feedback.comment,
        "user": feedback.user.username if feedback.user else None,
        "updated_at": feedback.updated_at.isoformat(),
    }


def turn_record(turn: Turn) -> dict:
    return {
        "id": str(turn.id),
        "conversation_id": turn.conversation.external_id or str(turn.conversation_id),
        "user": turn.external_user or turn.user.username,
        "source": turn.source,
        "question": turn.question,
        "answer": turn.answer,
        "status": turn.status,
        "error": turn.error,
        "model": turn.model,
        "provider": turn.provider,
        "system_prompt": turn.system_prompt,
        "grounded": turn.grounded,
        "latency_ms": turn.latency_ms,
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": turn.completion_tokens,
        "created_at": turn.created_at.isoformat(),
        "metadata": turn.metadata,
        "context": [
            {"rank": c.rank, "text": c.text, "source": c.source, "title": c.title, "score": c.score}
            for c in turn.contexts.all()
        ],
        "feedback": [_feedback_record(f) for f in turn.feedback.all()],
        "reviews": _reviews(turn),
    }


def _reviews(turn: Turn) -> list[dict]:
    """Expert reviews of the turn (annotations.Review, reached through its queue item)."""
    from django.apps import apps

    try:
        review_model = apps.get_model("annotations", "Review")
    except LookupError:
        return []
    reviews = review_model.objects.filter(item__turn=turn).select_related("reviewer")
    return [
        {
            "id": str(r.id),
            "reviewer": r.reviewer.username,
            "verdict": r.verdict,
            "scores": r.scores,
            "tags": r.tags,
            "notes": r.notes,
            "corrected_answer": r.corrected_answer,
            "created_at": r.created_at.isoformat(),
        }
        for r in reviews
    ]
