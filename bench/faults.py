"""`make faults`: break things on purpose and count what users would notice.

Bounded (a few minutes at most, every wait has a deadline) and loopback only: its own
temporary SQLite database, filesystem broker, export folder and embedded graph server on
free local ports; the "down" Redis is a free local port where nothing listens.

Faults, in order:
1. Broker down during writes — bench/broker_down_writes.py in its own process with
   REDIS_URL on a closed port: a release creation, a replay creation and WRITES feedback
   writes through the real views. Then the same with the broker up, for the baseline.
2. Worker killed mid-build — a real Celery worker blocked inside the export (a temporary
   file on disk) is SIGKILLed; the sweeper (`reviewhub.jobs.job_sweep`) runs.
3. Recovery — a healthy worker starts, the sweeper runs once more: it sends the jobs
   saved while the broker was down and re-queues the killed build.
4. Graph server paused (SIGSTOP) while users ask questions through the chat view; resumed
   (SIGCONT) and drained: every turn must reach the graph.

Figures: requests tried, 5xx, rows lost, jobs recovered, temporary files removed, write
latency with the broker down against up, and what one refused enqueue costs.
Results go to bench/results.json like the other benchmarks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITES = int(os.environ.get("FAULTS_WRITES", "30"))
GRAPH_WRITES = int(os.environ.get("FAULTS_GRAPH_WRITES", "20"))
DEADLINE_S = 120
LEASE_S = 3


def _env(tmp: Path) -> dict:
    """The child's environment (the child and everything it starts share one queue)."""
    queue = os.environ.get("FAULTS_QUEUE") or f"faults-{os.getpid()}"
    return {
        "FAULTS_QUEUE": queue,
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "NEO4J_URL"}},
        "DATABASE_URL": f"sqlite:///{tmp / 'faults.sqlite3'}",
        "REVIEWHUB_VAR_DIR": str(tmp / "var"),
        "EXPORT_DIR": str(tmp / "exports"),
        "REVIEWHUB_BROKER_DIR": str(tmp / "broker"),
        "REVIEWHUB_QUEUE": queue,
        "JOB_LEASE_S": str(LEASE_S),  # a dead run is noticed after 3 s here (120 s by default)
        "CHAT_DAILY_QUESTION_LIMIT": "10000",
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "PYTHONPATH": str(ROOT),
        "OPENAI_API_KEY": "",
    }


def run() -> dict:
    """Run the faults in a child process (its own settings), return the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(tmp)],
            cwd=ROOT,
            env=_env(tmp),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-4000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- the child ----------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"faults: {msg}", file=sys.stderr, flush=True)


def _wait(predicate, what: str, timeout: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    _log(f"gave up waiting: {what}")
    return False


def _seed() -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.services import user_create
    from chat import services as chat
    from tests.factories import make_examples

    users = {
        name: user_create(username=name, role=role, password="pw-" + name)[0]
        for name, role in (("lena", "lead"), ("erin", "expert"), ("uma", "end_user"))
    }
    make_examples(users["lena"], 30)
    conversation = chat.conversation_create(user=users["uma"])
    turn = chat.chat_ask(
        conversation=conversation, user=users["uma"], question="How do I restore?", grounded=False
    )
    return {"users": users, "turn": turn}


def _writes(env: dict, seed: dict, *, broker_down: bool) -> dict:
    from tests.conftest import free_port

    run_env = {**env}
    if broker_down:
        run_env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    args = ["lena", "erin", "uma", str(seed["turn"].id), str(WRITES)]
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "broker_down_writes.py"), *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


BLOCK_IN_EXPORT = """
import os, time
_real_replace = os.replace
def _blocking_replace(src, dst):
    if str(src).endswith(".tmp"):
        open(os.environ["RH_BLOCK_MARKER"], "w").write(str(dst))
        time.sleep(600)
    return _real_replace(src, dst)
