"""Experiments in the graph: (:Experiment)-[:HAS_ARM]->(:Arm)-[:PRODUCED]->(answer), kept equal
to SQL by graph_check; an answer's lineage shows its replays, the experiment arm that gave each
one, and their scores — to experts and leads, not to the asker."""

from __future__ import annotations

import pytest
from django.urls import reverse
from neomodel import db

from experiments import services
from experiments.models import Arm
from experiments.services import ArmSpec
from graph.drain import drain
from graph.lineage import lineage
from graph.reconcile import check, reconcile
from tests.chat.conftest import kb as kb  # the demo knowledge base
from tests.factories import make_turn

pytestmark = pytest.mark.django_db


def _run(expert, questions):
    experiment = services.experiment_create(
        user=expert,
        name="grounding?",
        arms=[
            ArmSpec(label="logged answers", kind=Arm.Kind.LOGGED),
            ArmSpec(label="offline + grounding", model_key="offline:offline-extractive"),
        ],
        question_ids=[str(t.id) for t in questions],
        enqueue=False,
    )
    return services.experiment_run(experiment_id=experiment.pk)


def test_an_answers_lineage_shows_its_replays_their_arm_and_scores(
    clean_graph, kb, end_user, expert, client_for
):
    original = make_turn(end_user, grounded=False, refresh=False)  # not in a blind review
    experiment = _run(expert, [original])
    drain()
    data = lineage(str(original.id))
    assert [(a["arm"]["label"], a["experiment"]["name"]) for a in data["arms"]] == [
        ("logged answers", "grounding?")
    ]
    (replay,) = data["replays"]
    assert [(a["arm"]["label"], a["experiment"]["uid"]) for a in replay["arms"]] == [
        ("offline + grounding", str(experiment.pk))
    ]
    assert {s["criterion"] for s in replay["scores"]} >= {"groundedness", "refusal"}
    page = client_for(expert).get(reverse("graph:lineage", args=[original.id])).content.decode()
    assert page.count('data-testid="replay"') == 1 and "offline + grounding" in page
    assert "groundedness" in page.split('data-testid="replay"')[1]
    # the asker sees that it was replayed, not the experiment nor the scores
    mine = client_for(end_user).get(reverse("graph:lineage", args=[original.id]))
    html = mine.content.decode()
    assert 'data-testid="replay"' in html and "offline + grounding" not in html
    assert "grounding?" not in html and "groundedness" not in html.split("Replayed as")[1]


def test_graph_check_holds_experiments_to_sql_and_fix_restores_them(
    clean_graph, kb, end_user, expert
):
    questions = [make_turn(end_user, grounded=False) for _ in range(2)]
    experiment = _run(expert, questions)
    drain()
    assert check().ok, check().differences()
    rows, _ = db.cypher_query(
        "MATCH (:Experiment {uid: $e})-[:HAS_ARM]->(r:Arm)-[:PRODUCED]->(a:Message) "
        "RETURN r.kind, count(a) ORDER BY r.kind",
        {"e": str(experiment.pk)},
    )
    assert rows == [["logged", 2], ["model", 2]]
    db.cypher_query("MATCH (r:Arm {kind: 'model'})-[p:PRODUCED]->() DELETE p")
    db.cypher_query("MATCH (e:Experiment) SET e.status = 'gone'")
    report = check()
    assert not report.ok and "PRODUCED" in " ".join(report.differences())
    reconcile()
    assert check().ok, check().differences()
