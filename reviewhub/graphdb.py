"""The graph database connection: neomodel configured from NEO4J_URL (the embedded Bolt
server when unset), and readiness checks.

On the floor beside reviewhub.celery (the broker connection): the health check and
`serve_all` need it without importing the graph app, which sits on top of every app."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

from django.conf import settings


def configure(url: str | None = None) -> str:
    import neomodel  # with the neo4j driver, ~30 MB: loaded by the processes that use it

    url = url or settings.NEO4J_URL
    config = neomodel.get_config()
    if config.database_url != url:
        config.database_url = url
        # neomodel keeps one driver per process; drop it so the new URL takes effect.
        if neomodel.db.driver is not None:
            neomodel.db.close_connection()
    return url


def ping(url: str | None = None) -> None:
    """Raise unless the graph answers a trivial query."""
    import neomodel

    configure(url)
    neomodel.db.cypher_query("RETURN 1")


def bolt_address(url: str | None = None) -> tuple[str, int]:
    parsed = urlparse(url or settings.NEO4J_URL)
    return parsed.hostname or "127.0.0.1", parsed.port or 7687


def wait_until_ready(timeout: float, url: str | None = None, alive=lambda: True) -> None:
    """Wait until the graph answers queries. The embedded server opens its Bolt port
    before it has created the database, so an open port is not enough."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ping(url)
            return
        except Exception:
            if time.monotonic() > deadline or not alive():
                raise
            time.sleep(0.3)


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False
