"""Writes through the real views while the broker is unreachable (a fault script).

Run in its own process with REDIS_URL pointing where nothing listens and DATABASE_URL at
a database that holds the users and turns named on the command line:

    python bench/broker_down_writes.py LEAD EXPERT END_USER TURN_ID [WRITES]

It posts, as each role would from the browser (Django's test client, the whole view and
middleware stack, CSRF off): one release creation, one replay creation, then WRITES
feedback changes (each one records an outbox row whose graph-drain enqueue fails). It
prints one JSON object: status codes and milliseconds per write, and what one refused
enqueue costs once the breaker is open.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")


def _timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def main(lead: str, expert: str, end_user: str, turn_id: str, writes: int = 20) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()  # lets the test client's host in; nothing else changes
    users = get_user_model().objects
    out: dict = {"writes": []}

    as_lead = Client()
    as_lead.force_login(users.get(username=lead))
    release_form = {
        "name": f"outage-{os.getpid()}",
        "version": "1",
        "validation_fraction": "0.1",
        "seed": "0",
        "formats": ["openai_chat"],
    }
    response, ms = _timed(lambda: as_lead.post(reverse("datasets:new"), release_form))
    out["release"] = {"status": response.status_code, "ms": ms, "url": response.get("Location")}

    as_expert = Client()
    as_expert.force_login(users.get(username=expert))
    replay_form = {"model": "offline:offline-extractive", "grounded": "on", "limit": "5"}
    response, ms = _timed(lambda: as_expert.post(reverse("experiments:replay_new"), replay_form))
    out["replay"] = {"status": response.status_code, "ms": ms, "url": response.get("Location")}

    as_user = Client()
    as_user.force_login(users.get(username=end_user))
    url = reverse("chat:feedback", args=[turn_id])
    for i in range(writes):
        rating = "up" if i % 2 else "down"
        response, ms = _timed(lambda r=rating: as_user.post(url, {"rating": r, "comment": ""}))
        out["writes"].append({"status": response.status_code, "ms": ms})

    from graph.tasks import drain_outbox
    from reviewhub.celery import BrokerUnavailable, breaker

    refused = []
    for _ in range(100 if not breaker.allow() else 0):  # only while the breaker is open
        start = time.perf_counter()
        try:
            drain_outbox.apply_async(countdown=1)
        except BrokerUnavailable:
            refused.append((time.perf_counter() - start) * 1000)
        except Exception:
            pass  # the breaker was half-open: that try went to the network
    out["refused_enqueue_ms"] = statistics.median(refused) if refused else None
    out["breaker_open"] = not breaker.allow()
    times = [w["ms"] for w in out["writes"]]
    out["write_ms_first"] = times[0] if times else None
    out["write_ms_median_after_first"] = statistics.median(times[1:]) if len(times) > 1 else None
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[4]) if len(args) > 4 else 20
    print(json.dumps(main(*args[:4], writes=n)))
