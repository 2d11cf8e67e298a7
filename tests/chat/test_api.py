import json
import uuid

import pytest
from django.core.management import call_command

from chat import services
from chat.models import ApiToken, Conversation, Feedback, Turn, TurnContext
from outbox.models import OutboxEntry


def interaction(**overrides):
    item = {
        "question": "How do I restore a snapshot?",
        "answer": "Open the snapshot and choose Restore.",
        "model": "gpt-4o-mini",
        "system_prompt": "You are helpful.",
        "context": [
            {"text": "To restore, open the snapshot.", "source": "backups.md", "score": 0.9},
            {"text": "Snapshots are daily.", "source": "backups.md", "score": 0.5},
        ],
        "latency_ms": 812,
        "prompt_tokens": 120,
        "completion_tokens": 14,
    }
    return {**item, **overrides}


@pytest.fixture
def token(end_user):
    return services.api_token_create(user=end_user, name="app")[1]


@pytest.fixture
def api(client):
    def call(method, path, body=None, token=None, raw=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        fn = getattr(client, method)
        if data is None:
            return fn(f"/api/v1/{path}", **headers)
        return fn(f"/api/v1/{path}", data=data, content_type="application/json", **headers)

    return call


@pytest.mark.django_db
def test_post_one_interaction_stores_it_with_its_context(api, token, end_user):
    response = api(
        "post", "interactions", interaction(user="customer-42", metadata={"app": "x"}), token=token
    )
    assert response.status_code == 201, response.content
    body = response.json()
    turn = Turn.objects.get(pk=body["id"])
    assert body["ids"] == [str(turn.id)] and body["created"] is True
    assert turn.user == end_user and turn.source == "api" and turn.external_user == "customer-42"
    assert turn.grounded and turn.max_context_score == 0.9 and turn.metadata == {"app": "x"}
    assert turn.prompt_messages == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "How do I restore a snapshot?"},
    ]
    assert [c.rank for c in turn.contexts.all()] == [1, 2]
    assert turn.conversation.user == end_user and turn.conversation.source == "api"
    assert OutboxEntry.objects.filter(entity="turn", entity_id=str(turn.id)).exists()


@pytest.mark.django_db
def test_repeating_an_interaction_id_is_a_no_op_returning_the_stored_record(api, token):
    item = interaction(id=str(uuid.uuid4()))
    assert api("post", "interactions", item, token=token).status_code == 201
    again = api("post", "interactions", {**item, "answer": "changed"}, token=token)
    assert again.status_code == 200
    body = again.json()
    assert body["created"] is False and body["id"] == item["id"]
    assert body["record"]["answer"] == "Open the snapshot and choose Restore."
    assert Turn.objects.count() == 1 and TurnContext.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_is_stored_in_bulk_grouped_by_conversation(api, token):
    items = [interaction(conversation_id="c-1", question=f"q{i}?") for i in range(3)]
    items += [interaction(question="alone?"), interaction(conversation_id="c-2", question="x?")]
    retry_id = str(uuid.uuid4())
    items.append(interaction(id=retry_id))
    response = api("post", "interactions", items, token=token)
    assert response.status_code == 201
    body = response.json()
    assert len(body["ids"]) == 6 and body["created"] == 6 and body["ids"][5] == retry_id
    c1 = Conversation.objects.get(external_id="c-1")
    assert list(c1.turns.order_by("position").values_list("question", "position")) == [
        ("q0?", 0),
        ("q1?", 1),
        ("q2?", 2),
    ]
    # a later batch continues the same client conversation, and a retried id is not duplicated
    later = api(
        "post",
        "interactions",
        [interaction(conversation_id="c-1", question="q3?"), interaction(id=retry_id)],
        token=token,
    ).json()
    assert later["created"] == 1 and later["existing"] == 1 and later["ids"][1] == retry_id
    assert c1.turns.get(question="q3?").position == 3
    assert Turn.objects.count() == 7


