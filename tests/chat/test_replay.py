import pytest
from django.urls import reverse

from chat import services
from chat.models import ReplayJob, Turn
from tests.conftest import wait_until


@pytest.mark.django_db
def test_end_users_cannot_replay(client_for, end_user):
    assert client_for(end_user).get(reverse("chat:replays")).status_code == 403


@pytest.mark.django_db
def test_replay_page_previews_questions_matching_the_filters(client_for, expert, end_user, ask, kb):
    down = ask("How do I restore a snapshot?", grounded=False)
    services.feedback_set(turn=down, user=end_user, rating="down", comment="no answer")
    ask("What port does Bolt use?", grounded=True)
    page = (
        client_for(expert)
        .get(
            reverse("chat:replays"),
            {
                "rating": "down",
                "was_grounded": "no",
                "model": "offline:offline-extractive",
                "grounded": "on",
                "limit": "50",
            },
        )
        .content.decode()
    )
    assert "1 matching question" in page and "How do I restore a snapshot?" in page
    assert "What port does Bolt use?" not in page.split("matching question")[1]


def test_replay_button_counts_what_the_limit_lets_through(client_for, expert, ask, kb):
    for i in range(3):
        ask(f"Question {i} about snapshots?", grounded=False)
    page = (
        client_for(expert)
        .get(reverse("chat:replays"), {"model": "offline:offline-extractive", "limit": "2"})
        .content.decode()
    )
    assert "3 matching questions" in page
    assert "Replay 2 questions (the limit) of 3" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_replay_job_runs_on_the_worker_and_compares_side_by_side(
    seeded_db, client_for, expert, end_user, celery_worker
):
    from knowledge.demo import seed

    seed(type("Quiet", (), {"write": lambda *a: None})())
    conversation = services.conversation_create(user=end_user)
    originals = [
        services.chat_ask(conversation=conversation, user=end_user, question=q, grounded=False)
        for q in (
            "How do I restore a snapshot?",
            "What port does Bolt use?",
            "How much is the Professional plan?",
        )
    ]
    services.feedback_set(turn=originals[0], user=end_user, rating="down", comment="useless")
    client = client_for(expert)
    response = client.post(
        reverse("chat:replays"),
        {
            "rating": "",
            "was_grounded": "no",
            "original_model": "",
            "grounded": "on",
            "model": "offline:offline-extractive",
            "prompt_template": "",
            "limit": "10",
        },
    )
    job = ReplayJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "chat:replay", args=[job.id]
    )
    assert job.total == 3
    wait_until(
        lambda: ReplayJob.objects.get(pk=job.pk).status == "done",
        timeout=60,
        message="the worker did not finish the replay",
    )
    job.refresh_from_db()
    assert job.done == job.total == 3 and job.percent == 100 and job.failed == 0
    replays = Turn.objects.filter(replay_job=job)
    assert {t.replay_of_id for t in replays} == {t.id for t in originals}
    for replay in replays:
        assert replay.source == "replay" and replay.grounded and replay.user == expert
        assert replay.contexts.exists() and len(replay.prompt_messages) == 2
    progress = client.get(
        reverse("chat:replay", args=[job.id]) + "?progress=1", HTTP_HX_REQUEST="true"
    )
    assert "3 of 3 replayed" in progress.content.decode() and progress["HX-Refresh"] == "true"
    page = client.get(reverse("chat:replay", args=[job.id])).content.decode()
    assert page.count('class="compare"') == 3
    assert "useless" in page and "Sources (" in page and "grounding is off" in page
    # running the job again (a redelivered task) replays nothing twice
    services.replay_job_run(job_id=job.id)
    assert Turn.objects.filter(replay_job=job).count() == 3


@pytest.mark.django_db
def test_replay_progress_partial_polls_until_done(client_for, expert, ask):
    turn = ask("What port does Bolt use?")
    job = ReplayJob.objects.create(
        created_by=expert, model_key="offline:offline-extractive", turn_ids=[str(turn.id)], total=1
    )
    response = client_for(expert).get(
        reverse("chat:replay", args=[job.id]) + "?progress=1", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html and "0 of 1 replayed" in html
    assert "HX-Refresh" not in response


@pytest.mark.django_db
def test_replay_run_is_idempotent_and_counts_deleted_originals_as_done(expert, ask, kb):
    kept = ask("What port does Bolt use?", grounded=False)
    gone = ask("How do I restore a snapshot?", grounded=False)
    job = services.replay_job_create(
        user=expert,
        turn_ids=[kept.id, gone.id],
        grounded=True,
        model_key="offline:offline-extractive",
        template=None,
        filters={},
    )
    gone.delete()
    for _ in range(2):  # a redelivered task must not replay or count anything twice
        job = services.replay_job_run(job_id=job.id)
        assert (job.done, job.total, job.failed, job.status) == (2, 2, 0, "done")
    assert Turn.objects.filter(replay_job=job).count() == 1
