"""Experiment benchmarks (issue #13).

- experiment_1k_x2_s: an experiment of 1,000 logged questions × 2 model arms (two models on
  the local OpenAI-compatible server fixture, both grounded over the demo knowledge base),
  with the offline evaluators scoring every answer, run start to finish by
  `experiments.services.experiment_run` (the Celery task's body).
- experiment_results_p95_ms_10k: the results page (bootstrap intervals, pairwise sign tests,
  per-topic table, turned-negative list, charts) for an experiment with 10,000 scored answers
  (5,000 questions × 2 arms), rendered through the Django test client by an expert; p95 of
  BENCH_PAGE_ROUNDS requests after one warm-up.

Runs in a child process with its own temp SQLite database, so it never touches dev data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import common

QUESTIONS = int(os.environ.get("BENCH_EXPERIMENT_QUESTIONS", "1000"))
PAGE_QUESTIONS = int(os.environ.get("BENCH_EXPERIMENT_PAGE_QUESTIONS", "5000"))
PAGE_ROUNDS = int(os.environ.get("BENCH_PAGE_ROUNDS", "20"))


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="rh-bench-exp-") as tmp:
        env = common.sqlite_env(
            tmp,
            without={"OPENAI_API_KEY", "REDIS_URL", "NEO4J_URL"},
            REVIEWHUB_VAR_DIR=tmp,
            EXP_BENCH_KEY="test-key",
        )
        # the results page renders with DEBUG off, as served: its static files must exist
        common.migrate(env)
        common.manage(env, "collectstatic", "--noinput", "-v0")
        return common.child_json(__file__, env, "--child", stderr="live")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _questions(n: int, user) -> list[str]:
    """n logged questions about the demo knowledge base, through the ingestion service."""
    from chat.models import Topic, Turn
    from chat.services import interactions_ingest

    subjects = [
        ("Backups", "How long are snapshots kept for instance {i}?"),
        ("Pricing", "What does the Professional plan cost for team {i}?"),
        ("Connections", "Which port does Bolt use for client {i}?"),
        ("Imports", "How do I import a CSV file number {i}?"),
    ]
    topics = {name: Topic.objects.get_or_create(name=name)[0] for name, _ in subjects}
    items = []
    for i in range(n):
        name, question = subjects[i % len(subjects)]
        items.append({"question": question.format(i=i), "answer": "I am not sure.", "model": "m"})
    ids = []
    for start in range(0, n, 500):
        results = interactions_ingest(user=user, items=items[start : start + 500])
        ids += [str(turn_id) for _, turn_id, _ in results]
    for name, topic in topics.items():
        Turn.objects.filter(question__startswith=dict(subjects)[name][:12]).update(topic=topic)
    return ids


def _serve_fixture() -> tuple[subprocess.Popen, str]:
    """The OpenAI-compatible fixture in its own process, as a model server would be: in the
    experiment's process it would compete for the same interpreter lock."""
    from tests.conftest import free_port, wait_for_port

    port = free_port()
    code = (
        "from tests.chat.llm_server import LLMServer;"
        "from tests.experiments.conftest import answer_for;"
        f"s = LLMServer({port}); s.answer_for = answer_for; s.serve_forever()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=common.ROOT, start_new_session=True)
    wait_for_port(port, 30, proc)
    return proc, f"http://127.0.0.1:{port}/v1"


def _setup():
    import logging

    import django

    django.setup()
    for name in ("httpx", "httpx2"):  # a line per model call is not what is measured
        logging.getLogger(name).setLevel(logging.WARNING)
    from accounts.services import user_create
    from chat.models import ModelEndpoint

    common.seed_demo_kb()
    server, base_url = _serve_fixture()
    for name in ("good-model", "bad-model"):
        ModelEndpoint.objects.create(
            name=name, base_url=base_url, api_key_env="EXP_BENCH_KEY", model=name
        )
    user, _ = user_create(username="bench-expert", role="expert", password="x")
    return server, user


def _child() -> dict:
    server, user = _setup()
    from experiments import services
    from experiments.services import ArmSpec

    arms = [
        ArmSpec(label="good", model_key="endpoint:good-model"),
        ArmSpec(label="bad", model_key="endpoint:bad-model"),
    ]
    ids = _questions(QUESTIONS, user)
    experiment = services.experiment_create(
        user=user, name="bench", arms=arms, question_ids=ids, enqueue=False
    )
    started = time.perf_counter()
    experiment = services.experiment_run(experiment_id=experiment.pk)
    run_s = time.perf_counter() - started
    assert experiment.done == 2 * QUESTIONS and experiment.status == "done", experiment.error
    _log(f"experiment {QUESTIONS} x 2: {run_s:.1f}s ({experiment.failed} failed)")

    page_ids = ids + _questions(PAGE_QUESTIONS - QUESTIONS, user)
    big = services.experiment_create(
        user=user, name="page", arms=arms, question_ids=page_ids, enqueue=False
    )
    services.experiment_run(experiment_id=big.pk)
    p95 = _page_p95(big, user)
    server.terminate()
    return {
        "experiment_1k_x2_s": {
            "value": round(run_s, 2),
            "unit": "s",
            "target": "<= 60",
            "n": 2 * QUESTIONS,
        },
        "experiment_results_p95_ms_10k": {
            "value": round(p95, 1),
            "unit": "ms",
            "target": "<= 200",
            "n": 2 * len(page_ids),
        },
    }


def _page_p95(experiment, user) -> float:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    url = reverse("experiments:detail", args=[experiment.pk])
    assert client.get(url).status_code == 200  # warm-up
    times = []
    for _ in range(PAGE_ROUNDS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    _log(f"results page: median {times[len(times) // 2]:.0f} ms, max {times[-1]:.0f} ms")
    return times[min(len(times) - 1, int(0.95 * len(times)))]


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(json.dumps(run(), indent=2))