@pytest.mark.django_db
def test_a_bad_batch_stores_nothing_and_names_each_bad_field(api, token):
    items = [
        interaction(),
        interaction(question="", model=None),
        interaction(latency_ms=-1),
        interaction(context=[{"source": "x", "score": "high"}], colour="blue"),
    ]
    response = api("post", "interactions", items, token=token)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["1.question"] == ["Must not be empty."]
    assert errors["1.model"] == ["This field is required."]
    assert errors["2.latency_ms"] == ["Must be a non-negative integer."]
    assert errors["3.context.0.text"] == ["This field is required."]
    assert errors["3.context.0.score"] == ["Must be a number."]
    assert errors["3.colour"] == ["Unknown field."]
    assert "0.question" not in errors
    assert Turn.objects.count() == 0 and Conversation.objects.count() == 0
    assert OutboxEntry.objects.count() == 0


@pytest.mark.django_db
def test_single_object_errors_are_per_field_without_an_index(api, token):
    response = api(
        "post",
        "interactions",
        interaction(id="not-a-uuid", grounded="yes", created_at="yesterday"),
        token=token,
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"id", "grounded", "created_at"}


@pytest.mark.django_db
def test_bad_json_and_empty_bodies_are_400(api, token):
    assert api("post", "interactions", raw="{not json", token=token).status_code == 400
    assert api("post", "interactions", [], token=token).status_code == 400
    assert api("post", "interactions", "a string", token=token).status_code == 400


@pytest.mark.django_db
def test_over_the_size_limits_is_413_and_stores_nothing(api, token):
    too_many = [interaction() for _ in range(1001)]
    assert api("post", "interactions", too_many, token=token).status_code == 413
    huge = interaction(answer="x" * (9 * 1024 * 1024))
    response = api("post", "interactions", huge, token=token)
    assert response.status_code == 413 and "body" in response.json()["errors"]
    assert Turn.objects.count() == 0


@pytest.mark.django_db
def test_missing_wrong_or_revoked_tokens_are_401(api, token, end_user):
    assert api("post", "interactions", interaction()).status_code == 401
    response = api("post", "interactions", interaction(), token="rh_wrong")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    services.api_token_revoke(token=ApiToken.objects.get(user=end_user))
    assert api("post", "interactions", interaction(), token=token).status_code == 401
    assert api("get", f"interactions/{uuid.uuid4()}").status_code == 401


@pytest.mark.django_db
def test_tokens_are_stored_hashed(token):
    stored = ApiToken.objects.get()
    assert token not in (
        stored.token_hash,
        stored.prefix,
    ) and stored.token_hash == services.hash_token(token)


@pytest.mark.django_db
def test_wrong_methods_are_405(api, token):
    # GET lists and searches (workspace/api.py); other methods than POST are still refused
    assert api("put", "interactions", {}, token=token).status_code == 405
    assert api("post", f"interactions/{uuid.uuid4()}", {}, token=token).status_code == 405


@pytest.mark.django_db
def test_feedback_through_the_api_is_created_then_changed(api, token, end_user):
    turn_id = api("post", "interactions", interaction(), token=token).json()["id"]
    response = api(
        "post",
        f"interactions/{turn_id}/feedback",
        {"rating": "down", "comment": "wrong"},
        token=token,
    )
    assert response.status_code == 201 and response.json()["rating"] == "down"
    response = api("post", f"interactions/{turn_id}/feedback", {"rating": "up"}, token=token)
    assert response.status_code == 200
    assert Feedback.objects.get(turn_id=turn_id, user=end_user).rating == "up"
    bad = api(
        "post", f"interactions/{turn_id}/feedback", {"rating": "meh", "stars": 5}, token=token
    )
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"rating", "stars"}


@pytest.mark.django_db
def test_get_returns_the_record_to_its_owner_and_experts_only(api, token, other_user, expert):
    turn_id = api("post", "interactions", interaction(), token=token).json()["id"]
    api(
        "post", f"interactions/{turn_id}/feedback", {"rating": "up", "comment": "good"}, token=token
    )
    record = api("get", f"interactions/{turn_id}", token=token).json()
    assert record["id"] == turn_id and record["question"] == "How do I restore a snapshot?"
    assert [c["rank"] for c in record["context"]] == [1, 2]
    assert record["feedback"][0]["comment"] == "good" and record["reviews"] == []
    other = services.api_token_create(user=other_user, name="x")[1]
    assert api("get", f"interactions/{turn_id}", token=other).status_code == 404
    assert (
        api("post", f"interactions/{turn_id}/feedback", {"rating": "down"}, token=other).status_code
        == 404
    )
    expert_token = services.api_token_create(user=expert, name="x")[1]
    assert api("get", f"interactions/{turn_id}", token=expert_token).status_code == 200
    assert api("get", f"interactions/{uuid.uuid4()}", token=token).status_code == 404


