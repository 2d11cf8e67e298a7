"""POST /api/v1/interactions/<id>/scores: teams' own evaluators."""

from __future__ import annotations

import json
import uuid

import pytest

from chat import services as chat_services
from evaluation.models import Score

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(end_user):
    return chat_services.api_token_create(user=end_user, name="app")[1]


@pytest.fixture
def post(client):
    def call(turn_id, body, token):
        return client.post(
            f"/api/v1/interactions/{turn_id}/scores",
            data=body if isinstance(body, str) else json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return call


def test_a_score_is_stored_and_posting_it_again_replaces_it(post, token, log_turn):
    turn = log_turn("Q?", "A.")
    first = post(turn.id, {"name": "helpfulness", "value": 0.4, "source": "ci"}, token)
    assert first.status_code == 201
    assert first.json()["value"] == 0.4 and first.json()["source"] == "ci"
    again = post(turn.id, {"name": "helpfulness", "value": 0.9, "comment": "better"}, token)
    assert again.status_code == 201, "another source is another evaluator"
    replaced = post(turn.id, {"name": "helpfulness", "value": 0.7, "source": "ci"}, token)
    assert replaced.status_code == 200
    scores = Score.objects.filter(turn=turn, criterion="helpfulness").order_by("source")
    assert [(s.source, s.value) for s in scores] == [("api", 0.9), ("ci", 0.7)]
    assert scores[0].reason == "better" and scores[1].normalized == 0.7


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "value": "high"}, "value"),
        ({"name": "x", "value": True}, "value"),
        ({"value": 0.5}, "name"),
        ({"name": "has space", "value": 0.5}, "name"),
        ({"name": "x", "value": 0.5, "extra": 1}, "extra"),
        ({"name": "x", "value": 0.5, "source": ""}, "source"),
        ([1, 2], "body"),
        ("{not json", "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(post, token, log_turn, body, field):
    turn = log_turn("Q?", "A.")
    response = post(turn.id, body, token)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Score.objects.filter(turn=turn).exists()


def test_an_unknown_interaction_is_a_404(post, token):
    response = post(uuid.uuid4(), {"name": "x", "value": 1}, token)
    assert response.status_code == 404 and "id" in response.json()["errors"]
    assert not Score.objects.exists()


def test_another_users_interaction_is_a_404_and_stores_nothing(post, token, log_turn, other_user):
    theirs = log_turn("Q?", "A.", user=other_user)
    response = post(theirs.id, {"name": "x", "value": 1}, token)
    assert response.status_code == 404
    assert not Score.objects.exists()


def test_without_a_token_it_is_a_401(client, log_turn):
    turn = log_turn("Q?", "A.")
    response = client.post(
        f"/api/v1/interactions/{turn.id}/scores", data="{}", content_type="application/json"
    )
    assert response.status_code == 401


def test_the_openapi_document_describes_the_scores_endpoint(client):
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/interactions/{id}/scores"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert sorted(body["required"]) == ["name", "value"]
    assert set(body["properties"]) == {"name", "value", "comment", "source"}
    assert {"201", "400", "401", "404"} <= set(operation["responses"])
    assert "/interactions" in document["paths"], "chat's operations are still there"
