"""Evaluator scores on the answer's lineage: (:Score)-[:SCORES]->(answer), kept equal to SQL
(a re-run replaces the value, a deleted turn takes its scores along, graph_check compares
them edge by edge), and shown on the lineage page to experts and leads, never end users."""

from __future__ import annotations

import pytest
from django.urls import reverse
from neomodel import db

from annotations import services as review
from chat.services import conversation_delete
from evaluation import services as evaluation
from evaluation.models import Evaluator, Score
from graph.drain import drain
from graph.reconcile import check, reconcile
from tests.factories import GOOD, make_rubric, make_turn

pytestmark = pytest.mark.django_db


def _scores_of(turn) -> list[list]:
    rows, _ = db.cypher_query(
        "MATCH (s:Score)-[:SCORES]->(:Message {uid: $a}) "
        "RETURN s.evaluator, s.criterion, s.value, s.reason ORDER BY s.evaluator, s.criterion",
        {"a": str(turn.id)},
    )
    return rows


def test_scores_reach_the_graph_and_a_rerun_replaces_them(clean_graph, end_user, lead):
    turn = make_turn(end_user)
    evaluation.external_score_record(
        turn=turn, user=lead, name="tone", value=0.25, comment="curt", source="crm"
    )
    evaluation.builtin_evaluators_ensure()
    groundedness = Evaluator.objects.get(builtin="groundedness")
    evaluation.score_turns(version=groundedness.current, turn_ids=[turn.id])
    drain()
    sql = {(s.evaluator_version.evaluator.name, s.criterion, s.value) for s in Score.objects.all()}
    graph = {(e, c, v) for e, c, v, _ in _scores_of(turn)}
    assert ("crm (API)", "tone", 0.25) in graph and len(sql) >= 2
    assert graph == sql

    evaluation.external_score_record(  # the same name and source again: replaced
        turn=turn, user=lead, name="tone", value=0.75, comment="friendly now", source="crm"
    )
    drain()
    tone = [r for r in _scores_of(turn) if r[1] == "tone"]
    assert tone == [["crm (API)", "tone", 0.75, "friendly now"]]
    assert check().ok, check().differences()


def test_a_deleted_conversation_takes_its_scores_out_of_the_graph(clean_graph, end_user, lead):
    turn = make_turn(end_user)
    evaluation.external_score_record(turn=turn, user=lead, name="tone", value=0.5, source="crm")
    drain()
    assert len(_scores_of(turn)) == 1
    conversation_delete(conversation=turn.conversation)
    drain()
    rows, _ = db.cypher_query("MATCH (s:Score) RETURN count(s)")
    assert rows == [[0]]
    assert check().ok, check().differences()


def test_graph_check_finds_a_changed_or_lost_score_and_fix_restores_it(clean_graph, end_user, lead):
    first, second = make_turn(end_user), make_turn(end_user)
    for turn, value in ((first, 0.2), (second, 0.9)):
        evaluation.external_score_record(turn=turn, user=lead, name="tone", value=value)
    drain()
    db.cypher_query(
        "MATCH (s:Score)-[:SCORES]->(:Message {uid: $a}) SET s.value = 1.0", {"a": str(first.id)}
    )
    db.cypher_query(
        "MATCH (s:Score)-[:SCORES]->(:Message {uid: $a}) DETACH DELETE s", {"a": str(second.id)}
    )
    report = check()
    assert not report.ok
    assert len(report.labels["Score"].missing) == 1 and len(report.links["SCORES"]) == 2
    reconcile()
    assert check().ok, check().differences()
    assert [r[2] for r in _scores_of(first)] == [0.2]
    assert [r[2] for r in _scores_of(second)] == [0.9]


def _lineage(client, turn) -> tuple[str, dict]:
    page = client.get(reverse("graph:lineage", args=[turn.pk]))
    body = client.get(reverse("graph:lineage_json", args=[turn.pk])).json()
    return page.content.decode(), body


def test_lineage_shows_scores_to_experts_and_leads_but_not_to_the_asker(
    clean_graph, client_for, end_user, lead
):
    turn = make_turn(end_user)
    evaluation.external_score_record(
        turn=turn, user=lead, name="tone", value=0.25, comment="curt <b>reply</b>", source="crm"
    )
    drain()
    html, body = _lineage(client_for(lead), turn)
    assert [(s["criterion"], s["value"]) for s in body["lineage"]["scores"]] == [("tone", 0.25)]
    assert "SCORES" in {e["data"].get("label") for e in body["elements"]}
    assert "tone 0.25" in html and "curt &lt;b&gt;reply&lt;/b&gt;" in html  # sanitised

    html, body = _lineage(client_for(end_user), turn)
    assert body["lineage"]["scores"] == [] and "SCORES" not in str(body["elements"])
    assert 'data-testid="score"' not in html and "curt" not in html


def test_lineage_hides_scores_from_a_blind_reviewer_until_they_have_reviewed(
    clean_graph, settings, client_for, end_user, expert, lead
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    turn = make_turn(end_user)
    evaluation.external_score_record(turn=turn, user=lead, name="tone", value=0.25)
    item = review.queue_claim_next(expert=expert)
    drain()
    _, body = _lineage(client_for(expert), turn)
    assert body["lineage"]["scores"] == []
    review.review_submit(
        item_id=item.pk, reviewer=expert, scores=GOOD, tags=[], verdict="approve", notes=""
    )
    drain()
    _, body = _lineage(client_for(expert), turn)
    assert [s["criterion"] for s in body["lineage"]["scores"]] == ["tone"]