@pytest.mark.django_db
def test_openapi_schema_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/ingest-batches/{id}",  # a batch accepted with Prefer: respond-async
        "/interactions",
        "/interactions/{id}",
        "/interactions/{id}/feedback",
        "/interactions/{id}/scores",  # evaluation's (issue #12), same registry
        "/openapi.json",
    }
    assert "413" in schema["paths"]["/interactions"]["post"]["responses"]


@pytest.mark.django_db
def test_create_api_token_command_prints_a_working_token(api, end_user, capsys):
    call_command("create_api_token", end_user.username)
    raw = capsys.readouterr().out.split(": ")[1].split()[0]
    assert api("post", "interactions", interaction(), token=raw).status_code == 201


@pytest.mark.django_db
def test_an_id_used_by_another_user_is_refused_without_revealing_it(api, token, other_user):
    other = services.api_token_create(user=other_user, name="x")[1]
    item = interaction(id=str(uuid.uuid4()))
    assert api("post", "interactions", item, token=other).status_code == 201
    response = api("post", "interactions", [interaction(), item], token=token)
    assert response.status_code == 400 and response.json()["errors"] == {
        "1.id": ["This id is already used."]
    }
    assert Turn.objects.count() == 1 and Turn.objects.get().user == other_user


@pytest.mark.django_db
def test_get_includes_expert_reviews_once_the_item_is_decided(api, token, expert):
    from annotations import services as review_services
    from tests.factories import GOOD, make_rubric

    make_rubric()
    turn_id = api("post", "interactions", interaction(), token=token).json()["id"]
    item = review_services.queue_claim_next(expert=expert)  # queued by the ingestion itself
    assert str(item.turn_id) == turn_id
    review_services.review_submit(
        item_id=item.pk,
        reviewer=expert,
        scores=GOOD,
        tags=[],
        verdict="approve",
        notes="fine",
        corrected_answer="Open it and choose Restore.",
    )
    reviews = api("get", f"interactions/{turn_id}", token=token).json()["reviews"]
    assert reviews == [
        {
            **reviews[0],
            "reviewer": "erin",
            "verdict": "approve",
            "scores": GOOD,
            "notes": "fine",
            "corrected_answer": "Open it and choose Restore.",
        }
    ]


@pytest.mark.django_db
def test_an_app_logs_the_model_parameters_and_failed_calls(api, token):
    params = {"temperature": 0.2, "max_tokens": 512, "stop": ["\n\n"]}
    ok, failed, implied = (
        interaction(params=params),
        interaction(answer="", status="error", error="Rate limited (429)"),
        interaction(answer="", error="Timed out after 30 s"),
    )
    response = api("post", "interactions", [ok, failed, implied], token=token)
    assert response.status_code == 201, response.content
    ids = response.json()["ids"]
    turns = Turn.objects.in_bulk(ids)
    first, second, third = (turns[uuid.UUID(i)] for i in ids)
    assert first.params == params and first.status == "ok" and first.error == ""
    assert (second.status, second.error) == ("error", "Rate limited (429)")
    assert (third.status, third.error) == ("error", "Timed out after 30 s")  # error implies it
    record = api("get", f"interactions/{ids[0]}", token=token).json()
    assert record["params"] == params
    # a failed call is logged, but not put in front of reviewers as an answer to judge
    from annotations.models import QueueItem

    assert set(QueueItem.objects.values_list("turn_id", flat=True)) == {first.id}


@pytest.mark.django_db
def test_an_error_with_status_ok_or_bad_params_is_refused_and_nothing_is_stored(api, token):
    contradicting = interaction(status="ok", error="It failed")
    response = api("post", "interactions", [interaction(), contradicting], token=token)
    assert response.status_code == 400
    assert response.json()["errors"] == {"1": ["An error goes with status 'error', not 'ok'."]}
    for bad, field in (
        (interaction(params=["temperature", 0.2]), "0.params"),
        (interaction(status="failed"), "0.status"),
        (interaction(status="error", error="x" * 2001), "0.error"),
    ):
        response = api("post", "interactions", [bad], token=token)
        assert response.status_code == 400 and field in response.json()["errors"], bad
    assert not Turn.objects.exists()
