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


class OwnGraphServer:
    """An embedded graph server this test can stop and restart (same ports, same data),
    separate from the session's shared one."""

    def __init__(self) -> None:
        import tempfile
        from pathlib import Path

        from django.conf import settings

        from tests.conftest import free_port

        self.bolt, self.http = free_port(), free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="rh-graph-own-"))
        self.url = (
            f"bolt://root:{settings.GRAPH_PASSWORD}@127.0.0.1:{self.bolt}/{settings.GRAPH_DATABASE}"
        )
        self.proc = None

    def start(self) -> None:
        import subprocess
        import sys

        from reviewhub.graphdb import wait_until_ready
        from tests.conftest import ROOT, wait_for_port

        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "graphserver",
                "--bolt-port",
                str(self.bolt),
                "--http-port",
                str(self.http),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.bolt, 120, self.proc)
        wait_until_ready(120, self.url, alive=lambda: self.proc.poll() is None)

    def stop(self) -> None:
        from tests.conftest import stop_process

        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture
def own_graph_server(graph_server):
    import shutil

    import neomodel

    from reviewhub.graphdb import configure

    server = OwnGraphServer()
    try:
        yield server
    finally:
        server.stop()
        if neomodel.db.driver is not None:
            neomodel.db.close_connection()
        configure(graph_server)
        shutil.rmtree(server.data_dir, ignore_errors=True)
