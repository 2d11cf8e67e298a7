import pytest


@pytest.fixture(scope="session")
def graph_schema(graph_server):
    from graph.schema import install_schema

    install_schema()
    return graph_server


@pytest.fixture
def clean_graph(graph_schema, graph):
    """An empty graph with the uniqueness constraints installed."""
    return graph


def counts() -> tuple[dict, dict]:
    from neomodel import db

    nodes, _ = db.cypher_query("MATCH (n) RETURN labels(n)[0], count(*)")
    rels, _ = db.cypher_query("MATCH ()-[r]->() RETURN type(r), count(*)")
    return dict(map(tuple, nodes)), dict(map(tuple, rels))
