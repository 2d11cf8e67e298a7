"""Replay comparison: both sides scored, the difference shown."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from chat import services as chat_services
from evaluation import services

pytestmark = pytest.mark.django_db


def test_the_replay_comparison_shows_both_sides_scores_and_the_difference(
    client_for,
    expert,
    ask,
    kb,  # noqa: F811
):
    original = ask("How long are daily snapshots kept?", grounded=False)
    job = chat_services.replay_job_create(
        user=expert,
        turn_ids=[original.id],
        grounded=True,
        model_key="offline:offline-extractive",
        template=None,
        filters={},
    )
    chat_services.replay_job_run(job_id=job.id)
    services.online_scan()
    html = client_for(expert).get(reverse("chat:replay", args=[job.id])).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Refusal · refusal 1 0 -1" in text, "ungrounded: a refusal; grounded: an answer"
    assert re.search(r"Groundedness · groundedness not scored [\d.]+ —", text)
