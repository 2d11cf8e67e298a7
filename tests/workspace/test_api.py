"""GET /api/v1/interactions: search and filters with a cursor and a count, by token."""

from __future__ import annotations

import pytest

from chat.services import api_token_create
from tests.factories import make_turn

pytestmark = pytest.mark.django_db
URL = "/api/v1/interactions"


def get(client, token, **params):
    return client.get(URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_without_a_token_the_list_is_refused(client):
    response = client.get(URL)
    assert response.status_code == 401 and "authorization" in response.json()["errors"]


def test_an_end_users_token_lists_only_their_own_turns(client, end_user, other_user):
    make_turn(end_user, question="my refund")
    make_turn(other_user, question="their refund")
    token = api_token_create(user=end_user, name="app")[1]
    body = get(client, token, q="refund").json()
    assert [r["question"] for r in body["results"]] == ["my refund"]
    assert (body["count"], body["count_exact"], body["next_cursor"]) == (1, True, None)
    assert get(client, token, user="mallory").status_code == 400


def test_an_experts_token_pages_through_everyone_with_a_cursor(
    client, end_user, other_user, expert
):
    for i in range(5):
        make_turn(end_user if i % 2 else other_user, question=f"refund {i}", age_minutes=i)
    make_turn(end_user, question="unrelated")
    token = api_token_create(user=expert, name="app")[1]
    first = get(client, token, q="refund", limit=3).json()
    assert first["count"] == 5 and len(first["results"]) == 3
    second = get(client, token, q="refund", limit=3, cursor=first["next_cursor"]).json()
    questions = [r["question"] for r in first["results"] + second["results"]]
    assert questions == [f"refund {i}" for i in range(5)]  # newest first, each once
    assert second["next_cursor"] is None
    record = first["results"][0]
    assert {"id", "user", "source", "answer", "model", "rating", "review_state"} <= set(record)
    assert get(client, token, user="mallory", q="refund").json()["count"] == 3


def test_bad_parameters_are_400_with_the_parameter_named(client, expert):
    token = api_token_create(user=expert, name="app")[1]
    response = get(client, token, limit="0", grounded="maybe", date_from="yesterday")
    assert response.status_code == 400
    assert {"limit", "grounded", "date_from"} <= set(response.json()["errors"])
    assert get(client, token, cursor="abc").status_code == 400


def test_posting_to_the_same_url_still_ingests(client, end_user):
    token = api_token_create(user=end_user, name="app")[1]
    response = client.post(
        URL,
        {"question": "Q?", "answer": "A.", "model": "m"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
    assert get(client, token, q="Q").json()["count"] == 1
