"""The whole `make run` stack under a 20,000-interaction workload (issue #17).

The stack is started the way `make run` starts it (migrate, collectstatic, seed_demo
--unless-production, then `manage.py serve_all`: the embedded graph server, a Celery worker,
beat, gunicorn, under the supervisor), on a temporary SQLite database, filesystem broker and
graph folder with free ports; on PostgreSQL (a database of its own) when DATABASE_URL is set,
with Redis as the broker when REDIS_URL is set. Then:

1. 20,000 interactions are POSTed to /api/v1/interactions in batches of 500 (one client, the
   workload of bench_chat: a question, an answer and 3 context passages, ~1.4 KB of text);
2. the outbox is polled (in SQL, from here) until every turn's row is synced, then the graph
   (over Bolt) is checked to hold every one of them;
3. a lead approves all 20,000 as examples with the bulk service
   (`annotations.services.examples_approve_bulk`);
4. a release of them is built by the stack's worker (`release_create(build=True)`, the path
   the release page takes), and the graph is polled until the release includes all 20,000.

Figures:
* graph_fresh_s_20k — from the last batch's response until all 20,000 answers (and their
  questions) are Message nodes in the graph.
* graph_release_fresh_s_20k — from the release's `built_at` until the graph has the Release
  node, state built, with 20,000 INCLUDES edges.
* stack_peak_rss_mb_20k — the peak of the summed RSS of every process the stack runs
  (serve_all and all its descendants), sampled from /proc every SAMPLE_S over the whole
  workload; RSS counts pages shared between processes once per process, so this is an upper
  bound of what the stack holds (the peak of the summed PSS, which counts a shared page
  once, is printed beside it and kept as `pss_mb`). The supervisor's own peak is serve_all's
  Django start, before it execs into the plain supervisor script; the "other" part is the
  graph's readiness check (`manage.py graph_install --wait`), also at start-up only.
* web_peak_rss_mb_20k — the same for the web part alone (gunicorn's master and workers).

Per-part peaks are printed too. Run: .venv/bin/python bench/run.py stack
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
N, BATCH = 20_000, 500
SAMPLE_S = 0.2
DEADLINE_S = 900
FORMATS = os.environ.get("BENCH_STACK_FORMATS", "openai_chat").split(",")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- memory: the process tree from /proc ---------------------------------------------------


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), cmd)
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def _pss(pid: int) -> int:
    """Proportional set size: a page shared by n processes counts 1/n in each."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _part(cmd: str) -> str:
    for part, marker in (
        ("graph", "graph/server.py"),
        ("worker", " worker "),
        ("beat", " beat "),
        ("web", "gunicorn"),
    ):
        if marker in cmd:
            return part
    return "other"


class Sampler(threading.Thread):
    """Samples the RSS of `root` and all its descendants, by part (serve_all's children)."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.peak_total = 0
        self.peak_pss = 0  # the same sum by PSS (shared pages counted once in all)
        self.phase = "start-up"  # what the stack is doing: the peak total per phase
        self.phase_peaks: dict[str, int] = {}
        self.phase_parts: dict[str, dict[str, int]] = {}  # each part's RSS at that peak
        self.peaks: dict[str, int] = {}
        self.running = threading.Event()
        self.running.set()

    def run(self) -> None:
        while self.running.is_set():
            self.sample()
            time.sleep(SAMPLE_S)

    def sample(self) -> dict[str, int]:
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        totals = {"supervisor": _rss(self.root)}
        pss = _pss(self.root)
        for child in children.get(self.root, []):
            part = _part(procs[child][1])
            todo, size = [child], 0
            while todo:
                pid = todo.pop()
                size += _rss(pid)
                pss += _pss(pid)
                todo.extend(children.get(pid, []))
            totals[part] = totals.get(part, 0) + size
        self.peak_total = max(self.peak_total, sum(totals.values()))
        self.peak_pss = max(self.peak_pss, pss)
        total = sum(totals.values())
        if total > self.phase_peaks.get(self.phase, 0):
            self.phase_peaks[self.phase] = total
            self.phase_parts[self.phase] = totals
        for part, size in totals.items():
            self.peaks[part] = max(self.peaks.get(part, 0), size)
        return totals

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each part's live processes."""
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        totals: dict[str, float] = {}
        for child in children.get(self.root, []):
            part, todo = _part(procs[child][1]), [child]
            while todo:
                pid = todo.pop()
                totals[part] = totals.get(part, 0.0) + _cpu_s(pid)
                todo.extend(children.get(pid, []))
        return totals

    def stop(self) -> None:
        self.running.clear()
        self.join()


