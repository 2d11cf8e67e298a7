from __future__ import annotations

import pytest
from django.urls import reverse

from graph.drain import drain
from outbox.models import OutboxEntry
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def answer(clean_graph, end_user, expert):
    doc = f.document("Refunds", chunks=1)
    t = f.turn(
        f.conversation(end_user),
        question="How do <b>refunds</b> work?",
        contexts=[(doc.chunks.get(), 0.8)],
    )
    f.feedback(t, end_user, "down", comment="wrong")
    f.example(t, approver=expert)
    drain()
    return t


@pytest.mark.parametrize(
    "who, status",
    [
        ("end_user", 200),
        ("expert", 200),
        ("lead", 200),
        ("other_user", 404),
        ("outsider", 404),
    ],
)
def test_lineage_page_is_role_checked(answer, client_for, request, who, status):
    client = client_for(request.getfixturevalue(who))
    page = client.get(reverse("graph:lineage", args=[answer.id]))
    assert page.status_code == status
    data = client.get(reverse("graph:lineage_json", args=[answer.id]))
    assert data.status_code == status


def test_lineage_shows_the_chain_from_the_graph(answer, client_for, end_user):
    client = client_for(end_user)
    page = client.get(reverse("graph:lineage", args=[answer.id]))
    html = page.content.decode()
    assert "cytoscape-3.34.4.min.js" in html and 'id="lineage-elements"' in html
    assert "<b>refunds</b>" not in html and "&lt;b&gt;refunds&lt;/b&gt;" in html
    body = client.get(reverse("graph:lineage_json", args=[answer.id])).json()
    kinds = sorted({e["data"]["kind"] for e in body["elements"] if "kind" in e["data"]})
    assert kinds == ["answer", "chunk", "document", "example", "feedback", "question"]
    rels = sorted(e["data"]["label"] for e in body["elements"] if "source" in e["data"])
    assert rels == ["FROM", "HAS_CHUNK", "HAS_CONTEXT", "NEXT", "RATES"]
    assert body["lineage"]["feedback"][0]["comment"] == "wrong"


def test_lineage_of_an_unsynced_answer_says_so(clean_graph, client_for, end_user):
    t = f.turn(f.conversation(end_user))
    page = client_for(end_user).get(reverse("graph:lineage", args=[t.id]))
    assert page.status_code == 200 and b"not in the graph yet" in page.content
    assert client_for(end_user).get(reverse("graph:lineage_json", args=[t.id])).status_code == 404


def test_expert_sets_a_topic_through_the_outbox(answer, client_for, expert):
    topic = f.topic("Billing")
    url = reverse("graph:turn_topic", args=[answer.id])
    response = client_for(expert).post(url, {"topic": str(topic.id)}, follow=True)
    assert response.redirect_chain == [(reverse("graph:lineage", args=[answer.id]), 302)]
    assert "Topic saved" in response.content.decode()
    answer.refresh_from_db()
    assert answer.topic_id == topic.id
    assert OutboxEntry.objects.filter(
        entity="turn", entity_id=str(answer.id), synced_at=None
    ).exists()
    drain()
    body = client_for(expert).get(reverse("graph:lineage_json", args=[answer.id])).json()
    assert body["lineage"]["topic"]["name"] == "Billing"


def test_bad_topic_is_refused_and_end_users_cannot_set_topics(answer, client_for, expert, end_user):
    billing = f.topic("Billing")
    url = reverse("graph:turn_topic", args=[answer.id])
    client_for(expert).post(url, {"topic": str(billing.id)})
    response = client_for(expert).post(url, {"topic": "nope"}, follow=True)
    assert response.redirect_chain == [(reverse("graph:lineage", args=[answer.id]), 302)]
    assert "Choose a topic from the list." in response.content.decode()
    answer.refresh_from_db()
    assert answer.topic_id == billing.id  # unchanged by the bad choice
    assert client_for(end_user).post(url, {"topic": ""}).status_code == 403
    answer.refresh_from_db()
    assert answer.topic_id == billing.id  # nor cleared by the end user


def test_analytics_is_for_leads_only(clean_graph, client_for, expert, lead):
    assert client_for(expert).get(reverse("graph:analytics")).status_code == 403
    page = client_for(lead).get(reverse("graph:analytics"))
    assert page.status_code == 200 and b"The graph is empty" in page.content


def test_analytics_page_shows_charts_tables_and_lineage_links(
    answer, client_for, lead, django_assert_max_num_queries
):
    client = client_for(lead)
    # session, user, 2 × permissions, held outbox rows, scores per topic and per day, inbox count
    with django_assert_max_num_queries(8):
        page = client.get(reverse("graph:analytics"))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<rect class="down"' in html  # the rating chart
    assert reverse("graph:lineage", args=[answer.id]) in html
    assert "Refunds" in html  # chunk tied to a bad answer
