"""The graph holds exactly the SQL topic memberships as ABOUT {method, score} edges."""

from __future__ import annotations

import pytest
from neomodel import db

from chat.models import Topic, TopicMembership
from chat.services import turn_set_topic
from graph.drain import drain
from graph.reconcile import check
from tests.factories import log_questions
from topics import services
from topics.discovery import Params

pytestmark = pytest.mark.django_db


def _about_in_graph() -> set[tuple]:
    rows, _ = db.cypher_query(
        "MATCH (q:Message)-[r:ABOUT]->(t:Topic) RETURN q.uid, t.uid, r.method, r.score"
    )
    return {tuple(r) for r in rows}


def _about_in_sql() -> set[tuple]:
    return {
        (str(q), str(t), m, s)
        for q, t, m, s in TopicMembership.objects.values_list(
            "turn__question_uid", "topic_id", "method", "score"
        )
    }


def test_after_sync_the_graph_holds_exactly_the_sql_memberships(graph, end_user):
    made = log_questions(end_user, per_topic=15)
    keyword = Topic.objects.create(name="Refunds", keywords=["refund"])
    services.topics_discover(params=Params(seed=0, min_size=3))
    turn, _ = made[0]
    TopicMembership.objects.create(turn=turn, topic=keyword, method="keyword")
    turn_set_topic(turn=turn, topic=keyword)  # the same topic by hand: a second edge
    drain(time_budget=120)
    assert _about_in_graph() == _about_in_sql()
    assert len(_about_in_sql()) == len(made) + 2
    rows, _ = db.cypher_query(
        "MATCH (t:Topic {uid: $uid}) RETURN t.method, t.terms, t.name",
        {"uid": str(Topic.objects.filter(method="discovered").first().pk)},
    )
    assert rows[0][0] == "discovered" and rows[0][1].startswith("[")
    report = check()
    assert report.ok, report

    # experts' edits and a re-run follow into the graph
    a, b = list(Topic.objects.filter(method="discovered")[:2])
    services.topic_merge(source=a, target=b)
    services.topics_discover(params=Params(seed=1, min_size=3))
    drain(time_budget=120)
    assert _about_in_graph() == _about_in_sql()
    assert check().ok
