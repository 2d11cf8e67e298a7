"""The lineage page draws the graph in a real Chromium (Cytoscape served from static/)."""

import pytest

from graph.drain import drain
from tests import factories as f


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_lineage_page_draws_the_graph(
    roles_seeded, clean_graph, live_server, page, browser_login, end_user, expert
):
    doc = f.document("Refunds", chunks=2)
    c1, c2 = doc.chunks.order_by("index")
    t = f.turn(
        f.conversation(end_user), question="How do refunds work?", contexts=[(c1, 0.9), (c2, 0.5)]
    )
    f.feedback(t, end_user, "down", comment="too vague")
    drain()
    browser_login(page, end_user)
    page.goto(f"{live_server.url}/graph/lineage/{t.id}/")
    page.wait_for_selector("#lineage-graph canvas")
    # question, answer, 2 chunks, 1 document, 1 feedback
    assert page.evaluate("window.lineageGraph.nodes().length") == 6
    assert page.evaluate("window.lineageGraph.edges().length") == 6
    node = page.evaluate(
        "(() => { const n = window.lineageGraph.nodes('[kind = \"feedback\"]')[0];"
        " n.emit('tap'); return document.getElementById('lineage-detail').textContent; })()"
    )
    assert "too vague" in node
