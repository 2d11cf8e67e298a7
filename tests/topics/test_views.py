"""The topics page: who may see and change what, and what they see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from chat.models import Feedback, Topic
from tests.conftest import wait_until
from tests.factories import log_questions
from topics import services
from topics.discovery import Params
from topics.models import DiscoveryRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def discovered(end_user):
    made = log_questions(end_user, per_topic=15)
    services.topics_discover(params=Params(seed=0, min_size=3))
    return made


def test_end_users_and_outsiders_cannot_see_topics(client_for, end_user, outsider):
    for user in (end_user, outsider):
        assert client_for(user).get(reverse("topics:list")).status_code == 403


def test_an_empty_topics_page_says_what_to_do(client_for, lead):
    page = client_for(lead).get(reverse("topics:list")).content.decode()
    assert "No topics yet" in page and "Discover topics now" in page


def test_experts_see_the_map_and_the_grounding_gaps_but_cannot_run_discovery(
    client_for, expert, end_user, discovered
):
    turn, _ = discovered[0]
    Feedback.objects.create(turn=turn, user=end_user, rating="down")
    client = client_for(expert)
    page = client.get(reverse("topics:list")).content.decode()
    assert (
        page.count("<circle") == Topic.objects.filter(memberships__isnull=False).distinct().count()
    )
    assert "hsl(0, 60%, 45%)" in page  # the topic with the thumbs down is red
    assert "Grounding gaps" in page and "Discover topics now" not in page
    assert client.post(reverse("topics:discover")).status_code == 403
    assert not DiscoveryRun.objects.exists()


def test_a_topic_page_shows_its_questions_and_passages(client_for, expert, discovered):
    turn, _ = discovered[0]
    topic = turn.topic_memberships.get(method="discovered").topic
    page = client_for(expert).get(reverse("topics:detail", args=[topic.pk])).content.decode()
    assert turn.question.split(",")[-1].strip()[:20] in page.replace("&#x27;", "'")
    assert "Documents" in page and topic.terms[0] in page


def test_an_expert_renames_pins_and_a_bad_name_is_refused(client_for, expert, discovered):
    topic = Topic.objects.filter(method="discovered").first()
    client = client_for(expert)
    client.post(reverse("topics:rename", args=[topic.pk]), {"name": "Invoices <b>"})
    client.post(reverse("topics:pin", args=[topic.pk]), {"pinned": "1"})
    topic.refresh_from_db()
    assert (topic.name, topic.named_by, topic.pinned) == ("Invoices <b>", "expert", True)
    page = client.get(reverse("topics:detail", args=[topic.pk])).content.decode()
    assert "Invoices &lt;b&gt;" in page
    client.post(reverse("topics:rename", args=[topic.pk]), {"name": ""})
    topic.refresh_from_db()
    assert topic.name == "Invoices <b>"


def test_edits_need_an_expert(client_for, end_user, discovered):
    topic = Topic.objects.filter(method="discovered").first()
    client = client_for(end_user)
    for name in ("rename", "pin", "merge", "split"):
        assert client.post(reverse(f"topics:{name}", args=[topic.pk]), {}).status_code == 403
    assert client.get(reverse("topics:detail", args=[topic.pk])).status_code == 403


def test_an_expert_merges_and_splits_from_the_page(client_for, expert, discovered):
    a, b = list(Topic.objects.filter(method="discovered")[:2])
    client = client_for(expert)
    response = client.post(reverse("topics:merge", args=[a.pk]), {"into": str(b.pk)})
    assert response["Location"] == reverse("topics:detail", args=[b.pk])
    assert not Topic.objects.filter(pk=a.pk).exists()
    moving = [str(t) for t in b.memberships.values_list("turn_id", flat=True)[:2]]
    response = client.post(
        reverse("topics:split", args=[b.pk]), {"name": "Split off", "turns": moving}
    )
    new = Topic.objects.get(name="Split off")
    assert response["Location"] == reverse("topics:detail", args=[new.pk])
    assert {str(t) for t in new.memberships.values_list("turn_id", flat=True)} == set(moving)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lead_runs_discovery_on_the_worker_with_a_progress_bar(
    seeded_db, client_for, lead, end_user, celery_worker
):
    log_questions(end_user, per_topic=15)
    client = client_for(lead)
    assert client.post(reverse("topics:discover")).status_code == 302
    run = DiscoveryRun.objects.get()
    assert run.created_by == lead
    page = client.get(reverse("topics:list")).content.decode()
    assert '<progress class="progress"' in page or "Done" in page
    wait_until(
        lambda: DiscoveryRun.objects.get().status in ("done", "failed"),
        timeout=120,
        message="discovery did not finish on the worker",
    )
    run.refresh_from_db()
    assert (run.status, run.percent, run.questions) == ("done", 100, 360), run.error
    part = client.get(reverse("topics:list") + "?part=run", HTTP_HX_REQUEST="true")
    assert "Done" in part.content.decode() and "<h1>" not in part.content.decode()
    assert Topic.objects.filter(method="discovered").count() == run.topics_found >= 18


def test_topics_show_evaluator_scores_and_what_grounding_changed(client_for, expert, lead):
    """Per topic: the mean evaluator score of its answers, and grounded minus ungrounded
    scores of the same questions re-asked with grounding switched (replays, experiments)."""
    from evaluation.services import external_score_record
    from tests import factories as f

    billing, backups = f.topic("Billing", ["invoice"]), f.topic("Backups", ["snapshot"])
    helped = f.turn(user=expert, question="Where is my invoice?", topic=billing, grounded=False)
    helped_replay = f.turn(user=expert, question=helped.question, replay_of=helped, grounded=True)
    hurt = f.turn(user=expert, question="How long is a snapshot kept?", topic=backups)
    hurt_replay = f.turn(user=expert, question=hurt.question, replay_of=hurt, grounded=False)
    unpaired = f.turn(user=expert, question="Another invoice?", topic=billing)
    for turn, value in ((helped, 0.2), (helped_replay, 0.9), (hurt, 0.3), (hurt_replay, 0.8)):
        external_score_record(turn=turn, user=lead, name="accuracy", value=value)
    external_score_record(turn=unpaired, user=lead, name="accuracy", value=0.6)

    page = client_for(expert).get(reverse("topics:list")).content.decode()
    effects = [cell.split("</td>")[0] for cell in page.split('data-testid="grounding-effect">')[1:]]
    by_topic = dict(zip(["Billing", "Backups"], effects, strict=False))
    assert "+0.70" in by_topic["Billing"] and "1 pair" in by_topic["Billing"]
    assert "-0.50" in by_topic["Backups"] and "badge bad" in by_topic["Backups"]
    assert "0.40 <span" in page  # Billing's mean score: (0.2 + 0.6) / 2 over its members
    assert 'id="grounding-effect-help"' not in page  # effects shown: nothing to explain

    detail = client_for(expert).get(reverse("topics:detail", args=[backups.pk])).content.decode()
    assert "accuracy" in detail and "better with grounding 0, worse 1" in detail
    untouched = f.topic("Pricing", ["price"])
    detail = client_for(expert).get(reverse("topics:detail", args=[untouched.pk])).content.decode()
    assert "No evaluator has scored these answers yet" in detail
    assert "its effect is unknown here" in detail


def test_a_circle_names_its_topic_only_as_far_as_the_name_fits():
    from topics.charts import CHAR_W, topic_map

    rows = [
        {"id": 1, "name": "Vector search", "volume": 100, "up_ratio": 0.5},
        {"id": 2, "name": "Importing data from CSV", "volume": 30, "up_ratio": 1.0},
        {"id": 3, "name": "Monitoring", "volume": 2, "up_ratio": None},
    ]
    circles = {c["id"]: c for c in topic_map(rows)["circles"]}
    assert circles[1]["label"] == "Vector search"  # the largest circle: room for it all
    cut = circles[2]["label"]
    assert cut.endswith("…") and "Importing data from CSV".startswith(cut[:-1])
    assert len(cut) * CHAR_W <= 2 * circles[2]["r"] - 8  # the cut name fits across
    assert circles[3]["label"] == ""  # too small for even a few letters


def test_without_any_grounding_effect_the_page_says_what_would_give_one(client_for, expert):
    from tests import factories as f

    billing = f.topic("Billing", ["invoice"])
    f.turn(user=expert, question="Where is my invoice?", topic=billing, grounded=False)
    page = client_for(expert).get(reverse("topics:list")).content.decode()
    assert 'id="grounding-effect-help"' in page
    assert "answered both with and without grounding" in page
    assert 'href="/evaluators/"' not in page  # an expert cannot open the evaluators page
