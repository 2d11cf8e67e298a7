"""What the benchmarks share: child-process environments, child runs, servers, the
ingestion workload, percentiles.

Imported as `import common`: a file in bench/ is always the entry point (bench/run.py,
`python bench/bench_x.py`, the children a bench starts with its own file), so bench/ is on
sys.path; the repository root may not be (bench_queue's child adds it after its imports).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# --- child processes ------------------------------------------------------------------------


def sqlite_env(tmp: Path | str, *, without: Collection[str], **variables: str) -> dict[str, str]:
    """os.environ less `without`, on the SQLite database tmp/bench.sqlite3, with the
    settings module and PYTHONPATH set, then `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in without}
    env.update(
        DATABASE_URL=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
        DJANGO_SETTINGS_MODULE="reviewhub.settings",
        PYTHONPATH=str(ROOT),
    )
    env.update(variables)
    return env


def offline_env(tmp: Path, *, queue: str, **variables: str) -> dict[str, str]:
    """`sqlite_env` without Redis, OpenAI or Neo4j: a filesystem broker (queue `queue`) and
    var dir in tmp, DEBUG off, a bench SECRET_KEY, warnings only; then `variables`."""
    return sqlite_env(
        tmp,
        without={"REDIS_URL", "OPENAI_API_KEY", "NEO4J_URL"},
        REVIEWHUB_BROKER_DIR=str(tmp / "broker"),
        REVIEWHUB_QUEUE=queue,
        REVIEWHUB_VAR_DIR=str(tmp / "var"),
        DEBUG="false",
        SECRET_KEY="bench-only",
        LOG_LEVEL="WARNING",
        **variables,
    )


def pg_env(database: str, tmp: Path) -> dict[str, str]:
    """os.environ on the database `database` of the PG_ADMIN_URL server, DEBUG off, with the
    var dir (secret key, broker, logs) in tmp rather than the checkout's var/."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return {
        **os.environ,
        "REVIEWHUB_VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": f"{base}/{database}".replace("postgresql://", "postgres://", 1),
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key",
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "LOG_LEVEL": "WARNING",
    }


def pg_admin(sql: str) -> None:
    """Run one statement (CREATE / DROP DATABASE) on the PG_ADMIN_URL server."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def manage(env: dict[str, str], *args: str) -> None:
    """`manage.py *args` in a child process from the repository root; raises if it fails."""
    subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=ROOT, check=True)


def migrate(env: dict[str, str]) -> None:
    manage(env, "migrate", "--noinput", "-v0")


def collectstatic(env: dict[str, str], root: Path | str) -> dict[str, str]:
    """`env` with STATIC_ROOT=root, after `manage.py collectstatic` into it. With DEBUG off a
    page names its static files through whitenoise's manifest, which collectstatic writes
    (`make run` runs it first)."""
    env = {**env, "STATIC_ROOT": str(root)}
    manage(env, "collectstatic", "--noinput", "-v0")
    return env


def child_json(
    script: str,
    env: dict[str, str],
    *args: str,
    timeout: float | None = None,
    stderr: Literal["on_failure", "after", "live"] = "on_failure",
) -> dict:
    """Run `python script *args` from the repository root; the JSON on its last stdout line.
    The child's stderr is kept for the error if it fails ("on_failure"), copied whole to
    ours once it ends ("after"), or not captured, so it shows as it runs ("live")."""
    out = subprocess.run(
        [sys.executable, script, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if stderr == "live" else subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if stderr == "after":
        sys.stderr.write(out.stderr)
    if out.returncode != 0:
        detail = out.stderr[-3000:] if out.stderr else f"exit status {out.returncode}"
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed:\n{detail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    """`python *args` from the repository root in a session of its own, output discarded;
    returns once 127.0.0.1:port accepts a connection (60 s at most)."""
    server = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return server
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the bench server did not start") from None
                time.sleep(0.2)
    except BaseException:
        stop_server(server)
        raise


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then wait for it (20 s at most)."""
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the ingestion workload -----------------------------------------------------------------


def kb_words() -> list[str]:
    """The words of demo/kb/backups.md, the vocabulary of the generated texts."""
    return [w for w in (ROOT / "demo" / "kb" / "backups.md").read_text().split() if w.isalpha()]


def text(rng: random.Random, words: list[str], chars: int) -> str:
    """Random words, cut to `chars` characters."""
    out: list[str] = []
    length = 0
    while length < chars:
        word = rng.choice(words)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:chars]


def interaction(rng: random.Random, words: list[str]) -> dict:
    """One POST /api/v1/interactions item: a client id, a ~60-character question, a
    ~400-character answer, a model and 3 context passages of ~300 characters."""
    return {
        "id": str(uuid.uuid4()),
        "question": text(rng, words, 60).rstrip() + "?",
        "answer": text(rng, words, 400),
        "model": "gpt-4o-mini",
        "context": [
            {
                "text": text(rng, words, 300),
                "source": f"docs/page-{rng.randint(1, 99)}.md",
                "score": round(rng.random(), 3),
            }
            for _ in range(3)
        ],
    }


# --- in a child with Django set up ----------------------------------------------------------


def user_token(username: str) -> str:
    """A new user `username` and an API token of theirs."""
    from django.contrib.auth.models import User

    from chat.services import api_token_create

    user = User.objects.create_user(username)
    return api_token_create(user=user, name="bench")[1]


def seed_demo_kb() -> None:
    """The demo knowledge base (demo/kb) loaded, its progress line dropped."""
    from knowledge.demo import seed

    seed(io.StringIO())


# --- figures --------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    """95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def p95_interpolated(samples: list[float]) -> float:
    """95th percentile interpolated between ranks (statistics.quantiles, inclusive)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def log(bench: str, msg: str) -> None:
    """A progress line on stderr, tagged with the bench's name."""
    sys.stderr.write(f"  [{bench}] {msg}\n")
    sys.stderr.flush()