# --- the graph, read over Bolt --------------------------------------------------------------


class Graph:
    def __init__(self, port: int, password: str, database: str):
        from neo4j import GraphDatabase

        self.driver = GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("root", password))
        self.database = database

    def value(self, query: str, **params):
        with self.driver.session(database=self.database) as session:
            return session.run(query, **params).single()[0]

    def messages(self) -> int:
        return self.value("MATCH (m:Message) RETURN count(m)")

    def missing(self, uids: list[str]) -> int:
        # One index seek per id: `WHERE m.uid IN $uids` is not answered from the index by
        # the embedded server but compared against every Message (20,000 × 40,000 string
        # comparisons: ~25 s of its CPU, which the CPU printed for after the ingest counted).
        found = self.value(
            "UNWIND $uids AS uid MATCH (m:Message {uid: uid}) RETURN count(m)", uids=uids
        )
        return len(uids) - found

    def release(self, uid: str) -> tuple[str | None, int]:
        with self.driver.session(database=self.database) as session:
            row = session.run(
                "MATCH (r:Release {uid: $uid}) OPTIONAL MATCH (r)-[:INCLUDES]->(e:Example) "
                "RETURN r.status, count(e)",
                uid=uid,
            ).single()
        return (row[0], row[1]) if row else (None, 0)

    def close(self) -> None:
        self.driver.close()


