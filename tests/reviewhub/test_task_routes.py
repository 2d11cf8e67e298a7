"""Each kind of background work can go to its own queue (README, "Production"); unset, all of
it goes to the one queue `make run`'s worker takes."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = [
    "graph.tasks.drain_outbox",
    "experiments.tasks.run_experiment",
    "datasets.tasks.build_release",
    "annotations.tasks.queue_backfill",
]
SCRIPT = f"""
import json, django
django.setup()
from reviewhub.celery import app
print(json.dumps({{t: app.amqp.router.route({{}}, t)["queue"].name for t in {TASKS!r}}}))
"""


def queues(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_QUEUE", "REVIEW"))}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "reviewhub.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_task_goes_to_the_one_queue_by_default():
    assert set(queues(REVIEWHUB_QUEUE="reviewhub").values()) == {"reviewhub"}


def test_graph_evaluation_and_release_work_go_to_their_own_queues():
    routed = queues(
        REVIEWHUB_QUEUE="reviewhub",
        CELERY_QUEUE_GRAPH="graph",
        CELERY_QUEUE_EVALUATION="evaluation",
        CELERY_QUEUE_RELEASES="releases",
    )
    assert routed == {
        "graph.tasks.drain_outbox": "graph",
        "experiments.tasks.run_experiment": "evaluation",
        "datasets.tasks.build_release": "releases",
        "annotations.tasks.queue_backfill": "reviewhub",
    }
