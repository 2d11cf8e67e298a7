"""The outbox drain of API-ingested interactions alone, on its own embedded graph server.

The workload of bench_stack (bench_chat's interactions: a question, an answer, 3 context
passages from ~99 sources, one conversation each) stored through the ingestion service into a
temp SQLite database, then drained by `graph.drain.drain()` in this process. A warm-up round
first (the JVM compiles as it goes), then BENCH_DRAIN_ROUNDS rounds of BENCH_DRAIN_TURNS turns,
each ingested and then drained; per round it prints the wall time, the graph server's CPU
(utime + stime of its process, from /proc) and this process's CPU, per turn.

BENCH_DRAIN_STATEMENTS=1 prints each statement's wall time and rows. BENCH_DRAIN_JFR=<file>
profiles the graph server with Java Flight Recorder (the wheel's JRE has it): the recording is
dumped there by `jcmd` (a JDK's, on PATH) before the server stops, and the hottest methods are
printed (self and inclusive, ArcadeDB's, from the wheel's `jfr` tool). Measured so on 4,000 API
turns: record allocation scanning a 64 KB bucket page for free space ~12%, unique-index
lookups and inserts ~10%, the Cypher CREATE steps, commit; password hashing of new Bolt
connections ~2%. The engine's bucketDefaultPageSize 16K, indexDefaultPageSize 32-64K and
bucketReuseSpaceMode=low moved graph CPU per turn within the noise (±5%).

For iterating on graph/projection.py; the figure that counts is bench_stack's
graph_fresh_s_20k, so this is a script, not one of `make bench`'s benchmarks (no `bench_`
prefix, no `run()`). Run: .venv/bin/python bench/drain_api.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

TURNS = int(os.environ.get("BENCH_DRAIN_TURNS", "4000"))
ROUNDS = int(os.environ.get("BENCH_DRAIN_ROUNDS", "2"))
WARM = int(os.environ.get("BENCH_DRAIN_WARM", "2000"))


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


STATEMENTS: dict[str, list[float]] = {}


def _time_statements(db) -> None:
    """Wall time and rows of each statement (by its text), printed after each round."""
    import threading

    run, lock = db.cypher_query, threading.Lock()

    def timed(query, params=None, *args, **kwargs):
        started = time.monotonic()
        try:
            return run(query, params, *args, **kwargs)
        finally:
            with lock:
                entry = STATEMENTS.setdefault(" ".join(query.split())[:150], [0, 0.0, 0])
                entry[0] += 1
                entry[1] += time.monotonic() - started
                entry[2] += len((params or {}).get("rows") or [])

    db.cypher_query = timed


def _threads(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, summed by thread name (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in os.scandir(f"/proc/{pid}/task"):
        try:
            with open(f"{entry.path}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")].rstrip("0123456789-")
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _print_threads(before: dict[str, float], after: dict[str, float]) -> None:
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    top = sorted(spent.items(), key=lambda kv: -kv[1])[:8]
    print("  graph server threads (CPU s): " + ", ".join(f"{k or '?'} {v:.2f}" for k, v in top))


def _print_statements() -> None:
    for query, (calls, wall, rows) in sorted(STATEMENTS.items(), key=lambda kv: -kv[1][1]):
        print(f"  {wall:7.2f} s {calls:5d} calls {rows:7d} rows  {query}", flush=True)
    STATEMENTS.clear()


def child(tmp: str) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from neomodel import db

    from bench.bench_graph import _start_graph
    from chat import services
    from chat.openapi import INTERACTION_LIST, service_items
    from graph.drain import drain

    call_command("migrate", verbosity=0)
    if os.environ.get("BENCH_DRAIN_STATEMENTS"):
        _time_statements(db)
    if os.environ.get("BENCH_DRAIN_JFR"):  # the server's JVM arguments, plus the recorder
        from django.conf import settings

        os.environ["GRAPH_JVM_ARGS"] = (
            f"{settings.GRAPH_JVM_ARGS} -XX:StartFlightRecording=settings=profile"
        )
    proc = _start_graph(tmp)
    try:
        user = User.objects.create(username="api")
        rng = random.Random(17)
        words = common.kb_words()

        def ingest(n: int) -> None:
            for start in range(0, n, 500):
                items = [common.interaction(rng, words) for _ in range(min(500, n - start))]
                body = INTERACTION_LIST.validate_json(json.dumps(items))
                services.interactions_ingest(user=user, items=service_items(body))

        for label, n in [("warm-up", WARM)] + [(f"round {i + 1}", TURNS) for i in range(ROUNDS)]:
            ingest(n)
            threads0 = _threads(proc.pid)
            graph0, own0, wall0 = common.cpu_seconds(proc.pid), _own_cpu(), time.monotonic()
            synced = drain(batch_size=int(os.environ.get("BENCH_DRAIN_BATCH", "500")))
            wall, graph, own = (
                time.monotonic() - wall0,
                common.cpu_seconds(proc.pid) - graph0,
                _own_cpu() - own0,
            )
            print(
                f"{label}: {n} turns, {synced} rows: wall {wall:.2f} s ({n / wall:.0f} turns/s), "
                f"graph CPU {graph * 1000 / n:.3f} ms/turn, drain CPU {own * 1000 / n:.3f} "
                f"ms/turn, load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            _print_threads(threads0, _threads(proc.pid))
            _print_statements()
        counts = db.cypher_query("MATCH (n) RETURN labels(n)[0], count(*) ORDER BY labels(n)[0]")[0]
        print("nodes:", dict(counts), flush=True)
    finally:
        if os.environ.get("BENCH_DRAIN_JFR"):
            subprocess.run(
                ["jcmd", str(proc.pid), "JFR.dump", f"filename={os.environ['BENCH_DRAIN_JFR']}"],
                check=False,
                stdout=subprocess.DEVNULL,
            )
        proc.terminate()
        proc.wait(30)


def _print_profile(recording: str, top: int = 25) -> None:
    """The hottest methods of a JFR recording's execution samples."""
    import re
    from collections import Counter

    from arcadedb_embedded import jvm

    jfr = Path(jvm.__file__).parent / "jre" / "bin" / "jfr"
    text = subprocess.run(
        [str(jfr), "print", "--events", "jdk.ExecutionSample", recording],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    own, inclusive = Counter(), Counter()
    for event in text.split("jdk.ExecutionSample")[1:]:
        frames = re.findall(r"^\s+([\w.$<>]+)\(", event, re.M)
        if frames:
            own[frames[0]] += 1
            inclusive.update(f for f in set(frames) if f.startswith("com.arcadedb."))
    n = sum(own.values())
    print(f"graph server profile, {n} samples; self:")
    for name, count in own.most_common(top):
        print(f"  {count * 100 / n:5.1f}% {name}")
    print("inclusive (ArcadeDB):")
    for name, count in inclusive.most_common(top):
        print(f"  {count * 100 / n:5.1f}% {name}")


def main() -> None:
    recording = os.environ.get("BENCH_DRAIN_JFR")
    with tempfile.TemporaryDirectory(prefix="rh-bench-drain-") as tmp:
        env = common.sqlite_env(tmp, without={"NEO4J_URL", "REDIS_URL"}, REVIEWHUB_VAR_DIR=tmp)
        subprocess.run(
            [sys.executable, __file__, "--child", tmp], env=env, cwd=common.ROOT, check=True
        )
    if recording:
        _print_profile(recording)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
