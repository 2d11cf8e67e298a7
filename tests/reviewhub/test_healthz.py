import json

import pytest
from django.conf import settings


@pytest.mark.django_db
def test_healthz_is_200_when_database_broker_and_graph_are_up(client, graph_server):
    response = client.get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert all(body["checks"][name]["ok"] for name in ("database", "broker", "graph"))


@pytest.mark.django_db
def test_healthz_is_503_naming_the_graph_when_it_is_down(client, graph_server, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setattr(settings, "NEO4J_URL", f"bolt://root:x@127.0.0.1:{free_port()}/none")
    response = client.get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["down"] == ["graph"]


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_it_is_down(client, graph_server, monkeypatch):
    from reviewhub.celery import app
    from tests.conftest import free_port

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(settings, "REDIS_URL", "redis://down")
    response = client.get("/healthz")
    body = json.loads(response.content)
    assert response.status_code == 503
    assert "broker" in body["down"]


@pytest.fixture
def paused_graph_server(tmp_path, graph_server):
    """A graph server of its own, started, then paused with SIGSTOP (resumed and stopped
    afterwards): it accepts connections and never answers."""
    import os
    import signal
    import subprocess
    import sys

    from reviewhub.graphdb import configure, wait_until_ready
    from tests.conftest import ROOT, free_port, wait_for_port

    bolt, http = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "graphserver", "--bolt-port", str(bolt)]
        + ["--http-port", str(http), "--data-dir", str(tmp_path / "graph")],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(bolt, 120, proc)
        url = f"bolt://root:{settings.GRAPH_PASSWORD}@127.0.0.1:{bolt}/{settings.GRAPH_DATABASE}"
        wait_until_ready(120, url, alive=lambda: proc.poll() is None)
        os.killpg(proc.pid, signal.SIGSTOP)
        yield url
    finally:
        configure(graph_server)  # neomodel's one driver back on the session's graph server
        # A throwaway server on tmp_path, killed outright: resumed after the pause it did not
        # exit within SIGTERM's 20 s grace, which made this teardown 20 s in every run.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
@pytest.mark.django_db
def test_healthz_answers_within_3_s_naming_a_paused_graph_server(
    client, graph_server, paused_graph_server, monkeypatch
):
    import time

    monkeypatch.setattr(settings, "NEO4J_URL", paused_graph_server)
    started = time.monotonic()
    response = client.get("/healthz")
    took = time.monotonic() - started
    body = json.loads(response.content)
    assert took < 3, f"/healthz took {took:.1f} s"
    assert response.status_code == 503
    assert body["down"] == ["graph"]
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
