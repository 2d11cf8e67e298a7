"""POST /api/v1/interactions/<id>/scores — scores from a team's own evaluators.

Same conventions as the ingestion API (chat/api.py): `Authorization: Bearer <token>`, no
session and no CSRF, JSON errors `{"errors": {"<field>": ["message"]}}`, another user's
interaction answers exactly like a missing one (404), and a bad request stores nothing.
The operation's schema is `OPERATION` below. Until the API has an operation registry that
any app adds to, /api/v1/openapi.json is served by `openapi` here: chat's document plus this
path (routed in reviewhub/urls.py before chat's API urls), so chat never imports evaluation.
"""

from __future__ import annotations

import json
import math
import re
import uuid

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chat.models import Turn
from chat.openapi import schema as chat_schema
from chat.services import api_token_user
from evaluation import services
from evaluation.models import Score

FIELDS = {"name", "value", "comment", "source"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
MAX_BODY_BYTES = 64 * 1024

SCORE_SCHEMA = {
    "type": "object",
    "required": ["name", "value"],
    "additionalProperties": False,
    "properties": {
        "name": {
            "type": "string",
            "pattern": _NAME.pattern,
            "description": "The criterion, e.g. helpfulness; posting it again replaces the value",
        },
        "value": {"type": "number", "description": "0–1 to be usable in filters and priority"},
        "comment": {"type": "string", "maxLength": 4000},
        "source": {
            "type": "string",
            "maxLength": 80,
            "description": "Your evaluator's name (default: api)",
        },
    },
}
SCORE_RECORD = {
    "type": "object",
    "properties": {
        "interaction_id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "value": {"type": "number"},
        "comment": {"type": "string"},
        "source": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}


def _err(text: str) -> dict:
    schema = {"$ref": "#/components/schemas/Errors"}
    return {"description": text, "content": {"application/json": {"schema": schema}}}


OPERATION = {
    "post": {
        "operationId": "scoreInteraction",
        "summary": "Attach a score from your own evaluator to one of your interactions",
        "security": [{"bearer": []}],
        "parameters": [
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SCORE_SCHEMA}},
        },
        "responses": {
            "201": {
                "description": "Stored",
                "content": {"application/json": {"schema": SCORE_RECORD}},
            },
            "200": {
                "description": "Replaced the earlier value of this name and source",
                "content": {"application/json": {"schema": SCORE_RECORD}},
            },
            "400": _err("Invalid body; nothing stored"),
            "401": _err("Missing or invalid token"),
            "404": _err("No such interaction (or not yours)"),
        },
    }
}
PATH = "/interactions/{id}/scores"


@login_not_required
def openapi(request: HttpRequest) -> JsonResponse:
    document = chat_schema(request.build_absolute_uri("/api/v1"))
    document["paths"][PATH] = OPERATION
    return JsonResponse(document)


def _error(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def _user(request: HttpRequest):
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return api_token_user(raw.strip())


def validate_score(body: object) -> tuple[dict, dict[str, list[str]]]:
    if not isinstance(body, dict):
        return {}, {"body": ['Send an object: {"name": "...", "value": 0.8}.']}
    errors: dict[str, list[str]] = {f: ["Unknown field."] for f in sorted(set(body) - FIELDS)}
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not _NAME.match(name):
        errors["name"] = ["Required: up to 50 letters, digits, '_', '-' or '.'."]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        errors["value"] = ["Required: a number."]
    comment, source = body.get("comment", ""), body.get("source", "api")
    if not isinstance(comment, str) or len(comment) > 4000:
        errors["comment"] = ["A string of at most 4000 characters."]
    if not isinstance(source, str) or not source.strip() or len(source) > 80:
        errors["source"] = ["A non-empty string of at most 80 characters."]
    clean = {"name": name, "value": value, "comment": comment, "source": str(source).strip()}
    return clean, errors


def _record(score: Score) -> dict:
    return {
        "interaction_id": str(score.turn_id),
        "name": score.criterion,
        "value": score.value,
        "comment": score.reason,
        "source": score.source,
        "updated_at": score.updated_at.isoformat(),
    }


@login_not_required
@csrf_exempt
def interaction_scores(request: HttpRequest, turn_id: uuid.UUID) -> JsonResponse:
    if request.method != "POST":
        return _error(405, {"method": ["Use POST."]})
    user = _user(request)
    if user is None:
        response = _error(401, {"authorization": ["Send a valid API token: Bearer <token>."]})
        response["WWW-Authenticate"] = 'Bearer realm="reviewhub"'
        return response
    turn = Turn.objects.filter(pk=turn_id, user=user).first()
    if turn is None:  # someone else's interaction looks the same as a missing one
        return _error(404, {"id": ["No such interaction."]})
    if len(request.body) > MAX_BODY_BYTES:
        return _error(413, {"body": [f"At most {MAX_BODY_BYTES} bytes."]})
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, {"body": ["The body is not valid JSON."]})
    clean, errors = validate_score(body)
    if errors:
        return _error(400, errors)
    existed = Score.objects.filter(
        turn=turn, criterion=clean["name"], source=clean["source"]
    ).exists()
    try:
        score = services.external_score_record(turn=turn, user=user, **clean)
    except services.EvaluationError as exc:
        return _error(400, {"source": [str(exc)]})
    return JsonResponse(_record(score), status=200 if existed else 201)
