"""Checks behind /healthz: each returns None when up, or a short reason when down."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def check_broker() -> str | None:
    from reviewhub.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if settings.REDIS_URL:
                conn.default_channel.client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def check_graph() -> str | None:
    from reviewhub.graphdb import bolt_address, ping, wait_for_port

    host, port = bolt_address()
    if not wait_for_port(host, port, timeout=1.0):
        return f"nothing listening on {host}:{port}"
    try:
        ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


CHECKS = {"database": check_database, "broker": check_broker, "graph": check_graph}


def health() -> tuple[bool, dict]:
    report = {}
    for name, check in CHECKS.items():
        problem = check()
        report[name] = {"ok": problem is None} | ({"error": problem} if problem else {})
    return all(part["ok"] for part in report.values()), report
