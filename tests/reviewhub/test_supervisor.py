"""The `make run` supervisor (serve_all): a part that dies is restarted, a part that keeps
dying stops everything with its name, and stopping it leaves no process behind.

The stack runs against the session's graph server (NEO4J_URL, so no second graph server
starts here) and the test database, on its own queue and var folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, free_port, wait_for_port, wait_until


def processes() -> list[dict]:
    """Every process on the machine: pid, ppid, pgid and command line (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        found.append(
            {"pid": int(entry.name), "ppid": int(fields[1]), "pgid": int(fields[2]), "cmd": cmdline}
        )
    return found


def children_of(pid: int) -> dict[str, int]:
    """serve_all's children by part: graph/worker/web -> pid (beat is a thread of the
    worker)."""
    parts = {}
    for proc in processes():
        if proc["ppid"] != pid:
            continue
        cmd = proc["cmd"]
        for part, marker in (
            ("graph", "graph/server.py"),
            ("worker", " worker "),
            ("web", "gunicorn"),
        ):
            if marker in cmd:
                parts[part] = proc["pid"]
    return parts


def stack_env(tmp_path: Path, graph_url: str, **extra) -> dict[str, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DATABASE_URL=database_url,
        NEO4J_URL=graph_url,
        REVIEWHUB_VAR_DIR=str(tmp_path / "var"),
        REVIEWHUB_QUEUE=f"supervisor-test-{os.getpid()}",
        REVIEWHUB_BROKER_DIR=str(tmp_path / "broker"),
        WEB_WORKERS="1",
        WEB_THREADS="2",
        SUPERVISOR_BACKOFF_S="0.2",
        **extra,
    )
    return env


def start_stack(tmp_path: Path, env: dict[str, str], port: int):
    log = open(tmp_path / "serve_all.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve_all", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def stop_stack(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_restarted_and_stopping_leaves_no_process_behind(tmp_path, graph_server):
    port = free_port()
    proc, log = start_stack(tmp_path, stack_env(tmp_path, graph_server), port)
    output = lambda: (tmp_path / "serve_all.log").read_text()  # noqa: E731
    try:
        wait_for_port(port, 60, proc)
        first = wait_until(lambda: len(children_of(proc.pid)) == 2 and children_of(proc.pid))
        assert set(first) == {"worker", "web"}, "no graph server of its own, no beat process"
        groups = set(first.values())  # each part leads its own process group
        wait_until(
            lambda: list((tmp_path / "var").glob("celerybeat-schedule*")),
            message=f"beat (a thread of the worker) never wrote its schedule:\n{output()}",
        )
        os.kill(first["worker"], signal.SIGKILL)

        wait_until(
            lambda: children_of(proc.pid).get("worker") not in (None, first["worker"]),
            timeout=30,
            message=f"the worker was not restarted:\n{output()}",
        )
        assert "worker exited with code -9; restarting in 0.2 s" in output()
        assert proc.poll() is None, "the rest of the stack kept running"
        groups |= set(children_of(proc.pid).values())
        members = [p for p in processes() if p["pgid"] in groups]
        assert any("gunicorn" in p["cmd"] and p["ppid"] != proc.pid for p in members), (
            "gunicorn's worker (a grandchild) is part of the web group"
        )
    finally:
        stop_stack(proc)
        log.close()
    assert proc.returncode == 0
    left = [p for p in processes() if p["pgid"] in groups]
    assert left == [], f"still running after stop: {left}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_part_that_keeps_dying_stops_everything_and_is_named(tmp_path, graph_server):
    # A bad value only the web server reads: the web part dies at every start.
    env = stack_env(tmp_path, graph_server, SUPERVISOR_MAX_RESTARTS="2", WEB_TIMEOUT_S="soon")
    proc, log = start_stack(tmp_path, env, free_port())
    try:
        proc.wait(timeout=60)
    finally:
        stop_stack(proc)
        log.close()
    output = (tmp_path / "serve_all.log").read_text()
    assert proc.returncode != 0
    assert output.count("web exited with code 1; restarting") == 2, output
    assert "WEB_TIMEOUT_S='soon' is not a whole number" in output
    assert "web keeps dying (last exit code 1, 3 times" in output
    leftovers = [p for p in processes() if env["REVIEWHUB_QUEUE"] in p["cmd"]]
    assert leftovers == [], "the worker was stopped too"
