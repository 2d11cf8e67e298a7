"""Topic discovery: quality against known topics, and time and memory at 100k questions.

The question set is bench/topics_data.py (24 topics, paraphrases with shared filler words,
contexts from topic-specific passages, deterministic). Each size runs `topics.discovery.
discover` in its own child process, so the peak RSS reported is that run's alone
(`resource.getrusage(RUSAGE_CHILDREN)` after the child exits; it includes building the
100k questions in Python, ~100 MB).

- `topics_ari`: adjusted Rand index of the discovered topics against the known ones over
  the 100k set ("other" counts as one more label), target ≥ 0.80;
- `topics_ari_2400`: the same on 100 questions a topic (the exact, unsampled path);
- `topics_discover_s_100k`: wall time of `discover` on 100,000 questions, target ≤ 120 s;
- `topics_peak_rss_mb_100k`: peak resident memory of that child, target ≤ 1,024 MB;
- `topics_job_s_100k` / `topics_job_rss_mb_100k`: the whole job as a lead starts it
  (`topics.services.topics_discover`: read 100k logged turns and their contexts from SQLite,
  discover, store topics and memberships, primary topics, outbox rows and review-queue
  refresh), in a child process on a fresh SQLite database. Set BENCH_TOPICS_JOB=0 to skip.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_TOPIC_100K = 4167  # × 24 topics = 100,008 questions
PER_TOPIC_SMALL = 100


def run() -> dict:
    small = _child(PER_TOPIC_SMALL)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    big = _child(PER_TOPIC_100K)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    if peak_mb * 1024 <= before:  # the big child must be the peak; say so if not
        peak_mb = big["rss_mb"]
    figures = {
        "topics_ari": {
            "value": round(big["ari"], 3),
            "unit": "ARI",
            "target": ">= 0.80",
            "n": big["n"],
        },
        "topics_ari_2400": {
            "value": round(small["ari"], 3),
            "unit": "ARI",
            "target": ">= 0.80",
            "n": small["n"],
        },
        "topics_discover_s_100k": {
            "value": round(big["seconds"], 1),
            "unit": "s",
            "target": "<= 120",
            "n": big["n"],
        },
        "topics_peak_rss_mb_100k": {
            "value": round(peak_mb, 1),
            "unit": "MB",
            "target": "<= 1024",
            "n": big["n"],
        },
    }
    if os.environ.get("BENCH_TOPICS_JOB", "1") != "0":
        job = _job()
        figures["topics_job_s_100k"] = {
            "value": round(job["seconds"], 1),
            "unit": "s",
            "n": job["n"],
        }
        figures["topics_job_rss_mb_100k"] = {
            "value": round(job["rss_mb"], 1),
            "unit": "MB",
            "target": "<= 1024",
            "n": job["n"],
        }
    return figures


def _job() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-topics-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "OPENAI_API_KEY"}},
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "REVIEWHUB_BROKER_DIR": str(tmp / "broker"),
        "REVIEWHUB_VAR_DIR": str(tmp / "var"),
        "DEBUG": "false",
        "SECRET_KEY": "bench-only",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "PYTHONPATH": str(ROOT),
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            env=env,
            cwd=ROOT,
            check=True,
        )
        for phase in ("--load", "--job"):
            proc = subprocess.run(
                [sys.executable, __file__, phase, str(PER_TOPIC_100K)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"bench_topics {phase} failed:\n{proc.stderr[-3000:]}")
            sys.stderr.write(proc.stderr)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(per_topic: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from tests.factories import log_questions

    started = time.perf_counter()
    user = get_user_model().objects.create(username="bench")
    made = log_questions(user, per_topic=per_topic)
    sys.stderr.write(f"  logged {len(made):,} turns in {time.perf_counter() - started:.0f} s\n")


def job() -> None:
    import django

    django.setup()
    from chat.models import Turn
    from topics.services import topics_discover

    started = time.perf_counter()
    found, _ = topics_discover(seed=0)
    seconds = time.perf_counter() - started
    n = Turn.objects.count()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stderr.write(f"  whole job over {n:,} logged turns: {seconds:.1f} s, {found} topics\n")
    print(json.dumps({"n": n, "seconds": seconds, "rss_mb": rss_mb}))


def _child(per_topic: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(per_topic)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench_topics child failed:\n{proc.stdout}\n{proc.stderr}")
    sys.stderr.write(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(per_topic: int) -> None:
    from sklearn.metrics import adjusted_rand_score

    from bench.topics_data import questions
    from topics.discovery import Params, discover

    qs = questions(per_topic)
    texts, contexts = [q.text for q in qs], [q.chunks for q in qs]
    started = time.perf_counter()
    result = discover(texts, contexts, params=Params(seed=0))
    seconds = time.perf_counter() - started
    ari = adjusted_rand_score([q.topic for q in qs], result.labels)
    sys.stderr.write(
        f"  {len(qs):,} questions: {seconds:.1f} s, {len(result.communities)} topics, "
        f"{int((result.labels < 0).sum())} in other, ARI {ari:.3f}\n"
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": len(qs), "seconds": seconds, "ari": ari, "rss_mb": rss_mb}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.path.insert(0, str(ROOT))
        child(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--load"]:
        load(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--job"]:
        job()
    else:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(run(), indent=2))
