"""Evaluator pages: only leads manage evaluators; alignment against the experts' reviews."""

from __future__ import annotations

import pytest

from annotations.models import Criterion, QueueItem, Review, Rubric
from evaluation import services
from evaluation.models import Evaluator, EvaluatorVersion

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Correctness judge",
    "criteria": "correctness: Factually correct (1-5)",
    "prompt_template": "Grade {answer} against {passages}. {criteria}",
    "model": "",
    "sampling_rate": "0.5",
    "hourly_cap": "10",
    "is_active": "on",
}


@pytest.mark.parametrize("role", ["end_user", "expert", "outsider"])
def test_only_leads_may_see_or_define_evaluators(client_for, request, role):
    client = client_for(request.getfixturevalue(role))
    assert client.get("/evaluators/").status_code == 403
    assert client.get("/evaluators/alignment/").status_code == 403
    assert client.post("/evaluators/new/", FORM).status_code == 403
    assert not Evaluator.objects.filter(name=FORM["name"]).exists()


def test_a_lead_sees_the_builtin_checks_labelled_offline(client_for, lead):
    page = client_for(lead).get("/evaluators/").content.decode()
    builtins = (
        "Groundedness",
        "Citation validity",
        "Context relevance",
        "Refusal",
        "Knowledge base support",
    )
    for name in builtins:
        assert name in page
    assert page.count("offline · built-in") == len(builtins)
    assert 'href="/evaluators/"' in page, "the nav links to the page"


def test_a_lead_creates_a_judge_and_editing_it_in_use_makes_version_2(client_for, lead, log_turn):
    client = client_for(lead)
    response = client.post("/evaluators/new/", FORM)
    judge = Evaluator.objects.get(name=FORM["name"])
    assert response.status_code == 302
    assert judge.sampling_rate == 0.5 and judge.hourly_cap == 10
    assert judge.current.criteria == [
        {"key": "correctness", "label": "Factually correct", "scale_min": 1, "scale_max": 5}
    ]
    turn = log_turn("Q?", "A.")
    services.scores_store(
        [
            {
                "turn_id": turn.id,
                "evaluator_version_id": judge.current.id,
                "criterion": "correctness",
                "value": 3.0,
                "normalized": 0.5,
            }
        ]
    )
    edited = {**FORM, "prompt_template": "Be strict. {answer} {passages} {criteria}"}
    client.post(f"/evaluators/{judge.id}/", edited)
    assert list(judge.versions.values_list("version", flat=True)) == [2, 1]
    assert "Be strict" in judge.current.prompt_template


def test_a_bad_criterion_line_is_a_clear_error_and_creates_nothing(client_for, lead):
    response = client_for(lead).post("/evaluators/new/", {**FORM, "criteria": "correctness"})
    assert response.status_code == 400
    assert "key: label (min-max)" in response.content.decode()
    assert not Evaluator.objects.filter(name=FORM["name"]).exists()


def test_a_backfill_page_shows_its_progress(
    client_for, lead, log_turn, django_capture_on_commit_callbacks
):
    log_turn("Q?", "A.")
    services.builtin_evaluators_ensure()
    refusal = Evaluator.objects.get(builtin="refusal")
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(lead).post(f"/evaluators/{refusal.id}/backfill/", {})
    assert response.status_code == 302
    page = client_for(lead).get(response["Location"]).content.decode()
    assert '<progress class="progress" max="100" value="0"' in page and "0 of 1 turns" in page


def _review(turn, expert, rubric, score):
    item = QueueItem.objects.get(turn=turn)
    Review.objects.create(
        item=item, reviewer=expert, rubric=rubric, verdict="approve", scores={"correctness": score}
    )


def test_alignment_shows_alpha_agreement_n_and_the_worst_disagreements(
    client_for, lead, expert, log_turn
):
    rubric = Rubric.objects.create(name="Default")
    Criterion.objects.create(
        rubric=rubric, key="correctness", label="Correct", scale_min=1, scale_max=5
    )
    judge = services.evaluator_create(
        name="J", created_by=lead, criteria=[{"key": "correctness", "scale_min": 1, "scale_max": 5}]
    )
    pairs = [(5, 5), (4, 4), (1, 1), (2, 2), (5, 1), (3, 3)]
    for i, (mine, theirs) in enumerate(pairs):
        turn = log_turn(f"Question {i}?", "A.")
        services.scores_store(
            [
                {
                    "turn_id": turn.id,
                    "evaluator_version_id": judge.current.id,
                    "criterion": "correctness",
                    "value": float(mine),
                    "normalized": (mine - 1) / 4,
                }
            ]
        )
        _review(turn, expert, rubric, theirs)
    page = client_for(lead).get("/evaluators/alignment/").content.decode()
    assert "J v1 · correctness" in page
    assert "n = 6" in page and "agreement 83%" in page
    assert "Question 4?" in page, "the disagreement is listed"
    from evaluation.selectors import alignment

    (row,) = alignment()
    assert 0 < row.alpha < 1 and row.disagreements[0]["question"] == "Question 4?"


