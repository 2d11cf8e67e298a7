"""Chat benchmarks (issue #6): logging overhead, ingestion API throughput, retrieval latency.

Everything runs against a temporary SQLite database (never the dev database) in child
processes configured through the environment:

* chat_logging_overhead_p95_ms — the time `chat.services.turn_log` takes for one grounded chat
  turn with the offline provider: the Turn, its context rows, the graph outbox entries and the
  review-queue refresh in one transaction, commit included (the provider call is not timed).
* ingest_throughput_per_s — interactions stored per second by POST /api/v1/interactions on the
  production server (gunicorn with reviewhub.gunicorn_conf, as `make run` starts it) over
  HTTP, in batches of 500 sent one after another (then, as `…_2_clients_…`, as many batches
  from 2 clients at once: reported beside, not in place of, one client's rate); on SQLite
  (`…_sqlite`) and, when a PostgreSQL server answers at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432,
  a temporary database is made there), on PostgreSQL (`…_postgresql`); the headline is the
  lower of the two. One interaction is a ~60-character question, a ~400-character answer, a
  model name and 3 context passages of ~300 characters, with a client id (the idempotent-retry
  path). CPU per request is reported too, since the machine's 2 cores are shared: the web
  server's (gunicorn's process group), the PostgreSQL server's (its backends for the bench
  database, read from /proc when the server runs on this machine) and the bench client's
  (request bodies are encoded before the clock starts). BENCH_POSTGRES_DB_PREFIX names the
  temporary database (default bench_chat).
* ingest_accept_per_s_<vendor> — the same batches sent with `Prefer: respond-async` (on the same
  database, after the figures above): answered 202 once validated and saved, stored by a Celery
  worker (`make run`'s command) running meanwhile; `ingest_accept_stored_s_…` is from the last
  answer until every batch's status says stored, `ingest_accept_stored_per_s_…` the rate from
  the first request to the last batch stored. The graph's drains go to a queue no worker here
  takes (there is no graph server; bench_stack times the graph).
* storage_bytes_per_interaction — bytes an interaction takes in SQLite, from the database's
  own page statistics (the dbstat table: pages of chat_turn, chat_turncontext and their
  indexes, before and after), for 2,000 interactions logged with their exact prompt (the
  system prompt, the messages sent — system message with the 3 passages, then the question —
  and the passages as context), on a database of its own (not the other parts'); `…_at_20k`
  is the same for the last 2,000 of 20,000 (with 4 KB pages it was ~125 B more, nearly all in
  chat_turncontext, whose ~365 B rows fit 11 to a page while the rowid takes 2 bytes, 10 once it
  takes 3; with the 16 KB pages a new database now has, ~60 B more: 2,367 and 2,425 B measured);
  `…_all_tables` counts every table that grows (the search
  index, the review queue, conversations, the graph outbox too); `…_chat_turn` is a grounded
  chat-page turn (template, rendered context, history) logged by `turn_log`.
* retrieval_p95_ms_100k — `knowledge.retrieval.retrieve(query, k=5)` over 100,000 chunks (offline
  hashed vectors + BM25), after the in-process index is built.

Run: .venv/bin/python bench/run.py chat
(BENCH_CHAT_PARTS=storage, or any comma-separated subset of logging, ingest, storage,
retrieval, runs only those parts and reports only their figures.)
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

LOGGED_TURNS = 300
STEADY = 20_000  # storage measured again for the last 2,000 of this many interactions
BATCH, BATCHES = 500, 24
CLIENTS = 2  # the concurrent ingestion figure: as many clients as this machine has cores
RETRIEVAL_CHUNKS, RETRIEVAL_QUERIES = 100_000, 300


PARTS = ("logging", "ingest", "storage", "retrieval")


def _parts() -> set[str]:
    chosen = {p.strip() for p in os.environ.get("BENCH_CHAT_PARTS", "").split(",") if p.strip()}
    unknown = chosen - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_CHAT_PARTS: unknown part(s) {sorted(unknown)}; one of {PARTS}")
    return chosen or set(PARTS)


def run() -> dict:
    parts = _parts()
    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-chat-"))
    env = common.offline_env(
        tmp,
        queue="bench-chat",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CHAT_DAILY_QUESTION_LIMIT="0",
        # graph drains to a queue no worker here takes (there is no graph server): the
        # ingestion worker only stores batches; bench_stack times the graph's freshness
        CELERY_QUEUE_GRAPH="bench-chat-graph",
    )
    figures: dict = {}
    try:
        common.migrate(env)
        if "logging" in parts:
            figures.update(_logging_figures(common.child_json(__file__, env, "logging")))
        if "ingest" in parts:
            figures.update(_ingest_figures(env))
        if "storage" in parts:  # on a database of its own: the figure is not the other parts'
            own = common.offline_env(tmp / "storage", queue="bench-chat")
            common.migrate(own)
            figures.update(_storage_figures(common.child_json(__file__, own, "storage")))
        if "retrieval" in parts:
            figures.update(_retrieval_figures(common.child_json(__file__, env, "retrieval")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def _logging_figures(result: dict) -> dict:
    print(
        f"  logging: p50 {result['p50']:.2f} ms, p95 {result['p95']:.2f} ms "
        f"per turn; whole offline turn p95 {result['turn_p95']:.1f} ms",
        flush=True,
    )
    return {
        "chat_logging_overhead_p95_ms": {
            "value": round(result["p95"], 2),
            "unit": "ms",
            "target": "<= 5",
            "n": result["n"],
        }
    }


def _ingest_figures(env: dict) -> dict:
    """Each database: the batches stored before the answer (`sync`), then, on the same
    database, sent with `Prefer: respond-async` and stored by a worker meanwhile (`later`)."""
    ingest: dict[str, dict[str, dict]] = {"sqlite": {}}
    ingest["sqlite"]["sync"] = _ingest(env)
    ingest["sqlite"]["later"] = _ingest(env, later=True)
    postgres = _postgres_env(env)
    if postgres is not None:
        try:
            url = postgres[0]["DATABASE_URL"]
            ingest["postgresql"] = {
                "sync": _ingest(postgres[0], postgres_url=url),
                "later": _ingest(postgres[0], postgres_url=url, later=True),
            }
        finally:
            postgres[1]()
    for vendor, modes in ingest.items():
        for mode, figure in modes.items():
            database = (
                f", PostgreSQL server {figure['database_cpu_ms_per_batch']:.0f} ms"
                if "database_cpu_ms_per_batch" in figure
                else ""
            )
            how = (
                "accepted (Prefer: respond-async; a worker stores them meanwhile)"
                if mode == "later"
                else "stored before each answer"
            )
            print(
                f"  ingestion ({vendor}, gunicorn, {how}): {figure['rate']:,.0f} "
                f"interactions/s over {figure['n']:,} ({BATCH} per request, p95 request "
                f"{figure['p95_request_ms']:.0f} ms; CPU per request: web server "
                f"{figure['server_cpu_ms_per_batch']:.0f} ms = "
                f"{figure['cpu_rate']:,.0f} interactions per CPU-second{database}, bench client "
                f"{figure['client_cpu_ms_per_batch']:.1f} ms; load average {figure['load']}); "
                f"{CLIENTS} clients at once: {figure['concurrent_rate']:,.0f} interactions/s",
                flush=True,
            )
            if mode == "later":
                print(
                    f"    all {figure['n']:,} stored {figure['stored_s']:.2f} s after the last "
                    f"answer: {figure['stored_rate']:,.0f} interactions/s from the first "
                    f"request to the last stored (worker CPU {figure['worker_cpu_s']:.1f} s)",
                    flush=True,
                )
    sync = {vendor: modes["sync"] for vendor, modes in ingest.items()}
    figures = {
        "ingest_throughput_per_s": {
            "value": round(min(f["rate"] for f in sync.values()), 1),
            "unit": "interactions/s",
            "target": ">= 10000 (PostgreSQL and SQLite)",
            "n": sync["sqlite"]["n"],
        },
    }
    for vendor, modes in ingest.items():
        figure = modes["sync"]
        figures[f"ingest_throughput_per_s_{vendor}"] = {
            "value": round(figure["rate"], 1),
            "unit": "interactions/s",
            "target": ">= 10000",
            "n": figure["n"],
            "server_cpu_interactions_per_s": round(figure["cpu_rate"], 1),
            "server_cpu_ms_per_batch": round(figure["server_cpu_ms_per_batch"], 1),
            **(
                {"database_cpu_ms_per_batch": round(figure["database_cpu_ms_per_batch"], 1)}
                if "database_cpu_ms_per_batch" in figure
                else {}
            ),
            "client_cpu_ms_per_batch": round(figure["client_cpu_ms_per_batch"], 1),
            "load_average": figure["load"],
        }
        figures[f"ingest_throughput_per_s_{CLIENTS}_clients_{vendor}"] = {
            "value": round(figure["concurrent_rate"], 1),
            "unit": "interactions/s",
            "target": "(reported: the target is for one client)",
            "n": figure["n"],
        }
        later = modes["later"]
        figures[f"ingest_accept_per_s_{vendor}"] = {
            "value": round(later["rate"], 1),
            "unit": "interactions/s",
            "target": "(reported: Prefer: respond-async, answered once saved)",
            "n": later["n"],
            "server_cpu_ms_per_batch": round(later["server_cpu_ms_per_batch"], 1),
            "p95_request_ms": round(later["p95_request_ms"], 1),
        }
        figures[f"ingest_accept_stored_s_{vendor}"] = {
            "value": round(later["stored_s"], 2),
            "unit": "s",
            "target": "(reported: after the last 202 until every batch is stored)",
            "n": later["n"],
        }
        figures[f"ingest_accept_stored_per_s_{vendor}"] = {
            "value": round(later["stored_rate"], 1),
            "unit": "interactions/s",
            "target": "(reported: from the first request to the last batch stored)",
            "n": later["n"],
        }
    return figures


def _storage_figures(storage: dict) -> dict:
    print(
        "  storage: "
        + ", ".join(
            f"{k} {storage[k]:,.0f} B" for k in ("turn_and_contexts", "all_tables", "chat_turn")
        )
        + f" per interaction (turn_and_contexts {storage['steady']:,.0f} B for the last 2,000 of "
        + f"{STEADY:,}); ingest CPU {storage['ingest_cpu_ms_per_batch']:.0f} ms per "
        f"{BATCH} (in process, search triggers included)",
        flush=True,
    )
    print("  storage by object (B per interaction): " + storage["objects"], flush=True)
    print(f"  the same, last 2,000 of {STEADY:,}: " + storage["steady_objects"], flush=True)
    return {
        "storage_bytes_per_interaction": {
            "value": round(storage["turn_and_contexts"], 1),
            "unit": "bytes",
            "target": "<= 2500",
            "n": storage["n"],
        },
        f"storage_bytes_per_interaction_at_{STEADY // 1000}k": {
            "value": round(storage["steady"], 1),
            "unit": "bytes",
            "target": f"(the same, with {STEADY:,} interactions stored)",
            "n": storage["n"],
        },
        "storage_bytes_per_interaction_all_tables": {
            "value": round(storage["all_tables"], 1),
            "unit": "bytes",
            "target": "",
            "n": storage["n"],
        },
        "storage_bytes_per_chat_turn": {
            "value": round(storage["chat_turn"], 1),
            "unit": "bytes",
            "target": "",
            "n": storage["chat_n"],
        },
    }


def _retrieval_figures(result: dict) -> dict:
    print(
        f"  retrieval: index of {result['chunks']:,} chunks built in "
        f"{result['build_s']:.1f} s; p50 {result['p50']:.1f} ms, "
        f"p95 {result['p95']:.1f} ms",
        flush=True,
    )
    return {
        "retrieval_p95_ms_100k": {
            "value": round(result["p95"], 2),
            "unit": "ms",
            "target": "<= 50",
            "n": result["n"],
        }
    }


# --- ingestion over HTTP ------------------------------------------------------------------------


def _ingest(env: dict, postgres_url: str | None = None, *, later: bool = False) -> dict:
    """One client's rate, then CLIENTS clients'; `later`: batches sent with `Prefer:
    respond-async` (answered 202 once saved), a worker storing them meanwhile; then also the
    seconds from the last answer until every batch is stored (one client's run only)."""
    token = common.child_json(__file__, env, "token")["token"]
    port = common.free_port()
    worker = _start_worker(env) if later else None
    # the command serve_all starts for `make run` (reviewhub/management/commands/serve_all.py)
    server = common.start_server(
        [
            "-m",
            "gunicorn",
            "-c",
            "python:reviewhub.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "reviewhub.wsgi:application",
        ],
        env,
        port,
    )
    try:
        rng = random.Random(6)
        words = common.kb_words()
        bodies = [
            json.dumps([common.interaction(rng, words) for _ in range(BATCH)]).encode()
            for _ in range(2 * BATCHES + 2)
        ]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if later:
            headers["Prefer"] = "respond-async"
        expected = 202 if later else 201
        batches: list[str] = []  # status addresses of accepted batches

        def post(conn: http.client.HTTPConnection, body: bytes) -> http.client.HTTPConnection:
            try:
                conn.request("POST", "/api/v1/interactions", body, headers)
                response = conn.getresponse()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/api/v1/interactions", body, headers)
                response = conn.getresponse()
            data = response.read()
            if response.status != expected:
                raise RuntimeError(f"ingestion answered {response.status}: {data[:300]!r}")
            if later:
                batches.append(json.loads(data)["status"])
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            return conn

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in bodies[:2]:  # warm-up: imports, first queries
            conn = post(conn, body)
        if later:  # and the worker up, having stored the warm-up batches
            _wait_stored(port, token, batches)
            batches.clear()
        timings = []
        database_before = _database_cpu(postgres_url) if postgres_url else None
        cpu_before = _cpu_seconds(server.pid)
        client_before = time.process_time()
        started = time.perf_counter()
        for body in bodies[2 : BATCHES + 2]:
            t0 = time.perf_counter()
            conn = post(conn, body)
            timings.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        database_cpu = _database_cpu(postgres_url, database_before) if postgres_url else None
        load = round(os.getloadavg()[0], 2)
        conn.close()
        stored_s = None
        if later:
            stored_s = _wait_stored(port, token, batches)
            worker_cpu = _cpu_seconds(worker.pid)
        # The same server with CLIENTS clients posting at once (other batches, as many):
        # what several apps logging together get from it, beside one client's rate above.
        rest = bodies[BATCHES + 2 :]
        errors: list[BaseException] = []

        def client(mine: list[bytes]) -> None:
            own = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for body in mine:
                    own = post(own, body)
            except BaseException as exc:  # reported after the join
                errors.append(exc)
            finally:
                own.close()

        threads = [
            threading.Thread(target=client, args=(rest[i::CLIENTS],)) for i in range(CLIENTS)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        concurrent_elapsed = time.perf_counter() - started
        if errors:
            raise errors[0]
    finally:
        common.stop_server(server)
        if worker is not None:
            common.stop_server(worker)
    n = BATCH * BATCHES
    return {
        **(
            {
                "stored_s": stored_s,
                "stored_rate": n / (elapsed + stored_s),
                "worker_cpu_s": worker_cpu,
            }
            if later
            else {}
        ),
        "rate": n / elapsed,
        "concurrent_rate": n / concurrent_elapsed,
        "n": n,
        "p95_request_ms": common.p95(timings),
        "server_cpu_ms_per_batch": server_cpu * 1000 / BATCHES,
        "cpu_rate": n / server_cpu if server_cpu else 0.0,
        "client_cpu_ms_per_batch": client_cpu * 1000 / BATCHES,
        "load": load,
        **({"database_cpu_ms_per_batch": database_cpu * 1000 / BATCHES} if database_cpu else {}),
    }


def _start_worker(env: dict) -> subprocess.Popen:
    """The Celery worker `make run` starts (serve_all), on the bench's broker and database."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "reviewhub", "worker", "--pool=solo"]
        + ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
        + ["-Q", env["REVIEWHUB_QUEUE"]],
        env=env,
        cwd=common.ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_stored(port: int, token: str, batches: list[str], timeout: float = 300) -> float:
    """Seconds until every batch's status (GET, one after another) says stored."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for where in batches:
            while True:
                conn.request("GET", where, headers=headers)
                status = json.loads(conn.getresponse().read())["status"]
                if status == "stored":
                    break
                if status == "failed" or time.perf_counter() - started > timeout:
                    raise RuntimeError(f"batch {where}: {status}")
                time.sleep(0.02)
    finally:
        conn.close()
    return time.perf_counter() - started


def _cpu_seconds(group: int) -> float:
    """User + system CPU time of a process group (Linux: gunicorn's master and workers), to
    tell CPU cost from waiting on a busy box."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group:  # the process group id
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _database_cpu(url: str, before: dict | None = None):
    """PostgreSQL (on this machine): the CPU seconds of the server processes serving the
    bench database, by pid; given `before`, the seconds used since (the pool keeps its
    connections, so the same backends serve the whole run)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    now = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # another machine's server, or gone
        now[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    if before is None:
        return now
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


def _postgres_env(env: dict) -> tuple[dict, object] | None:
    """The bench env on a temporary PostgreSQL database, and a function that drops it; None
    when no PostgreSQL answers."""
    import psycopg

    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"{os.environ.get('BENCH_POSTGRES_DB_PREFIX', 'bench_chat')}_{os.getpid()}"
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"  (no PostgreSQL at {base}: {exc}; SQLite only)", flush=True)
        return None

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = base.rsplit("/", 1)[0] + f"/{name}"
    pg_env = {**env, "DATABASE_URL": url}
    try:
        common.migrate(pg_env)
    except BaseException:
        drop()
        raise
    return pg_env, drop


# --- child phases (run with Django configured for the temporary database) ------------------------


def _phase_token() -> dict:
    from django.contrib.auth.models import User

    return {"token": common.user_token(f"bench-api-{User.objects.count()}")}


def _phase_storage() -> dict:
    """Bytes per logged interaction from SQLite's dbstat (see the module docstring)."""
    from django.contrib.auth.models import User
    from django.db import connection

    from chat import llm, services
    from chat.openapi import Interaction, service_items

    own = {"chat_turn", "chat_turncontext"}

    def pages() -> dict[str, tuple[str, int]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT d.name, COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY d.name"
            )
            return {name: (table, size) for name, table, size in cursor.fetchall()}

    def grown(before: dict, after: dict, tables: set | None) -> int:
        return sum(
            size - before.get(name, (table, 0))[1]
            for name, (table, size) in after.items()
            if tables is None or table in tables
        )

    rng = random.Random(17)
    words = common.kb_words()
    user = User.objects.create_user("bench-storage")
    cpu = 0.0

    def log(count: int) -> None:
        nonlocal cpu
        for _ in range(count // BATCH):
            batch = [_full_prompt(common.interaction(rng, words)) for _ in range(BATCH)]
            items = service_items([Interaction.model_validate_json(json.dumps(i)) for i in batch])
            t0 = time.process_time()
            services.interactions_ingest(user=user, items=items)
            cpu += time.process_time() - t0

    n = 2000
    before = pages()
    log(n)
    after = pages()
    ingest_cpu_ms = cpu * 1000 / (n // BATCH)
    # The same 2,000 again once the database holds STEADY interactions (see the docstring).
    log(STEADY - 2 * n)
    steady_before = pages()
    log(n)
    steady_after = pages()
    steady = grown(steady_before, steady_after, own) / n

    def by_object(before: dict, after: dict) -> str:
        objects = sorted(
            (
                (name, (size - before.get(name, (table, 0))[1]) / n)
                for name, (table, size) in after.items()
            ),
            key=lambda o: -o[1],
        )
        return ", ".join(f"{name} {size:,.0f}" for name, size in objects if size >= 1)

    common.seed_demo_kb()
    chatter = User.objects.create_user("bench-storage-chat")
    chat_n = 200
    chat_before = pages()
    conversation = None
    for i in range(chat_n):
        if i % 4 == 0:
            conversation = services.conversation_create(user=chatter)
        prepared = services.turn_prepare(
            conversation=conversation,
            user=chatter,
            question=f"How do I restore {i}?",
            grounded=True,
        )
        completion = llm.complete(
            prepared.choice,
            prepared.prompt.messages,
            contexts=prepared.llm_contexts(),
            params=prepared.params,
        ).collect()
        services.turn_log(prepared=prepared, answer=completion.text, latency_ms=1)
    chat_after = pages()
    return {
        "turn_and_contexts": grown(before, after, own) / n,
        "steady": steady,
        "all_tables": grown(before, after, None) / n,
        "chat_turn": grown(chat_before, chat_after, own) / chat_n,
        "ingest_cpu_ms_per_batch": ingest_cpu_ms,
        "objects": by_object(before, after),
        "steady_objects": by_object(steady_before, steady_after),
        "n": n,
        "chat_n": chat_n,
    }


def _full_prompt(item: dict) -> dict:
    """An interaction logged with its exact prompt, as an app that has it sends it."""
    system = "Answer from the context below. Cite passages by number."
    passages = "\n\n".join(f"[{i}] {c['text']}" for i, c in enumerate(item["context"], start=1))
    return {
        **item,
        "system_prompt": system,
        "messages": [
            {"role": "system", "content": f"{system}\n\nContext:\n{passages}"},
            {"role": "user", "content": item["question"]},
        ],
    }


def _phase_logging() -> dict:
    from django.contrib.auth.models import User

    from chat import llm, services

    common.seed_demo_kb()
    user = User.objects.create_user("bench-chat")
    questions = [
        "How do I restore a snapshot?",
        "What port does Bolt use?",
        "How much is the Professional plan?",
        "Which version supports vector indexes?",
        "How do I import a large CSV file?",
        "Can I export metrics to Prometheus?",
    ]
    log_ms, turn_ms = [], []
    conversation = None
    for i in range(LOGGED_TURNS + 20):
        if i % 5 == 0:
            conversation = services.conversation_create(user=user)
        t0 = time.perf_counter()
        prepared = services.turn_prepare(
            conversation=conversation,
            user=user,
            question=questions[i % len(questions)],
            grounded=True,
        )
        completion = llm.complete(
            prepared.choice,
            prepared.prompt.messages,
            contexts=prepared.llm_contexts(),
            params=prepared.params,
        ).collect()
        t1 = time.perf_counter()
        services.turn_log(
            prepared=prepared,
            answer=completion.text,
            latency_ms=int((t1 - t0) * 1000),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        t2 = time.perf_counter()
        if i >= 20:  # warm-up excluded
            log_ms.append((t2 - t1) * 1000)
            turn_ms.append((t2 - t0) * 1000)
    return {
        "p95": common.p95(log_ms),
        "p50": statistics.median(log_ms),
        "n": len(log_ms),
        "turn_p95": common.p95(turn_ms),
    }


def _phase_retrieval() -> dict:
    import hashlib

    import numpy as np

    from knowledge import embedding, retrieval
    from knowledge.models import Chunk, Document

    rng = np.random.default_rng(6)
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "sa",
        "ti",
        "vo",
        "zen",
        "dra",
        "pol",
        "gri",
        "an",
        "es",
        "ul",
        "or",
        "qua",
        "bix",
        "tor",
        "lem",
    ]
    vocab = sorted({"".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(40_000)})
    vocab += (
        "snapshot restore backup instance bolt port tls password plan price invoice vector "
        "index embedding chunk import csv metrics prometheus alert region memory"
    ).split()
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    order = rng.permutation(len(vocab))
    per_doc = 100
    documents = [
        Document(
            title=f"Document {d}",
            source=f"bench/{d}.md",
            text="-",
            checksum=hashlib.sha256(f"bench-{d}".encode()).hexdigest(),
        )
        for d in range(RETRIEVAL_CHUNKS // per_doc)
    ]
    Document.objects.bulk_create(documents, batch_size=1000)
    emb = embedding.OfflineEmbedder()
    texts_for_queries: list[str] = []
    batch: list[Chunk] = []
    for d, document in enumerate(documents):
        counts = rng.integers(55, 95, size=per_doc)
        words = np.asarray(vocab, dtype=object)[
            order[rng.choice(len(vocab), size=int(counts.sum()), p=weights)]
        ]
        start = 0
        texts = []
        for c in counts:
            texts.append(" ".join(words[start : start + c]))
            start += c
        vectors = emb.embed(texts)
        for i, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
            batch.append(
                Chunk(
                    document=document,
                    index=i,
                    text=text,
                    start=0,
                    end=len(text),
                    embedding=embedding.to_bytes(vec),
                    embedding_model=emb.name,
                )
            )
        if d % 50 == 0:
            texts_for_queries.append(texts[0])
        if len(batch) >= 5000:
            Chunk.objects.bulk_create(batch, batch_size=1000)
            batch = []
    Chunk.objects.bulk_create(batch, batch_size=1000)
    t0 = time.perf_counter()
    retrieval.retrieve("warm up the index", k=5)
    build_s = time.perf_counter() - t0
    pyrng = random.Random(6)
    queries = []
    for _ in range(RETRIEVAL_QUERIES):
        words = pyrng.choice(texts_for_queries).split()
        start = pyrng.randrange(0, len(words) - 6)
        queries.append(" ".join(words[start : start + pyrng.randint(3, 6)]))
    timings = []
    for query in queries:
        t = time.perf_counter()
        hits = retrieval.retrieve(query, k=5)
        timings.append((time.perf_counter() - t) * 1000)
        assert hits, query
    return {
        "p95": common.p95(timings),
        "p50": statistics.median(timings),
        "n": len(timings),
        "build_s": build_s,
        "chunks": Chunk.objects.count(),
    }


if __name__ == "__main__":
    import django

    django.setup()
    phase = sys.argv[1]
    phases = {
        "logging": _phase_logging,
        "retrieval": _phase_retrieval,
        "token": _phase_token,
        "storage": _phase_storage,
    }
    result = phases[phase]()
    print(json.dumps(result))
