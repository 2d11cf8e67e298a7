"""A fresh `make run` really serves: every component up, the demo end user can log in,
and Ctrl-C stops all of it."""

import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "log", ".pytest_cache")


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.mark.slow
def test_make_run_serves_healthz_and_the_demo_login(tmp_path):
    copy = tmp_path / "reviewhub"
    shutil.copytree(ROOT, copy, ignore=IGNORE)
    # The venv is what `make run` would build from requirements.txt; reuse it (CI builds
    # its own from scratch in the clean clone, which is the fresh-machine proof).
    (copy / ".venv").symlink_to(ROOT / ".venv")
    port, bolt, http_port = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "NEO4J_URL", "DJANGO_SETTINGS_MODULE"}
        and not k.startswith("PYTEST")
    }
    env.update(PORT=str(port), GRAPH_BOLT_PORT=str(bolt), GRAPH_HTTP_PORT=str(http_port))
    log = open(tmp_path / "make-run.log", "w")
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=copy,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = None, None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = get_json(f"{base}/healthz")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        output = (tmp_path / "make-run.log").read_text()
        assert status == 200, f"healthz {status} {body}\n{output[-3000:]}"
        assert all(body["checks"][k]["ok"] for k in ("database", "broker", "graph"))
        assert f"http://localhost:{port}/" in output and "demo_user" in output
        password = re.search(r"demo_user / (\S+)", output).group(1)
        assert_login_works(base, "demo_user", password)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.close()
    # Ctrl-C stopped everything: nothing listens on the web or graph ports any more.
    for p in (port, bolt):
        with pytest.raises(OSError):
            import socket

            socket.create_connection(("127.0.0.1", p), timeout=1).close()


def assert_login_works(base: str, username: str, password: str) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": base})
    home = opener.open(request).read().decode()
    assert f"Welcome, {username}" in home