os.replace = _blocking_replace
"""


def _worker(env: dict, log, prelude: str = "") -> subprocess.Popen:
    from tests.conftest import start_worker

    return start_worker(env, log, prelude=prelude)


def _start_graph(tmp: Path) -> tuple[subprocess.Popen, str]:
    from django.conf import settings

    from reviewhub.graphdb import configure, wait_until_ready
    from tests.conftest import free_port, wait_for_port

    bolt, http = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "graphserver"]
        + ["--bolt-port", str(bolt), "--http-port", str(http), "--data-dir", str(tmp / "graph")],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(bolt, DEADLINE_S, proc)
    url = f"bolt://root:{settings.GRAPH_PASSWORD}@127.0.0.1:{bolt}/{settings.GRAPH_DATABASE}"
    wait_until_ready(DEADLINE_S, url, alive=lambda: proc.poll() is None)
    settings.NEO4J_URL = url
    configure(url)
    from django.core.management import call_command

    call_command("graph_install", stdout=open(os.devnull, "w"))
    return proc, url


def _graph_paused(graph: subprocess.Popen, seed: dict) -> dict:
    """Questions asked through the chat view while the graph server is frozen."""
    from django.test import Client
    from django.urls import reverse
    from neomodel import db

    from chat.models import Turn
    from graph.drain import drain, pending_count

    client = Client()
    client.force_login(seed["users"]["uma"])
    conversation = seed["turn"].conversation
    url = reverse("chat:ask", args=[conversation.id])
    before = set(Turn.objects.values_list("id", flat=True))
    statuses, times = [], []
    os.killpg(graph.pid, signal.SIGSTOP)
    try:
        for i in range(GRAPH_WRITES):
            start = time.perf_counter()
            response = client.post(url, {"question": f"Paused graph question {i}?"})
            times.append((time.perf_counter() - start) * 1000)
            statuses.append(response.status_code)
    finally:
        os.killpg(graph.pid, signal.SIGCONT)
    asked = [str(pk) for pk in Turn.objects.exclude(id__in=before).values_list("id", flat=True)]
    deadline = time.monotonic() + DEADLINE_S
    while pending_count() and time.monotonic() < deadline:
        try:
            drain(time_budget=30)
        except Exception as exc:  # the server is waking up; try again
            _log(f"drain: {exc}")
            time.sleep(1)
    rows, _ = db.cypher_query(
        "MATCH (m:Message {role: 'assistant'}) WHERE m.uid IN $ids RETURN count(m)", {"ids": asked}
    )
    return {
        "tried": len(statuses),
        "5xx": sum(s >= 500 for s in statuses),
        "saved": len(asked),
        "in_graph": rows[0][0],
        "write_ms_median": statistics.median(times),
    }


def child(tmp: Path) -> dict:
    import django

    django.setup()
    from chat.models import Feedback
    from datasets import selectors, services
    from datasets.models import Release
    from experiments.models import Experiment
    from reviewhub.jobs import job_sweep

    env = _env(tmp)
    seed = _seed()
    _log("seeded; starting the graph server")
    graph, graph_url = _start_graph(tmp)
    env["NEO4J_URL"] = graph_url
    logs = open(tmp / "workers.log", "w")
    workers: list[subprocess.Popen] = []
    try:
        # 1. a worker killed in the middle of a release build
        _log("1. a worker killed mid-build")
        lead = seed["users"]["lena"]
        killed = services.release_create(
            user=lead, name="killed", version=1, filters={}, formats=["openai_chat"]
        )
        services.release_request_build(release=killed, user=lead, enqueue=False)
        marker = tmp / "blocked"
        doomed = _worker({**env, "RH_BLOCK_MARKER": str(marker)}, logs, prelude=BLOCK_IN_EXPORT)
        workers.append(doomed)
        job_sweep()  # sends the build (saved without a message, as if the broker was down)
        _wait(marker.exists, "the build to reach the export")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
        folder = selectors.release_folder(killed)
        temp_left = len(list(folder.glob(".*.tmp")))
        time.sleep(LEASE_S + 0.5)  # the dead run's heartbeat is now older than its lease
        swept = job_sweep()
        temp_after_sweep = len(list(folder.glob(".*.tmp")))

        # 2. broker down during writes (and the same writes with it up, for the baseline)
        _log("2. writes with the broker down, then up")
        down = _writes(env, seed, broker_down=True)
        up = _writes(env, seed, broker_down=False)
        down_release = Release.objects.filter(name__startswith="outage-").order_by("created_at")[0]
        down_replay = Experiment.objects.order_by("created_at")[0]  # a replay is one
        statuses = [down["release"]["status"], down["replay"]["status"]]
        statuses += [w["status"] for w in down["writes"]]
        last_rating = "up" if (WRITES - 1) % 2 else "down"
        feedback = Feedback.objects.filter(turn=seed["turn"]).first()
        rows_lost = (
            (down["release"]["status"] == 302 and down_release is None)
            + (down["replay"]["status"] == 302 and down_replay is None)
            + (feedback is None or feedback.rating != last_rating)
        )
        waiting = sum(
            j.waiting_for_worker and "unreachable" in j.job_note
            for j in (down_release, down_replay)
        )

        # 3. recovery: a healthy worker, the sweeper sends what the outage left waiting
        _log("3. recovery")
        workers.append(_worker(env, logs))
        swept_after_outage = job_sweep()

        def states() -> list[bool]:
            return [
                Release.objects.get(id=down_release.id).state == "built",
                Experiment.objects.get(id=down_replay.id).status == "done",
                Release.objects.get(id=killed.id).state == "built",
            ]

        _wait(lambda: all(states()), "the recovered jobs to finish")
        recovered = sum(states())

        # 4. the graph server paused while users ask questions
        _log("4. graph server paused")
        paused = _graph_paused(graph, seed)
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        os.killpg(graph.pid, signal.SIGTERM)
        try:
            graph.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(graph.pid, signal.SIGKILL)
        logs.close()

    down_times = [w["ms"] for w in down["writes"]]
    up_times = [w["ms"] for w in up["writes"]]
    return {
        "faults_broker_down_requests": {"value": len(statuses), "unit": "requests", "n": 1},
        "faults_broker_down_5xx": {
            "value": sum(s >= 500 for s in statuses),
            "unit": "responses",
            "target": "0",
            "n": len(statuses),
        },
        "faults_broker_down_rows_lost": {"value": rows_lost, "unit": "rows", "target": "0", "n": 3},
        "faults_broker_down_jobs_shown_waiting": {
            "value": waiting,
            "unit": "jobs",
            "target": "2",
            "n": 2,
        },
        "faults_broker_down_write_ms_first": {
            "value": round(down_times[0], 1),
            "unit": "ms",
            "target": "<= 100",
            "n": 1,
        },
        "faults_broker_down_write_extra_ms_median": {
            "value": round(statistics.median(down_times[1:]) - statistics.median(up_times[1:]), 2),
            "unit": "ms",
            "target": "<= 5 (a write with the broker known down, against up)",
            "n": len(down_times) - 1,
        },
        "faults_broker_down_write_ms_median": {
            "value": round(statistics.median(down_times[1:]), 1),
            "unit": "ms",
            "n": len(down_times) - 1,
        },
        "faults_broker_up_write_ms_median": {
            "value": round(statistics.median(up_times[1:]), 1),
            "unit": "ms",
            "n": len(up_times) - 1,
        },
        "faults_refused_enqueue_us": {
            "value": round(down["refused_enqueue_ms"] * 1000, 1),
            "unit": "µs",
            "target": "<= 1000",
            "n": 100,
        },
        "faults_killed_build_temp_files_left": {"value": temp_left, "unit": "files", "n": 1},
        "faults_killed_build_temp_files_after_sweep": {
            "value": temp_after_sweep,
            "unit": "files",
            "target": "0",
            "n": 1,
        },
        "faults_killed_build_requeued": {
            "value": swept["requeued"],
            "unit": "jobs",
            "target": "1",
            "n": 1,
        },
        "faults_jobs_recovered": {"value": recovered, "unit": "jobs", "target": "3", "n": 3},
        "faults_jobs_sent_by_sweeper_after_outage": {
            "value": swept_after_outage["enqueued"],
            "unit": "jobs",
            "target": "2",
            "n": 2,
        },
        "faults_graph_paused_requests": {"value": paused["tried"], "unit": "requests", "n": 1},
        "faults_graph_paused_5xx": {
            "value": paused["5xx"],
            "unit": "responses",
            "target": "0",
            "n": paused["tried"],
        },
        "faults_graph_paused_rows_lost": {
            "value": paused["saved"] - paused["in_graph"],
            "unit": "turns",
            "target": "0",
            "n": paused["saved"],
        },
        "faults_graph_paused_write_ms_median": {
            "value": round(paused["write_ms_median"], 1),
            "unit": "ms",
            "n": paused["tried"],
        },
    }


def main() -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from run import machine, print_table

    figures = run()
    out = ROOT / "bench" / "results.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update({k: {**v, "machine": machine()} for k, v in figures.items()})
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print_table(figures)
    bad = [
        k
        for k in (
            "faults_broker_down_5xx",
            "faults_broker_down_rows_lost",
            "faults_graph_paused_5xx",
            "faults_graph_paused_rows_lost",
        )
        if figures[k]["value"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(Path(sys.argv[2]))))
    else:
        sys.exit(main())
