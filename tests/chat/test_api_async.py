"""Batches sent with `Prefer: respond-async`: validated and saved at once (202), stored by a
worker later, exactly as the synchronous path stores them."""

import json
import uuid
import zlib

import pytest

from chat import services
from chat.models import IngestBatch, Turn, TurnContext
from outbox.models import OutboxEntry
from tests.chat.test_api import interaction
from tests.conftest import wait_until

ASYNC = {"HTTP_PREFER": "respond-async"}


@pytest.fixture
def token(end_user):
    return services.api_token_create(user=end_user, name="app")[1]


@pytest.fixture
def post(client):
    def call(body, token, **headers):
        return client.post(
            "/api/v1/interactions",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            **headers,
        )

    return call


def batch_status(client, token, location):
    return client.get(location, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
def test_an_async_batch_is_accepted_with_every_id_then_stored_as_the_sync_path_stores_it(
    post, client, token, end_user
):
    own_id = str(uuid.uuid4())
    items = [
        interaction(id=own_id, conversation_id="c-1"),
        interaction(question="And then?", conversation_id="c-1", metadata={"app": "x"}),
        interaction(question="Unrelated?", context=[]),
    ]
    response = post(items, token, **ASYNC)
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Preference-Applied"] == "respond-async"
    assert response["Location"] == body["status"] == f"/api/v1/ingest-batches/{body['batch']}"
    assert body["ids"][0] == own_id and len(set(body["ids"])) == 3
    assert (body["accepted"], body["existing"]) == (3, 0)
    assert Turn.objects.count() == 0  # accepted, not stored yet
    pending = batch_status(client, token, body["status"]).json()
    assert (pending["status"], pending["items"], pending["stored"]) == ("queued", 3, 0)

    batch = services.ingest_batch_store(batch_id=body["batch"])  # what the worker runs

    assert (batch.status, batch.stored, batch.existing, batch.errors) == ("stored", 3, 0, {})
    assert bytes(batch.payload) == b""  # the payload goes once stored
    turns = {str(t.id): t for t in Turn.objects.select_related("conversation")}
    assert list(turns) and set(turns) == set(body["ids"])
    first, second, third = (turns[i] for i in body["ids"])
    assert first.conversation == second.conversation and first.conversation.external_id == "c-1"
    assert (first.position, second.position) == (0, 1)
    assert second.metadata == {"app": "x"} and first.user == end_user and first.source == "api"
    assert not third.grounded and TurnContext.objects.count() == 4
    assert OutboxEntry.objects.filter(entity="turn").count() == 3
    record = client.get(
        f"/api/v1/interactions/{own_id}", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert record["question"] == items[0]["question"]
    assert [c["text"] for c in record["context"]] == [c["text"] for c in items[0]["context"]]
    done = batch_status(client, token, body["status"]).json()
    assert (done["status"], done["stored"], done["existing"]) == ("stored", 3, 0)
    assert done["finished_at"] is not None


@pytest.mark.django_db
def test_an_invalid_async_batch_is_refused_at_once_and_saves_nothing(post, token):
    response = post([interaction(), interaction(question="  ")], token, **ASYNC)
    assert response.status_code == 400
    assert "1.question" in response.json()["errors"]
    assert IngestBatch.objects.count() == 0 and Turn.objects.count() == 0


@pytest.mark.django_db
def test_an_id_of_another_accounts_interaction_is_refused_at_once(post, token, expert):
    other = services.api_token_create(user=expert, name="theirs")[1]
    theirs = str(uuid.uuid4())
    assert post([interaction(id=theirs)], other).status_code == 201
    response = post([interaction(), interaction(id=theirs)], token, **ASYNC)
    assert response.status_code == 400
    assert response.json()["errors"] == {"1.id": ["This id is already used."]}
    assert IngestBatch.objects.count() == 0 and Turn.objects.count() == 1


@pytest.mark.django_db
def test_a_retried_async_batch_stores_each_interaction_once(post, token):
    items = [interaction(id=str(uuid.uuid4())), interaction(id=str(uuid.uuid4()))]
    first = post(items, token, **ASYNC).json()
    again = post(items, token, **ASYNC).json()  # the client timed out and sent it again
    assert again["ids"] == first["ids"] and again["batch"] != first["batch"]
    services.ingest_batch_store(batch_id=first["batch"])
    services.ingest_batch_store(batch_id=again["batch"])
    assert Turn.objects.count() == 2 and TurnContext.objects.count() == 4
    assert IngestBatch.objects.get(pk=again["batch"]).existing == 2
    # once stored, a third send is answered at once: nothing to store
    third = post(items, token, **ASYNC)
    assert third.status_code == 200 and third.json()["existing"] == 2
    assert IngestBatch.objects.count() == 2


@pytest.mark.django_db
def test_an_id_taken_between_acceptance_and_storage_is_named_and_the_rest_stored(
    post, client, token, expert
):
    contested = str(uuid.uuid4())
    body = post([interaction(), interaction(id=contested), interaction()], token, **ASYNC).json()
    other = services.api_token_create(user=expert, name="theirs")[1]
    assert post([interaction(id=contested, answer="theirs")], other).status_code == 201

    batch = services.ingest_batch_store(batch_id=body["batch"])

    assert batch.status == "stored" and batch.errors == {"1.id": ["This id is already used."]}
    assert batch.stored == 2 and batch.existing == 0
    assert Turn.objects.get(pk=contested).answer == "theirs"
    assert Turn.objects.filter(pk__in=[body["ids"][0], body["ids"][2]]).count() == 2
    shown = batch_status(client, token, body["status"]).json()
    assert shown["errors"] == {"1.id": ["This id is already used."]}


@pytest.mark.django_db
def test_a_batch_is_only_visible_to_its_owner(post, client, token, expert):
    body = post([interaction()], token, **ASYNC).json()
    other = services.api_token_create(user=expert, name="theirs")[1]
    assert batch_status(client, other, body["status"]).status_code == 404
    assert batch_status(client, token, f"/api/v1/ingest-batches/{uuid.uuid4()}").status_code == 404
    assert client.get(body["status"]).status_code == 401


@pytest.mark.django_db
def test_a_failed_store_keeps_the_batch_and_hands_it_back_for_another_try(post, token):
    body = post([interaction(), interaction()], token, **ASYNC).json()
    batch = IngestBatch.objects.get(pk=body["batch"])
    kept = bytes(batch.payload)
    IngestBatch.objects.filter(pk=batch.pk).update(payload=zlib.compress(b"[{"))  # unreadable

    with pytest.raises(Exception):  # noqa: B017 (whatever decoding raises)
        services.ingest_batch_store(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == "running" and batch.lease_owner == "" and batch.queued_at is None
    assert "Will try again" in batch.job_note and Turn.objects.count() == 0
    IngestBatch.objects.filter(pk=batch.pk).update(payload=kept)  # e.g. a fixed deploy
    assert services.ingest_batch_store(batch_id=batch.pk).status == "stored"
    assert Turn.objects.count() == 2


@pytest.mark.django_db
def test_a_store_that_keeps_failing_fails_with_its_reason_and_keeps_the_payload(post, token):
    body = post([interaction()], token, **ASYNC).json()
    IngestBatch.objects.filter(pk=body["batch"]).update(
        payload=zlib.compress(b"not json"), attempts=services.INGEST_JOB.max_attempts - 1
    )
    with pytest.raises(Exception):  # noqa: B017
        services.ingest_batch_store(batch_id=body["batch"])
    batch = IngestBatch.objects.get(pk=body["batch"])
    assert batch.status == "failed" and "ValidationError" in batch.error
    assert zlib.decompress(bytes(batch.payload)) == b"not json"


@pytest.mark.django_db
def test_finished_batches_are_pruned_after_their_keep_but_never_one_with_work_left(
    post, client, token
):
    from datetime import timedelta

    from django.utils import timezone

    from chat.tasks import prune_ingest_batches

    def accepted():
        return post([interaction()], token, **ASYNC).json()

    week_old, fresh, month_old_failure, week_old_failure, queued = (accepted() for _ in range(5))
    for body in (week_old, fresh):
        services.ingest_batch_store(batch_id=body["batch"])
    now = timezone.now()
    IngestBatch.objects.filter(pk=week_old["batch"]).update(
        finished_at=now - timedelta(days=7, minutes=1)
    )
    IngestBatch.objects.filter(pk=month_old_failure["batch"]).update(
        status="failed", finished_at=now - timedelta(days=30, minutes=1)
    )
    IngestBatch.objects.filter(pk=week_old_failure["batch"]).update(
        status="failed", finished_at=now - timedelta(days=8)
    )
    IngestBatch.objects.filter(pk=queued["batch"]).update(created_at=now - timedelta(days=90))

    assert prune_ingest_batches.apply().get() == 2  # what beat runs daily
    assert batch_status(client, token, week_old["status"]).status_code == 404
    assert batch_status(client, token, month_old_failure["status"]).status_code == 404
    for body in (fresh, week_old_failure, queued):
        assert batch_status(client, token, body["status"]).status_code == 200
    assert Turn.objects.count() == 2  # the stored turns stay: only the status records go


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_worker_stores_an_accepted_batch(
    role_groups_restored, post, client, token, celery_worker
):
    items = [interaction(question=f"Question {i}?") for i in range(25)]
    body = post(items, token, **ASYNC).json()
    wait_until(
        lambda: batch_status(client, token, body["status"]).json()["status"] == "stored",
        timeout=60,
        message="the worker did not store the batch",
    )
    assert sorted(str(pk) for pk in Turn.objects.values_list("id", flat=True)) == sorted(
        body["ids"]
    )


@pytest.mark.django_db
def test_the_admin_lists_batches_with_a_failed_ones_reason_and_cannot_change_them(
    post, client, token
):
    from django.contrib.auth.models import User

    body = post([interaction()], token, **ASYNC).json()
    IngestBatch.objects.filter(pk=body["batch"]).update(
        status="failed", error="OperationalError: <database is locked>"
    )
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    listing = client.get("/admin/chat/ingestbatch/?status__exact=failed").content.decode()
    assert body["batch"] in listing
    page = client.get(f"/admin/chat/ingestbatch/{body['batch']}/change/").content.decode()
    assert "OperationalError: &lt;database is locked&gt;" in page  # escaped, shown
    assert 'name="status"' not in page and "payload" not in page
    assert client.get("/admin/chat/ingestbatch/add/").status_code == 403


def test_the_saved_batch_reads_back_as_exactly_the_items_that_were_validated():
    """What the worker stores is what the API validated: nulls inside metadata, offsets,
    scores left out, messages and non-ASCII text survive the saved JSON unchanged."""
    from chat.openapi import INTERACTION_LIST, service_items

    body = json.dumps(
        [
            interaction(
                id=str(uuid.uuid4()),
                metadata={"a": None, "b": [None, 1.5], "ü": {"deep": True}},
                created_at="2026-11-26T23:59:59.123456+05:30",
                messages=[{"role": "user", "content": "Wie geht's? ✓", "name": "ignored"}],
                context=[{"text": "passage", "score": None}, {"text": "другой", "title": "T"}],
                grounded=False,
            ),
            interaction(user="customer-7", conversation_id="c-9"),
        ]
    )
    validated = INTERACTION_LIST.validate_json(body)
    saved = INTERACTION_LIST.dump_json(validated, exclude_none=True)
    assert service_items(INTERACTION_LIST.validate_json(saved)) == service_items(validated)