class Outbox:
    """The stack's outbox table, read over a connection of this process (no Django here)."""

    def __init__(self, database_url: str):
        if database_url.startswith("sqlite:///"):
            import sqlite3

            self.conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(database_url, autocommit=True)
            self.mark = "%s"

    def pending(self, entity: str) -> int:
        """Rows a drain would still claim (as graph.drain.pending_count), of one entity."""
        query = (
            "SELECT count(*) FROM graph_outboxentry WHERE synced_at IS NULL "
            f"AND quarantined_at IS NULL AND entity = {self.mark}"
        )
        return self.conn.execute(query, (entity,)).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def _poll(check, what: str, interval: float = 0.5) -> float:
    """Call check() until it is true; returns the wall-clock time it first was."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(interval)
    raise RuntimeError(f"gave up after {DEADLINE_S} s waiting for {what}")


# --- the stack ------------------------------------------------------------------------------


def _env(tmp: Path, database_url: str) -> dict:
    keep = {k: v for k, v in os.environ.items() if k not in {"NEO4J_URL", "DATABASE_URL", "DEBUG"}}
    keep.update(
        DATABASE_URL=database_url,
        REVIEWHUB_VAR_DIR=str(tmp / "var"),
        REVIEWHUB_BROKER_DIR=str(tmp / "broker"),
        REVIEWHUB_QUEUE=f"bench-stack-{os.getpid()}",
        STATIC_ROOT=str(tmp / "static"),
        EXPORT_DIR=str(tmp / "exports"),
        GRAPH_DATA_DIR=str(tmp / "graph"),
        GRAPH_BOLT_PORT=str(common.free_port()),
        GRAPH_HTTP_PORT=str(common.free_port()),
        PORT=str(common.free_port()),
        OPENAI_API_KEY="",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="reviewhub.settings",
        PYTHONPATH=str(ROOT),
    )
    return keep


def _manage(env: dict, *args: str) -> None:
    out = subprocess.run(
        [PY, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")


def _wait_healthy(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the stack did not become healthy:\n{log.read_text()[-3000:]}")


def _ingest(port: int, token: str) -> tuple[list[str], float, float]:
    """POST N interactions in batches; returns their ids, the rate and when the last
    batch was answered."""
    rng = random.Random(17)
    words = common.kb_words()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [[common.interaction(rng, words) for _ in range(BATCH)] for _ in range(N // BATCH)]
    ids = [item["id"] for body in bodies for item in body]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/api/v1/interactions", json.dumps(body).encode(), headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 201:
            raise RuntimeError(f"ingestion answered {response.status}: {data[:300]!r}")
    done = time.time()
    rate = N / (time.perf_counter() - started)
    conn.close()
    return ids, rate, done


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-stack-"))
    admin_url = os.environ.get("DATABASE_URL", "")
    pg = admin_url.startswith(("postgres://", "postgresql://"))
    # BENCH_POSTGRES_DB_PREFIX names the temporary database (as in bench_chat)
    dbname = f"{os.environ.get('BENCH_POSTGRES_DB_PREFIX', 'bench_stack')}_{os.getpid()}"
    if pg:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        database_url = urllib.parse.urlunsplit(
            urllib.parse.urlsplit(admin_url)._replace(path=f"/{dbname}")
        )
    else:
        database_url = f"sqlite:///{tmp / 'stack.sqlite3'}"
    env = _env(tmp, database_url)
    port = int(env["PORT"])
    stack = sampler = graph = None
    log_path = tmp / "serve_all.log"
    try:
        # What `make run` does before serve_all.
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "collectstatic", "--noinput", "-v0")
        _manage(env, "seed_demo", "--unless-production")
        state = common.child_json(__file__, env, "setup")
        log = open(log_path, "w")
        stack = subprocess.Popen(
            [PY, "manage.py", "serve_all", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = Sampler(stack.pid)
        sampler.start()
        _wait_healthy(port, stack, log_path)
        idle = sampler.sample()
        print(f"  idle RSS MB: {_mb_parts(idle)}", flush=True)
        graph = Graph(int(env["GRAPH_BOLT_PORT"]), "reviewhub-graph", "reviewhub")
        before = graph.messages()

        sampler.phase = "ingest and graph sync"
        cpu_start = sampler.cpu()
        ids, rate, last_batch = _ingest(port, state["token"])
        cpu_last = sampler.cpu()
        print(f"  ingest: {rate:,.0f} interactions/s through the API", flush=True)
        # Polled in SQL (the outbox marks a row synced once the graph accepted its
        # writes), then confirmed once in the graph: polling the graph itself took ~40% of
        # its query CPU away from the drain being measured.
        outbox = Outbox(database_url)
        synced_at = _poll(
            lambda: outbox.pending("turn") == 0, "the turns' outbox rows synced", interval=0.2
        )
        cpu_fresh = sampler.cpu()  # before the check below, which is the bench's own work
        outbox.close()
        if graph.missing(ids) == 0 and graph.messages() >= before + 2 * N:
            fresh_at = synced_at
        else:  # not expected: then the graph's own answer is the figure
            fresh_at = _poll(lambda: graph.missing(ids) == 0, "every ingested answer in the graph")
        graph_fresh = fresh_at - last_batch
        if fresh_at != synced_at:
            cpu_fresh = sampler.cpu()
        print(f"  all {N:,} in the graph {graph_fresh:.1f} s after the last batch", flush=True)
        # CPU by part, to read the figure beside the machine's load: during the ingest and
        # from the last batch until the graph had everything.
        print(
            "  CPU s during ingest / after it: "
            + ", ".join(
                f"{k} {cpu_last.get(k, 0) - cpu_start.get(k, 0):.1f} / "
                f"{cpu_fresh.get(k, 0) - cpu_last.get(k, 0):.1f}"
                for k in sorted(cpu_fresh)
            )
            + f"; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )

        sampler.phase = "approval"
        approved = common.child_json(__file__, env, "approve", state["lead"])
        print(
            f"  approve: {approved['approved']:,} examples in {approved['seconds']:.1f} s",
            flush=True,
        )
        sampler.phase = "release build and its sync"
        done = common.child_json(__file__, env, "release", state["lead"])
        print(
            f"  release: {done['items']:,} examples built by the worker in "
            f"{done['built_at'] - done['created']:.1f} s",
            flush=True,
        )
        # The release's row is recorded with the build (state built), so once it and the
        # examples' rows are synced, the graph has the built release (confirmed below).
        outbox = Outbox(database_url)
        in_graph = _poll(
            lambda: outbox.pending("release") + outbox.pending("example") == 0,
            "the release's outbox rows synced",
            interval=0.2,
        )
        outbox.close()
        if graph.release(done["id"]) != ("built", done["items"]):
            in_graph = _poll(
                lambda: graph.release(done["id"]) == ("built", done["items"]),
                "the release's graph",
            )
        release_fresh = in_graph - done["built_at"]
        print(f"  release in the graph {release_fresh:.1f} s after its build", flush=True)
        time.sleep(2 * SAMPLE_S)
    finally:
        if sampler:
            sampler.stop()
        if graph:
            graph.close()
        if stack and stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
        if pg:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if os.environ.get("BENCH_STACK_KEEP"):
            print(f"  kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"  peak RSS MB by part: {_mb_parts(sampler.peaks)}", flush=True)
    print(f"  peak RSS MB by phase: {_mb_parts(sampler.phase_peaks)}", flush=True)
    for phase, parts in sampler.phase_parts.items():
        print(f"    at the {phase} peak: {_mb_parts(parts)}", flush=True)
    print(f"  peak PSS MB of the whole stack: {sampler.peak_pss / 2**20:.0f}", flush=True)
    db = "postgresql" if pg else "sqlite"
    return {
        "graph_fresh_s_20k": {
            "value": round(graph_fresh, 2),
            "unit": "s",
            "target": "<= 20",
            "n": N,
            "db": db,
        },
        "graph_release_fresh_s_20k": {
            "value": round(release_fresh, 2),
            "unit": "s",
            "target": "<= 20",
            "n": done["items"],
            "db": db,
        },
        "stack_peak_rss_mb_20k": {
            "value": round(sampler.peak_total / 2**20, 1),
            "unit": "MB",
            "target": "<= 600",
            "n": N,
            "db": db,
            "parts": {k: round(v / 2**20, 1) for k, v in sampler.peaks.items()},
            "pss_mb": round(sampler.peak_pss / 2**20, 1),
        },
        "web_peak_rss_mb_20k": {
            "value": round(sampler.peaks.get("web", 0) / 2**20, 1),
            "unit": "MB",
            "target": "<= 150",
            "n": N,
            "db": db,
        },
    }


def _mb_parts(parts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 2**20:.0f}" for k, v in sorted(parts.items()))


# --- child phases (Django configured for the stack's database) ------------------------------


def _phase_setup() -> dict:
    from accounts.services import user_create
    from chat.services import api_token_create

    api, _ = user_create(username="bench-stack-api", role="end_user")
    lead, _ = user_create(username="bench-stack-lead", role="lead")
    return {"token": api_token_create(user=api, name="bench")[1], "lead": str(lead.pk)}


def _phase_approve(lead_id: str) -> dict:
    from django.contrib.auth.models import User

    from annotations.services import examples_approve_bulk
    from chat.models import Turn

    lead = User.objects.get(pk=lead_id)
    ids = list(Turn.objects.filter(user__username="bench-stack-api").values_list("id", flat=True))
    started = time.perf_counter()
    result = examples_approve_bulk(turn_ids=ids, actor=lead, reason="bench: the whole workload")
    return {**result, "seconds": time.perf_counter() - started}


def _phase_release(lead_id: str) -> dict:
    from django.contrib.auth.models import User

    from datasets.models import Release
    from datasets.services import release_create

    created = time.time()
    release = release_create(
        user=User.objects.get(pk=lead_id),
        name="bench-stack",
        version=1,
        filters={},
        formats=FORMATS,
        build=True,
    )
    release.refresh_from_db()  # the build request updated the row, not this instance
    deadline = time.monotonic() + DEADLINE_S
    while release.state == Release.State.BUILDING and time.monotonic() < deadline:
        time.sleep(0.2)
        release.refresh_from_db()
    if release.state != Release.State.BUILT:
        raise RuntimeError(f"the release build ended {release.state}: {release.error}")
    return {
        "id": str(release.id),
        "created": created,
        "built_at": release.built_at.timestamp(),
        "items": release.items.count(),
    }


if __name__ == "__main__":
    import django

    django.setup()
    phase, *args = sys.argv[1:]
    print(json.dumps(globals()[f"_phase_{phase}"](*args)))
