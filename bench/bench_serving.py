"""The web server `make run` and production start (issue #16): gunicorn with threaded workers.

Every server runs the real app with the production settings (DEBUG off, collectstatic,
whitenoise) on a fresh database: PostgreSQL when DATABASE_URL points at one (then the peak of
connections is measured too), else SQLite. Over loopback, from keep-alive client threads:

* serving_page_rps / serving_page_p95_ms — GET /chat/ (a logged-in page), CLIENTS clients.
* serving_api_post_rps / serving_api_post_p95_ms — POST /api/v1/interactions, one interaction.
* serving_sse_other_p95_ms — GET /login/ latency while a slow chat answer streams (SSE); the
  stream must arrive chunk by chunk (serving_sse_spread_s: first to last token, ~2 s).
* pg_max_connections — the most connections pg_stat_activity showed for the bench database
  under LOAD_CLIENTS clients for LOAD_S seconds (PostgreSQL only; the target is the pool's
  bound: web processes x threads, plus the supervisor's own).

Other servers are compared when importable (BENCH_SERVERS=gunicorn,uvicorn,granian,runserver;
uvicorn and granian are not in requirements.txt: put them on BENCH_EXTRA_PATH).

Run: .venv/bin/python bench/run.py serving
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
CLIENTS, DURATION_S = 10, 5.0
LOAD_CLIENTS, LOAD_S = 20, 10.0
WORKERS, THREADS = 2, 8


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)] if ordered else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_cmd(name: str, port: int) -> list[str]:
    if name == "gunicorn":
        return [PY, "-m", "gunicorn", "-c", "python:reviewhub.gunicorn_conf"] + [
            "--bind",
            f"127.0.0.1:{port}",
            "reviewhub.wsgi:application",
        ]
    if name == "uvicorn":
        return [PY, "-m", "uvicorn", "reviewhub.asgi:application", "--port", str(port)] + [
            "--workers",
            str(WORKERS),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if name == "granian":
        return [PY, "-m", "granian", "--interface", "wsgi", "--port", str(port)] + [
            "--workers",
            str(WORKERS),
            "--blocking-threads",
            str(THREADS),
            "--log-level",
            "warning",
            "reviewhub.wsgi:application",
        ]
    if name == "runserver":  # what `make run` used before: a thread per request
        return [PY, "manage.py", "serve_web", f"127.0.0.1:{port}", "--noreload"]
    raise ValueError(name)


def _available(name: str, env: dict) -> bool:
    module = {"runserver": "django"}.get(name, name)
    check = subprocess.run([PY, "-c", f"import {module}"], env=env, capture_output=True)
    return check.returncode == 0


class Server:
    def __init__(self, name: str, env: dict):
        self.name, self.port = name, _free_port()
        self.proc = subprocess.Popen(
            _server_cmd(name, self.port),
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- clients ----------------------------------------------------------------------------------


def _login(port: int, username: str, password: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = _cookies(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    )
    conn.request(
        "POST",
        "/login/",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": _cookie_header(cookies)},
    )
    response = conn.getresponse()
    response.read()
    cookies.update(_cookies(response))
    if response.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"bench login failed: {response.status}")
    conn.close()
    return cookies


def _cookies(response) -> dict[str, str]:
    found = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _load(port: int, request, clients: int, seconds: float) -> dict:
    """`clients` threads, each on a keep-alive connection, for `seconds`; request(conn, i)."""
    timings: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = 0
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                status = request(conn, n * 1_000_000 + i)
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            if status >= 400 or status == 0:
                errors[0] += 1
            else:
                timings.append((time.perf_counter() - t0) * 1000)
            i += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {
        "rps": len(timings) / elapsed,
        "p95_ms": p95(timings),
        "p50_ms": statistics.median(timings) if timings else float("nan"),
        "n": len(timings),
        "errors": errors[0],
    }


def _get_page(cookies: dict[str, str]):
    headers = {"Cookie": _cookie_header(cookies)}

    def request(conn: http.client.HTTPConnection, _i: int) -> int:
        conn.request("GET", "/chat/", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    return request


def _post_interaction(token: str):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def request(conn: http.client.HTTPConnection, i: int) -> int:
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "question": f"How do I restore snapshot {i}?",
                "answer": "Open the Snapshots tab and press Restore. " * 8,
                "model": "gpt-4o-mini",
                "context": [{"text": "Snapshots are kept for 30 days.", "score": 0.8}],
            }
        )
        conn.request("POST", "/api/v1/interactions", body, headers)
        response = conn.getresponse()
        response.read()
        return response.status

    return request


def _sse_while_others(port: int, cookies: dict[str, str], conversation: str) -> dict:
    """One slow streamed answer; meanwhile GET /login/ in a loop from another connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        f"/chat/c/{conversation}/ask",
        urllib.parse.urlencode({"question": "How do I restore?", "model": "openai:bench-model"}),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/event-stream",
            "Cookie": _cookie_header(cookies),
            "X-CSRFToken": cookies["csrftoken"],
        },
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"ask answered {response.status}: {response.read()[:300]!r}")
    others: list[float] = []
    streaming = threading.Event()
    streaming.set()

    def other() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while streaming.is_set():
            t0 = time.perf_counter()
            c.request("GET", "/login/")
            r = c.getresponse()
            r.read()
            if streaming.is_set():
                others.append((time.perf_counter() - t0) * 1000)

    tokens: list[float] = []
    thread = threading.Thread(target=other)
    started = time.monotonic()
    while line := response.fp.readline():
        if line.startswith(b"event: token"):
            tokens.append(time.monotonic() - started)
            if len(tokens) == 1:
                thread.start()
    streaming.clear()
    thread.join()
    conn.close()
    return {
        "tokens": len(tokens),
        "distinct_arrivals": len({round(t, 2) for t in tokens}),
        "spread_s": tokens[-1] - tokens[0],
        "other_p95_ms": p95(others),
        "others": len(others),
    }


