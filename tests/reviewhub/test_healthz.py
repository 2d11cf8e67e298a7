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
