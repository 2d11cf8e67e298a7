"""POST /api/v1/interactions/<id>/scores — scores from a team's own evaluators.

Declared once with reviewhub.apispec: the pydantic models below validate the request and
describe it in /api/v1/openapi.json. Same conventions as the rest of the API: Bearer token,
JSON errors naming each field, another user's interaction answers like a missing one (404),
a bad request stores nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest, JsonResponse
from pydantic import Field

from chat.models import Turn
from evaluation import services
from evaluation.models import Score
from reviewhub import apispec

NOT_FOUND = {"id": ["No such interaction."]}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"


class ScoreIn(apispec.Body):
    name: apispec.Text(50) = Field(
        pattern=NAME_PATTERN,
        description="The criterion, e.g. helpfulness; sending it again replaces the value",
    )
    value: apispec.Number = Field(description="0–1 to be usable in filters and priority")
    comment: apispec.Text(4000) = ""
    source: apispec.NonBlank(80) = Field(
        default="api", description="Your evaluator's name (default: api)"
    )


class ScoreRecord(apispec.Record):
    interaction_id: uuid.UUID
    name: str
    value: float
    comment: str
    source: str
    updated_at: datetime


@apispec.operation(
    "POST",
    "/interactions/{id}/scores",
    summary="Attach a score from your own evaluator to one of your interactions",
    request=ScoreIn,
    responses={
        201: (ScoreRecord, "Stored"),
        200: (ScoreRecord, "Replaced the earlier value of this name and source"),
        404: "No such interaction (or not yours)",
    },
)
def interaction_scores(
    request: HttpRequest, turn_id: uuid.UUID, *, user, body: ScoreIn
) -> JsonResponse:
    turn = Turn.objects.filter(pk=turn_id, user=user).first()
    if turn is None:  # someone else's interaction looks the same as a missing one
        return apispec.error(404, NOT_FOUND)
    source = body.source.strip()
    existed = Score.objects.filter(turn=turn, criterion=body.name, source=source).exists()
    try:
        score = services.external_score_record(
            turn=turn,
            user=user,
            name=body.name,
            value=body.value,
            comment=body.comment,
            source=source,
        )
    except services.EvaluationError as exc:
        return apispec.error(400, {"source": [str(exc)]})
    record = ScoreRecord(
        interaction_id=score.turn_id,
        name=score.criterion,
        value=score.value,
        comment=score.reason,
        source=score.source,
        updated_at=score.updated_at,
    )
    return apispec.respond(200 if existed else 201, record)
