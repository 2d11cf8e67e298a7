"""Checks behind /healthz: each returns None when up, or a short reason when down.

/healthz must answer within a few seconds whatever is down (a load balancer's check gives up
after a few, and a hung check ties up a web thread): the checks run side by side in their own
threads and any that has not answered by HEALTH_TIMEOUT_S is reported as down. Each check also
bounds itself (connect timeouts), so its thread ends soon after.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.db import connection, connections

# Seen: a graph server paused with SIGSTOP accepts the TCP connection (the kernel does) and
# never answers the Bolt handshake; the driver's default timeouts wait for over a minute.
GRAPH_TIMEOUT_S = 2.0


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def check_broker() -> str | None:
    from reviewhub.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        if settings.REDIS_URL:
            conn.default_channel.client.ping()
    return None


def check_graph() -> str | None:
    """A trivial query through a driver of its own with short timeouts: the app's shared
    driver keeps its defaults, and a hung health check cannot hold one of its connections."""
    import neo4j

    parsed = urlparse(settings.NEO4J_URL)
    auth = (unquote(parsed.username or ""), unquote(parsed.password or ""))
    address = parsed._replace(netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else ""))
    driver = neo4j.GraphDatabase.driver(
        address._replace(path="").geturl(),
        auth=auth if auth[0] else None,
        connection_timeout=GRAPH_TIMEOUT_S,
        connection_acquisition_timeout=GRAPH_TIMEOUT_S,
        max_transaction_retry_time=0,
    )
    try:
        with driver.session(database=parsed.path.strip("/") or None) as session:
            session.run(neo4j.Query("RETURN 1", timeout=GRAPH_TIMEOUT_S)).consume()
    finally:
        driver.close()
    return None


CHECKS = {"database": check_database, "broker": check_broker, "graph": check_graph}


def _run(name: str, check, results: dict) -> None:
    try:
        results[name] = check()
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        connections.close_all()  # this thread's own database connection


def health(timeout: float | None = None) -> tuple[bool, dict]:
    timeout = timeout if timeout is not None else settings.HEALTH_TIMEOUT_S
    results: dict[str, str | None] = {}
    threads = [
        threading.Thread(
            target=_run, args=(name, check, results), daemon=True, name=f"healthz-{name}"
        )
        for name, check in CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    done = dict(results)  # a late answer does not change the report being written
    report = {}
    for name in CHECKS:
        problem = done[name] if name in done else f"no answer within {timeout:g} s"
        report[name] = {"ok": problem is None} | ({"error": problem} if problem else {})
    return all(part["ok"] for part in report.values()), report
