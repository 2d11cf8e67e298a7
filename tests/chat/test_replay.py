import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from chat import services
from chat.models import Turn
from experiments import selectors
from experiments import services as experiment_services
from experiments.models import Experiment
from outbox.models import OutboxEntry
from tests.conftest import wait_until


@pytest.mark.django_db
def test_end_users_cannot_replay(client_for, end_user):
    assert client_for(end_user).get(reverse("chat:replays")).status_code == 403
    assert client_for(end_user).get(reverse("experiments:replay_new")).status_code == 403


@pytest.mark.django_db
def test_replay_page_previews_questions_matching_the_filters(client_for, expert, end_user, ask, kb):
    down = ask("How do I restore a snapshot?", grounded=False)
    services.feedback_set(turn=down, user=end_user, rating="down", comment="no answer")
    ask("What port does Bolt use?", grounded=True)
    page = (
        client_for(expert)
        .get(
            reverse("chat:replays"),  # the old address, its filters carried over
            {
                "rating": "down",
                "was_grounded": "no",
                "model": "offline:offline-extractive",
                "grounded": "on",
                "limit": "50",
            },
            follow=True,
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
        .get(
            reverse("experiments:replay_new"),
            {"model": "offline:offline-extractive", "limit": "2"},
        )
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
        reverse("chat:replays"),  # the old form's address: a 307 keeps the POST a POST
        {
            "rating": "",
            "was_grounded": "no",
            "original_model": "",
            "grounded": "on",
            "model": "offline:offline-extractive",
            "prompt_template": "",
            "limit": "10",
        },
        follow=True,
    )
    experiment = Experiment.objects.get()
    assert response.redirect_chain[-1][0] == reverse("experiments:compare", args=[experiment.pk])
    assert [a.kind for a in experiment.arms.all()] == ["logged", "model"]
    assert experiment.total == 3
    wait_until(
        lambda: Experiment.objects.get(pk=experiment.pk).status == "done",
        timeout=60,
        message="the worker did not finish the replay",
    )
    experiment.refresh_from_db()
    assert experiment.done == experiment.total == 3 and experiment.percent == 100
    assert experiment.failed == 0
    arm = experiment.arms.get(position=1)
    replays = Turn.objects.filter(conversation=arm.conversation)
    assert {t.replay_of_id for t in replays} == {t.id for t in originals}
    for replay in replays:
        assert replay.source == "replay" and replay.grounded and replay.user == expert
        assert replay.contexts.exists() and len(replay.prompt_messages) == 2
    url = reverse("experiments:compare", args=[experiment.pk])
    progress = client.get(url + "?progress=1", HTTP_HX_REQUEST="true")
    assert "3 of 3 replayed" in progress.content.decode() and progress["HX-Refresh"] == "true"
    page = client.get(url).content.decode()
    assert page.count('class="compare"') == 3
    assert "useless" in page and "Sources (" in page and "grounding is off" in page
    # a replay is an experiment: scored, with a results page
    results = client.get(reverse("experiments:detail", args=[experiment.pk])).content.decode()
    assert "groundedness" in results and "logged answers" in results
    # running it again (a redelivered task) replays nothing twice
    experiment_services.experiment_run(experiment_id=experiment.pk)
    assert Turn.objects.filter(conversation=arm.conversation).count() == 3


@pytest.mark.django_db
def test_replay_progress_partial_polls_until_done(client_for, expert, ask):
    turn = ask("What port does Bolt use?")
    experiment = experiment_services.replay_create(
        user=expert,
        question_ids=[str(turn.id)],
        model_key="offline:offline-extractive",
        grounded=True,
    )
    response = client_for(expert).get(
        reverse("experiments:compare", args=[experiment.pk]) + "?progress=1",
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html and "0 of 1 replayed" in html
    assert "HX-Refresh" not in response


OLD_REPLAYS = [("experiments", "0001_initial"), ("chat", "0010_question_uid_not_unique")]


@pytest.mark.django_db(transaction=True)
def test_an_old_replay_becomes_an_experiment_and_its_address_still_leads_to_it(
    role_groups_restored, client_for, expert, end_user
):
    executor = MigrationExecutor(connection)
    executor.migrate(OLD_REPLAYS)  # a database from before replays were experiments
    old = executor.loader.project_state(OLD_REPLAYS).apps
    Conversation, Turn_, ReplayJob = (
        old.get_model("chat", name) for name in ("Conversation", "Turn", "ReplayJob")
    )
    now = timezone.now()
    asked = Conversation.objects.create(user_id=end_user.id, title="Ports")
    original = Turn_.objects.create(
        conversation=asked,
        user_id=end_user.id,
        question="What port does Bolt use?",
        answer="7687",
        created_at=now,
    )
    replays = Conversation.objects.create(user_id=expert.id, source="replay", title="Replay")
    job = ReplayJob.objects.create(
        created_by_id=expert.id,
        conversation=replays,
        filters={"rating": "down"},
        grounded=True,
        model_key="offline:offline-extractive",
        turn_ids=[str(original.id)],
        total=1,
        done=1,
        status="done",
    )
    replayed = Turn_.objects.create(
        conversation=replays,
        user_id=expert.id,
        question=original.question,
        answer="Bolt: 7687",
        source="replay",
        grounded=True,
        replay_of=original,
        replay_job=job,
        created_at=now,
    )
    executor = MigrationExecutor(connection)  # reload the graph of applied migrations
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert "chat_replayjob" not in connection.introspection.table_names()
    assert OutboxEntry.objects.filter(entity="experiment", entity_id=str(job.id)).exists()
    experiment = Experiment.objects.get(pk=job.id)  # the same id
    assert experiment.status == "done" and experiment.question_ids == [str(original.id)]
    assert experiment.filters == {"rating": "down"} and experiment.source == "filter"
    logged, new = experiment.arms.order_by("position")
    assert logged.kind == "logged" and new.model_key == "offline:offline-extractive"
    assert new.conversation_id == replayed.conversation_id and new.grounded
    assert Turn.objects.get(pk=replayed.pk).replay_of_id == original.id  # nothing copied
    client = client_for(expert)
    response = client.get(reverse("chat:replay", args=[job.id]))
    assert response.status_code == 301
    assert response["Location"] == reverse("experiments:compare", args=[job.id])
    page = client.get(response["Location"]).content.decode()
    assert page.count('class="compare"') == 1 and "What port does Bolt use?" in page
    assert selectors.results(experiment)["summary"][1]["n"] == 1


@pytest.mark.django_db
def test_a_replay_run_again_answers_nothing_twice_and_skips_deleted_questions(expert, ask, kb):
    kept = ask("What port does Bolt use?", grounded=False)
    gone = ask("How do I restore a snapshot?", grounded=False)
    experiment = experiment_services.replay_create(
        user=expert,
        question_ids=[str(kept.id), str(gone.id)],
        model_key="offline:offline-extractive",
        grounded=True,
    )
    gone.delete()
    arm = experiment.arms.get(position=1)
    for _ in range(2):  # a redelivered task must not answer anything twice
        experiment_services.experiment_run(experiment_id=experiment.pk)
        experiment.refresh_from_db()
        assert experiment.status == "done"
        assert list(
            Turn.objects.filter(conversation=arm.conversation).values_list("replay_of", flat=True)
        ) == [kept.id]
