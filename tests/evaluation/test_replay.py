"""Replay comparison: both sides scored, the difference shown."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from experiments import services as experiment_services

pytestmark = pytest.mark.django_db


def test_the_replay_comparison_shows_both_sides_scores_and_the_difference(
    client_for,
    expert,
    ask,
    kb,  # noqa: F811
):
    original = ask("How long are daily snapshots kept?", grounded=False)
    replay = experiment_services.replay_create(
        user=expert,
        question_ids=[str(original.id)],
        grounded=True,
        model_key="offline:offline-extractive",
    )
    experiment_services.experiment_run(experiment_id=replay.pk)  # scores both sides
    url = reverse("experiments:compare", args=[replay.pk])
    html = client_for(expert).get(url).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Refusal · refusal 1 0 -1" in text, "ungrounded: a refusal; grounded: an answer"
    assert re.search(r"Groundedness · groundedness not scored [\d.]+ —", text)
    # the knowledge base had the answer the ungrounded side declined to give
    assert re.search(r"Knowledge base support · kb_support 0 1 \+1", text), text
