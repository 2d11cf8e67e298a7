"""Hostile input to the ingestion API: each refusal is a JSON 4xx naming the field, and
nothing is stored. (Before, several of these were stored or crashed with a 500.)"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chat import services
from chat.models import Conversation, Turn

NOW = datetime.now(UTC)


def interaction(**overrides):
    return {"question": "How do I restore?", "answer": "Choose Restore.", "model": "m"} | overrides


@pytest.fixture
def post(client, end_user):
    token = services.api_token_create(user=end_user, name="app")[1]

    def call(body=None, *, raw=None, path="interactions"):
        data = raw if raw is not None else json.dumps(body)
        return client.post(
            f"/api/v1/{path}",
            data=data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return call


def refused(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert Turn.objects.count() == 0 and Conversation.objects.count() == 0
    return response.json()["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "created_at, message",
    [
        ("0001-01-01T00:00:00+14:00", "Must be from 2000-01-01T00:00:00Z to one day from now."),
        ("1999-12-31T23:59:59Z", "Must be from 2000-01-01T00:00:00Z to one day from now."),
        (
            (NOW + timedelta(days=2)).isoformat(),
            "Must be from 2000-01-01T00:00:00Z to one day from now.",
        ),
        ("2026-01-01T00:00:00+15:00", "The UTC offset must be between -14:00 and +14:00."),
        ("2026-02-30T00:00:00Z", "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z."),
        ("2026-02-28", "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z."),
        (1767225600, "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z."),
    ],
)
def test_a_date_time_out_of_range_or_invalid_is_refused(post, created_at, message):
    errors = refused(post(interaction(created_at=created_at)))
    assert errors == {"created_at": [message]}


@pytest.mark.django_db
def test_a_date_time_with_an_offset_is_stored_in_utc(post):
    response = post(interaction(created_at="2026-03-01T09:30:00+14:00"))
    assert response.status_code == 201
    stored = Turn.objects.get().created_at
    assert stored == datetime(2026, 2, 28, 19, 30, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"question": "a\x00b"}, "question", "Must not contain NUL characters."),
        ({"user": "\x00"}, "user", "Must not contain NUL characters."),
        ({"metadata": {"k": ["x\x00"]}}, "metadata", "Must not contain NUL characters."),
        ({"metadata": {"\x00": 1}}, "metadata", "Must not contain NUL characters."),
        (
            {"messages": [{"role": "user", "content": "\x00"}]},
            "messages.0.content",
            "Must not contain NUL characters.",
        ),
        ({"latency_ms": 10**400}, "latency_ms", "Must be a non-negative integer."),
        ({"prompt_tokens": 2**31}, "prompt_tokens", "Must be a non-negative integer."),
        ({"completion_tokens": 1.5}, "completion_tokens", "Must be a non-negative integer."),
        ({"metadata": {"n": 2**70}}, "metadata", "Integers must fit in 64 bits."),
        ({"question": "   "}, "question", "Must not be empty."),
        ({"model": "m" * 121}, "model", "At most 120 characters."),
        ({"context": [{"text": "t"}] * 51}, "context", "At most 50 items."),
    ],
)
def test_bad_values_are_refused_naming_the_field(post, overrides, field, message):
    errors = refused(post(interaction(**overrides)))
    assert errors == {field: [message]}


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused(post):
    raw = '{"question": "q\\ud800", "answer": "a", "model": "m"}'
    assert refused(post(raw=raw)) == {"body": ["The body is not valid JSON."]}


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_refused_at_parse_time_never_stored(post, number):
    raw = '{"question": "q", "answer": "a", "model": "m", "context": [{"text": "t", "score": %s}]}'
    errors = refused(post(raw=raw % number))
    assert errors == {"context.0.score": ["Must be a finite number."]}
    metadata = '{"question": "q", "answer": "a", "model": "m", "metadata": {"x": [%s]}}'
    errors = refused(post(raw=metadata % number))
    assert errors == {"metadata": ["Numbers must be finite (no NaN or Infinity)."]}


@pytest.mark.django_db
def test_json_nested_5000_deep_is_a_400_not_a_recursion_error(post):
    raw = '{"question": "q", "answer": "a", "model": "m", "metadata": {"x": %s}}' % (
        "[" * 5000 + "]" * 5000
    )
    assert refused(post(raw=raw)) == {"body": ["The body is nested too deeply."]}
    deep = {"x": {}}
    node = deep["x"]
    for _ in range(30):
        node["x"] = {}
        node = node["x"]
    assert refused(post(interaction(metadata=deep))) == {
        "metadata": ["Nested deeper than 20 levels."]
    }


@pytest.mark.django_db
def test_a_batch_of_1000_with_one_bad_item_names_its_index_and_stores_nothing(post):
    items = [interaction(question=f"q{i}?", conversation_id="c") for i in range(1000)]
    items[637]["created_at"] = "2026-02-30T10:00:00Z"
    errors = refused(post(items))
    assert errors == {
        "637.created_at": ["Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z."]
    }
    items[637]["created_at"] = "2026-02-28T10:00:00Z"
    response = post(items)
    assert response.status_code == 201 and response.json()["created"] == 1000


@pytest.mark.django_db
def test_feedback_is_validated_the_same_way(post, end_user):
    turn_id = post(interaction()).json()["id"]
    path = f"interactions/{turn_id}/feedback"
    response = post({"rating": "up", "comment": "a\x00"}, path=path)
    assert response.status_code == 400
    assert response.json()["errors"] == {"comment": ["Must not contain NUL characters."]}
    assert post({"comment": "x"}, path=path).json()["errors"] == {
        "rating": ["This field is required."]
    }
    assert post({"rating": "up", "comment": None}, path=path).status_code == 201


@pytest.mark.django_db
def test_unknown_api_paths_and_wrong_methods_are_json(client, post):
    for path in ("/api/v1/nope", "/api/v2/interactions", "/api/v1/interactions/not-a-uuid"):
        response = client.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert "path" in response.json()["errors"]
    response = client.put("/api/v1/interactions")
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert response.json() == {"errors": {"method": ["Use POST."]}}
    # GET there is the search API (workspace): without a token, a JSON 401
    response = client.get("/api/v1/interactions")
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
    response = client.delete(f"/api/v1/interactions/{uuid.uuid4()}")
    assert response.status_code == 405 and response["Allow"] == "GET"
    response = client.put(f"/api/v1/interactions/{uuid.uuid4()}/feedback")
    assert response.status_code == 405 and response["Allow"] == "POST"


@pytest.mark.django_db
def test_a_body_that_is_neither_an_object_nor_a_list_says_what_to_send(post):
    for body in ("a string", 5, None):
        assert refused(post(body)) == {
            "body": ["Send one interaction object or a non-empty list of them."]
        }
    assert refused(post([])) == {"body": ["Must not be empty."]}
