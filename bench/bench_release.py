"""Approving and releasing at the issue #17 workload: 20,000 interactions (a 60-character
question, a 400-character answer, three 300-character passages — the ingestion bench's
shape), all approved as examples by a lead, then one release of all of them.

* examples_approve_per_s — `annotations.services.examples_approve_bulk` (what the bulk
  "approve as examples" action and the demo run) over all 20,000 turns: examples/s.
* release_build_s_20k — `datasets.services.release_build` of a release of every example in
  every format (the define form's default: four JSONL formats and the Hugging Face
  dataset): snapshot, dedup, PII scrub, files, validation, card, manifest. Wall seconds.
* storage_bytes_per_example — what an approved example and its release item take in SQLite,
  from the database's own page statistics (the `dbstat` table: the pages of the example,
  example-reviewer and release-item tables and their indexes), per example.

Own database: a temp SQLite file, in a child process so its Django configuration never
mixes with other benchmarks. BENCH_RELEASE_EXAMPLES sets the size (default 20,000);
BENCH_RELEASE_DATABASE_URL runs the first two figures on another database (PostgreSQL);
BENCH_RELEASE_DIR keeps the database there and, when it is already filled, reruns only
the build; BENCH_RELEASE_PROFILE=1 prints a cProfile of the build (top 40 by cumulative
time, or by BENCH_RELEASE_PROFILE_SORT).

The build runs in a child of its own (after the one that fills the database), so its
peak RSS is the build's: release_build_peak_rss_mb is that child's maxrss (Django set up,
the release defined, then the build), beside its RSS before the build.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BENCH_RELEASE_EXAMPLES", "20000"))
INGEST_BATCH = 500


def run() -> dict:
    keep = os.environ.get("BENCH_RELEASE_DIR")  # reuse its data: only the build is rerun
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-release-"))
    tmp.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("BENCH_RELEASE_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EXPORT_DIR": str(tmp / "exports"),
        "REVIEWHUB_VAR_DIR": str(tmp / "var"),
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
    }
    try:
        results = {}
        for step in ("--fill", "--build"):
            proc = subprocess.run(
                [sys.executable, __file__, step],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            sys.stderr.write(proc.stderr)
            if proc.returncode != 0:
                raise RuntimeError(f"bench_release child failed:\n{proc.stdout[-3000:]}")
            results.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        return results
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


log = functools.partial(common.log, "bench_release")


def interactions(n: int) -> list[dict]:
    """The ingestion bench's interactions (bench_chat), with a few PII hits as real traffic
    has: every 50th answer carries an e-mail address, every 70th a phone number."""
    rng = random.Random(17)
    words = common.kb_words()
    items = []
    for i in range(n):
        answer = common.text(rng, words, 400)
        if i % 50 == 0:
            answer += f" Write to support{i}@example.com for help."
        if i % 70 == 0:
            answer += " Or call +1 415 555 0132."
        items.append(
            {
                "question": common.text(rng, words, 60).rstrip() + "?",
                "answer": answer,
                "model": "gpt-4o-mini",
                "context": [
                    {
                        "text": common.text(rng, words, 300),
                        "source": f"docs/page-{rng.randint(1, 99)}.md",
                        "score": round(rng.random(), 3),
                    }
                    for _ in range(3)
                ],
            }
        )
    return items


# --- the child -------------------------------------------------------------------------------


def child(step: str) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    results = {}
    if step == "--fill":
        call_command("migrate", verbosity=0)
        if not User.objects.filter(username="bench_lead").exists():
            user, lead, lead2 = _users()
            results.update(bench_approve(lead, _ingest(user)))
    else:
        lead = User.objects.get(username="bench_lead")
        lead2 = User.objects.get(username="bench_lead2")
        results.update(bench_build(lead, lead2))
        from django.db import connection

        if connection.vendor == "sqlite":
            results.update(storage())
    print(json.dumps(results))


def _users():
    from accounts.services import user_create

    people = (("bench_user", "end_user"), ("bench_lead", "lead"), ("bench_lead2", "lead"))
    return tuple(
        user_create(username=name, role=role, password="bench-pass-1")[0] for name, role in people
    )


def _ingest(user) -> list:
    from django.db import transaction

    from chat.services import interactions_ingest

    items = interactions(N)
    t0 = time.perf_counter()
    ids = []
    for start in range(0, N, INGEST_BATCH):
        with transaction.atomic():
            results = interactions_ingest(user=user, items=items[start : start + INGEST_BATCH])
        ids += [turn_id for _, turn_id, _ in results]
    log(f"ingested {N:,} interactions in {time.perf_counter() - t0:.1f}s")
    return ids


def bench_approve(lead, ids: list) -> dict:
    from annotations.services import examples_approve_bulk

    t0 = time.perf_counter()
    result = examples_approve_bulk(turn_ids=ids, actor=lead, reason="bench: curated set")
    elapsed = time.perf_counter() - t0
    assert result["approved"] == len(ids), result
    log(f"approved {len(ids):,} examples in {elapsed:.2f}s")
    return {
        "examples_approve_per_s": {
            "value": round(len(ids) / elapsed),
            "unit": "examples/s",
            "target": ">= 2000",
            "n": len(ids),
        }
    }


def bench_build(lead, lead2) -> dict:
    from datasets import services
    from datasets.models import Format, Release

    Release.objects.filter(name="bench").delete()  # a rerun's (BENCH_RELEASE_DIR)
    release = services.release_create(
        user=lead, name="bench", version=1, filters={}, formats=list(Format.values)
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    rss_before = _maxrss_mb()
    profile = os.environ.get("BENCH_RELEASE_PROFILE")
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, cpu0 = time.perf_counter(), time.process_time()
    services.release_build(release_id=release.id)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = _maxrss_mb()
    if profile:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        order = os.environ.get("BENCH_RELEASE_PROFILE_SORT", "cumulative")
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)
        sys.stderr.write(out.getvalue())
    release.refresh_from_db()
    assert release.state == Release.State.BUILT, release.error
    counts = release.report["counts"]
    log(
        f"built a release of {counts['examples']:,} examples ({counts['selected']:,} selected) "
        f"in {elapsed:.2f}s ({cpu:.2f}s CPU); {len(release.report['files'])} files; "
        f"peak RSS {peak:.0f} MB ({rss_before:.0f} MB before the build)"
    )
    services.release_approve(release=release, user=lead2)
    return {
        "release_build_s_20k" if N == 20_000 else f"release_build_s_{N}": {
            "value": round(elapsed, 2),
            "unit": "s",
            "target": "<= 2.5",
            "n": counts["examples"],
        },
        "release_build_peak_rss_mb": {
            "value": round(peak),
            "unit": "MB",
            "target": f"report (the build's process; {rss_before:.0f} MB before the build)",
            "n": counts["examples"],
        },
    }


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def storage() -> dict:
    """Bytes per example from SQLite's page statistics: the example, reviewer and release
    item tables with their indexes."""
    from django.db import connection

    from annotations.models import Example
    from datasets.models import ReleaseItem

    tables = (
        Example._meta.db_table,
        Example.reviewers.through._meta.db_table,
        ReleaseItem._meta.db_table,
    )
    with connection.cursor() as c:
        c.execute(
            "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_schema m ON m.name = "
            f"s.name WHERE m.tbl_name IN ({', '.join(['%s'] * len(tables))}) GROUP BY m.tbl_name",
            tables,
        )
        per_table = dict(c.fetchall())
    examples = Example.objects.count()
    total = sum(per_table.values())
    shown = ", ".join(f"{name} {size / examples:,.0f}" for name, size in sorted(per_table.items()))
    log(f"bytes per example: {total / examples:,.0f} ({shown})")
    return {
        "storage_bytes_per_example": {
            "value": round(total / examples),
            "unit": "bytes",
            "target": "report (issue #17: ~7 KB before)",
            "n": examples,
        }
    }


if __name__ == "__main__":
    if sys.argv[1:] in (["--fill"], ["--build"]):
        child(sys.argv[1])
    else:
        from run import main

        sys.exit(main(["bench_release"]))
