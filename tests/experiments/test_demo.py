"""`make run`'s demo data holds a finished experiment, so the experiments page opens on the
article's first question ("did grounding help?") answered, not on an empty list."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from chat.models import Feedback, Turn
from experiments import selectors
from experiments.models import Experiment

pytestmark = pytest.mark.django_db


def test_the_demo_answers_did_grounding_help_over_the_answers_rated_down(client_for):
    call_command("seed_demo", "--force", stdout=io.StringIO())
    experiment = Experiment.objects.get(name="Did grounding help?")
    assert experiment.status == Experiment.Status.DONE and experiment.failed == 0
    rated_down = set(
        Feedback.objects.filter(rating="down", turn__source="chat").values_list(
            "turn_id", flat=True
        )
    )
    assert {str(t) for t in rated_down} == set(experiment.question_ids)
    logged, grounded = experiment.arms.order_by("position")
    assert (logged.kind, grounded.grounded) == ("logged", True)
    answers = Turn.objects.filter(conversation=grounded.conversation)
    assert answers.count() == len(rated_down) and all(a.grounded for a in answers)

    summary = selectors.results(experiment)["summary"]
    assert [s["arm"]["label"] for s in summary] == ["logged answers", "offline + grounding"]
    assert summary[1]["cells"]["groundedness"]["n"] == len(rated_down)

    lead = experiment.created_by
    page = client_for(lead).get(reverse("experiments:list")).content.decode()
    assert "Did grounding help?" in page and "No experiments yet" not in page
    detail = client_for(lead).get(reverse("experiments:detail", args=[experiment.pk]))
    assert detail.status_code == 200 and "<svg" in detail.content.decode()

    call_command("seed_demo", "--force", stdout=io.StringIO())  # loaded once
    assert Experiment.objects.filter(name="Did grounding help?").count() == 1


def test_the_page_says_how_many_questions_a_comparison_left_out(client_for):
    call_command("seed_demo", "--force", stdout=io.StringIO())
    experiment = Experiment.objects.get(name="Did grounding help?")
    compared = selectors.results(experiment)["pairwise"][0]["n"]
    total = len(experiment.question_ids)
    # a refusal about what the knowledge base has nothing on: no check can score it
    assert 0 < compared < total
    page = client_for(experiment.created_by).get(
        reverse("experiments:detail", args=[experiment.pk])
    )
    assert f"offline + grounding: {compared} of {total} questions compared" in page.content.decode()
