"""Experiments end to end: two models against the local OpenAI-compatible server, scored by
the offline evaluators, compared on the results page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Turn
from experiments import selectors, services
from experiments.models import Arm, Experiment
from experiments.services import ArmSpec
from reviewhub import jobs
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ONE_HOUR = timedelta(hours=1)


def _arms(first="endpoint:good-model", second="endpoint:bad-model"):
    return [ArmSpec(label="good", model_key=first), ArmSpec(label="bad", model_key=second)]


def test_results_name_the_better_model_and_the_topic_that_turned_negative(
    two_models, logged, expert, client_for
):
    experiment = services.experiment_create(
        user=expert, name="good vs bad", arms=_arms(), question_ids=logged, enqueue=False
    )
    experiment = services.experiment_run(experiment_id=experiment.pk)
    assert experiment.status == Experiment.Status.DONE
    assert experiment.done == experiment.total == 2 * len(logged) and experiment.failed == 0
    result = selectors.results(experiment)
    good, bad = result["summary"]
    assert good["cells"]["groundedness"]["mean"] > bad["cells"]["groundedness"]["mean"]
    pair = result["pairwise"][0]
    assert pair["losses"] >= 3 and pair["wins"] == 0  # bad is worse on pricing, never better
    assert result["topics"][0]["topic"] == "Pricing"  # worst change first
    assert result["topics"][0]["cells"][1]["change"] < -0.2
    backups = next(t for t in result["topics"] if t["topic"] == "Backups")
    assert abs(backups["cells"][1]["change"]) < 0.05
    negative = {w["topic"] for w in result["turned_negative"]}
    assert negative == {"Pricing"}
    page = client_for(expert).get(reverse("experiments:detail", args=[experiment.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "Pricing" in html
    assert "worse" in html  # the verdict on the pairwise comparison
    answers = client_for(expert).get(
        reverse("experiments:answers", args=[experiment.pk]), {"topic": "Pricing", "arm": "1"}
    )
    assert "$9 per month" not in answers.content.decode()  # answers listed, not their text
    assert answers.context["total"] == len([q for q in logged]) // 2


def test_a_rerun_answers_nothing_twice(two_models, logged, expert):
    experiment = services.experiment_create(
        user=expert, name="twice", arms=_arms(), question_ids=logged[:3], enqueue=False
    )
    services.experiment_run(experiment_id=experiment.pk)
    Experiment.objects.filter(pk=experiment.pk).update(status=Experiment.Status.RUNNING)
    services.experiment_run(experiment_id=experiment.pk)
    for arm in experiment.arms.all():
        replays = Turn.objects.filter(conversation=arm.conversation)
        assert replays.count() == 3
        assert replays.values("replay_of").distinct().count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_killed_run_resumes_without_duplicate_answers(
    seeded_db, two_models, logged, expert, settings
):
    two_models.delay = 0.2  # each answer takes a while, so the kill lands mid-run
    two_models.mode = "slow"
    experiment = services.experiment_create(
        user=expert, name="killed", arms=_arms(), question_ids=logged, enqueue=False
    )
    settings_env = _child_env(settings, two_models)
    code = (
        "import django; django.setup();"
        "from experiments.services import experiment_run;"
        f"experiment_run(experiment_id='{experiment.pk}')"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=settings_env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Turn.objects.filter(replay_of__isnull=False).count() >= 2:
                break
            time.sleep(0.1)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    before = Turn.objects.filter(replay_of__isnull=False).count()
    assert 2 <= before < 2 * len(logged), "the kill landed mid-run"
    two_models.mode = "ok"
    # the dead run still holds the lease: a new message does nothing until the sweeper
    # sees its heartbeat is older than the lease (the lease's length passing is simulated)
    assert services.experiment_run(experiment_id=experiment.pk).status == "running"
    Experiment.objects.filter(pk=experiment.pk).update(heartbeat_at=timezone.now() - ONE_HOUR)
    assert jobs.job_sweep()["requeued"] == 1
    experiment.refresh_from_db()
    assert "re-queued" in experiment.job_note
    # resumed here, or by a worker of the test session that the sweeper's message reached
    services.experiment_run(experiment_id=experiment.pk)
    wait_until(lambda: Experiment.objects.get(pk=experiment.pk).finished, timeout=120)
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.DONE and experiment.done == 2 * len(logged)
    for arm in experiment.arms.all():
        answered = Turn.objects.filter(conversation=arm.conversation)
        assert answered.count() == len(logged)
        assert answered.values("replay_of").distinct().count() == len(logged)


def _child_env(settings, server) -> dict:
    from django.db import connection

    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reviewhub.settings", "EXP_TEST_KEY": "x"}
    from tests.chat.llm_server import API_KEY

    env["EXP_TEST_KEY"] = API_KEY
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/"
            f"{db['NAME']}"
        )
    env.pop("REDIS_URL", None)
    env["REVIEWHUB_BROKER_DIR"] = str(settings.BROKER_DIR)
    return env


def test_a_model_that_is_down_fails_each_question_clearly_and_the_run_finishes(
    llm_server, logged, expert
):
    from chat.models import ModelEndpoint
    from tests.conftest import free_port

    ModelEndpoint.objects.create(
        name="down-model", base_url=f"http://127.0.0.1:{free_port()}/v1", model="x"
    )
    experiment = services.experiment_create(
        user=expert,
        name="down",
        arms=[
            ArmSpec(label="logged", kind=Arm.Kind.LOGGED),
            ArmSpec(label="down", model_key="endpoint:down-model"),
        ],
        question_ids=logged[:3],
        enqueue=False,
    )
    experiment = services.experiment_run(experiment_id=experiment.pk)
    assert experiment.status == Experiment.Status.DONE
    assert experiment.failed == 3 and experiment.done == 3
    errors = Turn.objects.filter(conversation=experiment.arms.get(position=1).conversation)
    assert all("Connection" in t.error or "connect" in t.error.lower() for t in errors)


def test_a_release_split_question_set_is_exactly_the_manifest_ids(lead, lead2):
    from tests.datasets.test_build import built_release
    from tests.factories import make_examples

    make_examples(lead, 30)
    release = built_release(lead, fraction=0.3)
    recorded = release.manifest["split_ids"]["validation"]
    assert recorded["count"] == release.items.filter(split="validation").count() > 0
    ids = services.questions_from_release(release)
    from annotations.models import Example

    expected = [str(Example.objects.get(pk=e).turn_id) for e in recorded["example_ids"]]
    assert ids == expected
    release.manifest["split_ids"]["validation"]["sha256"] = "0" * 64
    with pytest.raises(services.ExperimentError, match="hash"):
        services.questions_from_release(release)


def test_the_page_and_exports_show_every_arm(two_models, logged, expert, client_for):
    experiment = services.experiment_create(
        user=expert,
        name="export",
        arms=[ArmSpec(label="logged", kind=Arm.Kind.LOGGED), *_arms()[:1]],
        question_ids=logged[:2],
        enqueue=False,
    )
    services.experiment_run(experiment_id=experiment.pk)
    client = client_for(expert)
    url = reverse("experiments:export", args=[experiment.pk])
    csv_lines = client.get(url, {"format": "csv"}).content.decode().strip().splitlines()
    assert csv_lines[0].startswith("question_id,question,topic,arm,answer_id,status,quality")
    assert len(csv_lines) == 1 + 2 * 2
    body = json.loads(client.get(url, {"format": "json"}).content)
    assert [s["arm"] for s in body["summary"]] == ["logged", "good"]
    assert len(body["answers"]) == 4


def test_experts_create_through_the_form_end_users_cannot(
    two_models, logged, expert, end_user, client_for
):
    assert client_for(end_user).get(reverse("experiments:list")).status_code == 403
    assert client_for(end_user).post(reverse("experiments:new"), {}).status_code == 403
    client = client_for(expert)
    assert "No experiments yet" in client.get(reverse("experiments:list")).content.decode()
    bad = client.post(
        reverse("experiments:new"),
        {"name": "x", "source": "filter", "limit": "5", "arm0_kind": "logged"},
    )
    assert bad.status_code == 400 and "at least two arms" in bad.content.decode()
    form = {
        "name": "grounding?",
        "source": "list",
        "question_ids": "\n".join(logged[:2]),
        "limit": "10",
        "arm0_kind": "logged",
        "arm1_kind": "model",
        "arm1_model": "endpoint:good-model",
        "arm1_grounded": "on",
        "arm1_k": "4",
    }
    response = client.post(reverse("experiments:new"), form)
    experiment = Experiment.objects.get(name="grounding?")
    assert response["Location"] == reverse("experiments:detail", args=[experiment.pk])
    assert experiment.question_ids == logged[:2]
    assert [a.kind for a in experiment.arms.all()] == ["logged", "model"]


def _discovered(name: str, turn_ids: list[str]):
    """A topic found by discovery, its members recorded as discovery would record them."""
    from chat.models import Topic, TopicMembership
    from chat.services import turn_topics_refresh

    topic = Topic.objects.create(name=name, method=Topic.Method.DISCOVERED)
    TopicMembership.objects.bulk_create(
        TopicMembership(turn_id=t, topic=topic, method=TopicMembership.Method.DISCOVERED, score=0.8)
        for t in turn_ids
    )
    turn_topics_refresh(turn_ids=turn_ids)
    return topic


def test_a_topic_filter_takes_the_members_of_any_method_and_results_are_per_topic(
    two_models, logged, expert, client_for
):
    from chat.models import Topic

    # discovery grouped two pricing questions and one backup question together
    plans = _discovered("plans and restores", [logged[0], logged[1], logged[4]])
    backups = Topic.objects.get(name="Backups")
    form = {
        "name": "by topic",
        "source": "filter",
        "topics": [str(plans.pk), str(backups.pk)],
        "limit": "50",
        "arm0_kind": "model",
        "arm0_model": "endpoint:good-model",
        "arm0_grounded": "on",
        "arm1_kind": "model",
        "arm1_model": "endpoint:bad-model",
        "arm1_grounded": "on",
    }
    response = client_for(expert).post(reverse("experiments:new"), form)
    assert response.status_code == 302
    experiment = Experiment.objects.get(name="by topic")
    # the discovered topic's members and the backup questions; not the other pricing ones
    assert set(experiment.question_ids) == {logged[0], logged[1], *logged[4:8]}
    services.experiment_run(experiment_id=experiment.pk)
    result = selectors.results(experiment)
    by_name = {t["topic"]: t for t in result["topics"]}
    # per topic: only the topics asked about; a question in both counts in both
    assert set(by_name) == {"plans and restores", "Backups"}
    assert by_name["plans and restores"]["n"] == 3 and by_name["Backups"]["n"] == 4
    assert result["topics"][0]["topic"] == "plans and restores"  # the pricing errors
    assert by_name["plans and restores"]["cells"][1]["change"] < -0.1
    answers = client_for(expert).get(
        reverse("experiments:answers", args=[experiment.pk]), {"topic": "plans and restores"}
    )
    assert answers.context["total"] == 3 * 2


def test_an_unknown_topic_in_the_filter_is_a_form_error(logged, expert, client_for):
    response = client_for(expert).post(
        reverse("experiments:new"),
        {
            "name": "x",
            "source": "filter",
            "topics": ["00000000-0000-0000-0000-000000000000"],
            "limit": "5",
            "arm0_kind": "logged",
            "arm1_kind": "logged",
        },
    )
    assert response.status_code == 400 and "topics" in response.context["form"].errors
    assert not Experiment.objects.exists()


def test_experts_blind_preferences_show_beside_the_judges(
    two_models, logged, expert, expert2, lead, client_for
):
    from annotations import pairwise
    from annotations.models import PairwiseItem

    experiment = services.experiment_create(
        user=expert, name="judged", arms=_arms(), question_ids=logged, enqueue=False
    )
    services.experiment_run(experiment_id=experiment.pk)
    client = client_for(expert)
    url = reverse("experiments:send_pairs", args=[experiment.pk])
    assert client.post(url, {"arm": "0"}).status_code == 302  # the baseline: refused
    assert not PairwiseItem.objects.exists()
    client.post(url, {"arm": "1"})
    assert PairwiseItem.objects.filter(batch=experiment.pk).count() == len(logged)
    client.post(url, {"arm": "1"})  # sent once only
    assert PairwiseItem.objects.count() == len(logged)
    # an expert prefers whichever side holds the good model's answer, as shown to them
    good = {
        str(t)
        for t in Turn.objects.filter(
            conversation=experiment.arms.get(position=0).conversation
        ).values_list("pk", flat=True)
    }
    while (item := pairwise.pairwise_claim_next(expert=expert2)) is not None:
        a, b = item.shown
        if a.answer == b.answer:
            verdict = "tie"
        else:
            verdict = "a" if str(a.pk) in good else "b"
        pairwise.pairwise_judge(item_id=item.pk, expert=expert2, verdict=verdict)
    experts = selectors.results_for_page(experiment)["pairwise"][0]["experts"]
    # three pricing questions (price, cost, plan) got the invented price; the rest agree
    assert experts["losses"] == 3 and experts["wins"] == 0 and experts["ties"] == 5
    assert experts["p"] == pytest.approx(0.25)  # 3 of 3 one way: 2 × 1/8
    html = client_for(lead).get(reverse("experiments:detail", args=[experiment.pk])).content
    assert b"experts" in html and b"0.2500" in html