def _pg_connections(database_url: str, dbname: str, stop: threading.Event, peak: list[int]):
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            n = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [dbname]
            ).fetchone()[0]
            peak[0] = max(peak[0], n - 1)  # not this watcher's own
            time.sleep(0.05)


# --- setup and run ----------------------------------------------------------------------------


def _phase_setup() -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import user_create
    from chat.services import api_token_create, conversation_create

    call_command("migrate", "--noinput", verbosity=0)
    user, _ = user_create(username="bench-web", role="end_user", password="bench-Web-pass-1")
    return {
        "token": api_token_create(user=user, name="bench")[1],
        "conversation": str(conversation_create(user=user).id),
    }


def run() -> dict:
    from tests.chat.llm_server import API_KEY, LLMServer

    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-serving-"))
    admin_url = os.environ.get("DATABASE_URL", "")
    pg = admin_url.startswith(("postgres://", "postgresql://"))
    dbname = f"bench_serving_{os.getpid()}"
    llm = LLMServer().start()
    llm.answer = " ".join(f"word{i}" for i in range(20))
    llm.token_delay = 0.1
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "NEO4J_URL", "DEBUG"}}
    env.update(
        REVIEWHUB_VAR_DIR=str(tmp / "var"),
        REVIEWHUB_BROKER_DIR=str(tmp / "broker"),
        REVIEWHUB_QUEUE="bench-serving",
        STATIC_ROOT=str(tmp / "static"),
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=llm.base_url,
        OPENAI_MODEL="bench-model",
        CHAT_DAILY_QUESTION_LIMIT="0",
        LOG_LEVEL="WARNING",
        WEB_WORKERS=str(WORKERS),
        WEB_THREADS=str(THREADS),
        DJANGO_SETTINGS_MODULE="reviewhub.settings",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("BENCH_EXTRA_PATH", "")) if p
        ),
    )
    if pg:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        parsed = urllib.parse.urlsplit(admin_url)
        env["DATABASE_URL"] = urllib.parse.urlunsplit(parsed._replace(path=f"/{dbname}"))
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    results: dict[str, dict] = {}
    try:
        setup = subprocess.run(
            [PY, __file__, "setup"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if setup.returncode != 0:
            raise RuntimeError(setup.stderr[-3000:])
        state = json.loads(setup.stdout.strip().splitlines()[-1])
        subprocess.run(
            [PY, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT, check=True
        )
        names = os.environ.get("BENCH_SERVERS", "gunicorn,uvicorn,granian,runserver").split(",")
        for name in names:
            if not _available(name, env):
                print(f"  {name}: not installed, skipped", flush=True)
                continue
            figures = _bench_server(name, env, state, pg, dbname, admin_url)
            if name == "gunicorn":
                results = figures
        if pg and "gunicorn" in names:
            env_no_pool = {**env, "DB_POOL": "false"}
            _bench_connections("gunicorn, DB_POOL=false (conn_max_age=0)", env_no_pool, state)
    finally:
        llm.stop()
        if pg:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def _bench_server(name: str, env: dict, state: dict, pg: bool, dbname: str, admin_url: str):
    server = Server(name, env)
    try:
        cookies = _login(server.port, "bench-web", "bench-Web-pass-1")
        _load(server.port, _get_page(cookies), 2, 1.0)  # warm-up: imports, first queries
        page = _load(server.port, _get_page(cookies), CLIENTS, DURATION_S)
        api = _load(server.port, _post_interaction(state["token"]), CLIENTS, DURATION_S)
        sse = _sse_while_others(server.port, cookies, state["conversation"])
        print(
            f"  {name}: page {page['rps']:.0f} req/s p95 {page['p95_ms']:.0f} ms "
            f"({page['errors']} errors); API POST {api['rps']:.0f} req/s p95 "
            f"{api['p95_ms']:.0f} ms ({api['errors']} errors); while streaming "
            f"{sse['tokens']} tokens over {sse['spread_s']:.1f} s "
            f"({sse['distinct_arrivals']} distinct arrivals), {sse['others']} other requests "
            f"p95 {sse['other_p95_ms']:.0f} ms",
            flush=True,
        )
        figures = {
            "serving_page_rps": {"value": round(page["rps"], 1), "unit": "req/s", "n": page["n"]},
            "serving_page_p95_ms": {"value": round(page["p95_ms"], 1), "unit": "ms"},
            "serving_api_post_rps": {"value": round(api["rps"], 1), "unit": "req/s", "n": api["n"]},
            "serving_api_post_p95_ms": {"value": round(api["p95_ms"], 1), "unit": "ms"},
            "serving_sse_other_p95_ms": {
                "value": round(sse["other_p95_ms"], 1),
                "unit": "ms",
                "target": "not blocked by the stream",
                "n": sse["others"],
            },
            "serving_sse_spread_s": {
                "value": round(sse["spread_s"], 2),
                "unit": "s",
                "target": "~2 (streamed, not buffered)",
                "n": sse["tokens"],
            },
        }
    finally:
        server.stop()
    if pg and name == "gunicorn":
        peak = _bench_connections("gunicorn (pool)", env, state, dbname, admin_url)
        figures["pg_max_connections"] = {
            "value": peak,
            "unit": "connections",
            "target": f"<= {WORKERS * THREADS} (processes x threads)",
            "n": LOAD_CLIENTS,
        }
    return figures


def _bench_connections(label: str, env: dict, state: dict, dbname="", admin_url="") -> int:
    dbname = dbname or urllib.parse.urlsplit(env["DATABASE_URL"]).path.strip("/")
    admin_url = admin_url or os.environ["DATABASE_URL"]
    server = Server("gunicorn", env)
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_pg_connections, args=(admin_url, dbname, stop, peak))
    watcher.start()
    try:
        cookies = _login(server.port, "bench-web", "bench-Web-pass-1")
        page, post = _get_page(cookies), _post_interaction(state["token"])
        mixed = _load(
            server.port, lambda c, i: (page if i % 2 else post)(c, i), LOAD_CLIENTS, LOAD_S
        )
    finally:
        stop.set()
        watcher.join()
        server.stop()
    print(
        f"  {label}: {LOAD_CLIENTS} clients for {LOAD_S:g} s: {mixed['rps']:.0f} req/s, "
        f"{mixed['errors']} errors, at most {peak[0]} PostgreSQL connections",
        flush=True,
    )
    return peak[0]


if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    print(json.dumps(_phase_setup()))