def test_alignment_without_overlap_explains_how_to_get_there(client_for, lead):
    page = client_for(lead).get("/evaluators/alignment/").content.decode()
    assert "Nothing to compare yet" in page


def test_offline_evaluators_have_nothing_to_version(lead):
    services.builtin_evaluators_ensure()
    g = Evaluator.objects.get(builtin="groundedness")
    services.evaluator_update(evaluator=g, actor=lead, sampling_rate=0.2, model="x")
    assert EvaluatorVersion.objects.filter(evaluator=g).count() == 1


def test_analytics_show_scores_per_topic_and_over_time(client_for, lead, log_turn):
    from chat.models import Topic

    topic = Topic.objects.create(name="Backups")
    turn = log_turn("How long are snapshots kept?", "Every paid instance keeps nine days.")
    turn.topic = topic
    turn.save(update_fields=["topic"])
    services.online_scan()
    page = client_for(lead).get("/graph/analytics/").content.decode()
    assert "Evaluator scores by topic" in page
    assert '<th scope="row">Backups</th>' in page and "<th>groundedness</th>" in page
    assert "Evaluator scores over time" in page and "<polyline" in page


def _scored(user, topic, days_ago: float, **scores):
    from tests.factories import make_turn

    turn = make_turn(user, topic=topic, age_minutes=days_ago * 1440)
    for name, value in scores.items():
        services.external_score_record(turn=turn, user=user, name=name, value=value, source="crm")
    return turn


def test_the_heat_map_puts_the_topic_with_the_weakest_criterion_first(client_for, lead):
    from chat.models import Topic
    from evaluation.selectors import scores_by_topic

    backups, billing = Topic.objects.create(name="Backups"), Topic.objects.create(name="Billing")
    _scored(lead, billing, 0, tone=0.6)
    _scored(lead, billing, 0, tone=0.8)
    _scored(lead, backups, 0, tone=0.9, accuracy=0.1)

    grid = scores_by_topic()
    assert grid["criteria"] == ["accuracy", "tone"]
    assert [row["topic"] for row in grid["topics"]] == ["Backups", "Billing"]
    accuracy, tone = grid["topics"][1]["cells"]
    assert accuracy is None  # Billing was never scored on accuracy
    assert (round(tone["mean"], 2), tone["n"], tone["band"]) == (0.7, 2, 3)
    assert [c["band"] for c in grid["topics"][0]["cells"]] == [0, 4]
    assert scores_by_topic(topics=1)["more"] == 1

    page = client_for(lead).get("/graph/analytics/").content.decode()
    assert 'title="Backups · accuracy: mean 0.10 over 1 answer">0.10<small>1</small>' in page
    assert 'title="Billing · tone: mean 0.70 over 2 answers">0.70<small>2</small>' in page
    assert page.index('<th scope="row">Backups</th>') < page.index('<th scope="row">Billing</th>')
    assert 'title="Billing: not scored on this criterion">—' in page


def test_scores_over_time_are_lines_placed_by_date(client_for, lead):
    from graph import charts

    topic = None
    _scored(lead, topic, 10, tone=0.25)
    _scored(lead, topic, 0, tone=0.75, accuracy=0.5)

    page = client_for(lead).get("/graph/analytics/").content.decode()
    left, right = float(charts.LINE_LEFT), float(charts.LINE_LEFT + charts.LINE_WIDTH)
    height = charts.HEIGHT
    # tone: the first day at the left edge, the last at the right, 0.25 a quarter up
    assert f'<polyline points="{left},{height * 0.75} {right},{height * 0.25}"/>' in page
    # accuracy was scored on the last day only: one point, no line back to the first day
    assert f'<polyline points="{right},{height * 0.5}"/>' in page
    assert "<title>tone, " in page and ": 0.25</title>" in page


def test_a_new_judge_starts_from_the_review_rubrics_criteria(client_for, lead):
    from tests.factories import make_rubric

    make_rubric()
    page = client_for(lead).get("/evaluators/new/").content.decode()
    assert "correctness: Correctness (1-5)" in page
    assert "helpfulness: Helpfulness (1-5)" in page
