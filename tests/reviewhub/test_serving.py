"""The production web server (gunicorn with threaded workers, as `make run` starts it), with
the production settings (DEBUG off, collectstatic, whitenoise), against the test database."""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from tests.chat.llm_server import API_KEY, LLMServer
from tests.conftest import ROOT, free_port, stop_process, wait_for_port

pytestmark = pytest.mark.slow
LOGIN_LIMIT = 5


@pytest.fixture(scope="module")
def slow_llm():
    server = LLMServer().start()
    server.answer = " ".join(f"word{i}" for i in range(12))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, django_db_setup, django_db_blocker, slow_llm):
    """gunicorn (2 processes x 4 threads) on the test database; yields its base URL."""
    tmp = tmp_path_factory.mktemp("web")
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("DEBUG", None)
    env.update(
        DATABASE_URL=database_url,
        REVIEWHUB_VAR_DIR=str(tmp / "var"),
        STATIC_ROOT=str(tmp / "static"),
        REVIEWHUB_QUEUE=f"serving-test-{os.getpid()}",
        REVIEWHUB_BROKER_DIR=str(tmp / "broker"),
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=slow_llm.base_url,
        OPENAI_MODEL="test-model",
        LOGIN_FAILURE_LIMIT=str(LOGIN_LIMIT),
        WEB_WORKERS="2",
        WEB_THREADS="4",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    log = open(tmp / "web.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:reviewhub.gunicorn_conf"]
        + ["--bind", f"127.0.0.1:{port}", "reviewhub.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def chat_user(transactional_db):
    """An end user with a conversation, after putting back what migrations seed."""
    import importlib

    from django.apps import apps

    from accounts.services import role_groups_ensure, user_create
    from chat.services import conversation_create

    role_groups_ensure()
    importlib.import_module("chat.migrations.0003_default_prompt_template").seed(apps, None)
    # A name of this run's own: the server's login counts (Redis in CI) outlive a test run.
    name = f"streamer-{os.getpid()}"
    user, password = user_create(username=name, role="end_user", password="pw-" + name)
    return user, password, conversation_create(user=user)


def login(base: str, username: str, password: str):
    """Log in through the form; returns (opener, page after login, csrftoken)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    after = opener.open(urllib.request.Request(f"{base}/login/", data=data)).read().decode()
    cookies = {c.name: c.value for c in jar}
    return opener, after, cookies


def test_a_slow_streamed_answer_arrives_chunk_by_chunk_while_another_request_is_answered(
    web_server, slow_llm, chat_user
):
    user, password, conversation = chat_user
    slow_llm.token_delay = 0.15  # 12 words: the answer takes ~2 s to generate
    _, after, cookies = login(web_server, user.username, password)
    assert "sessionid" in cookies, after[-1500:]
    host, port = urllib.parse.urlsplit(web_server).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body = urllib.parse.urlencode({"question": "How do I restore?", "model": "openai:test-model"})
    conn.request(
        "POST",
        f"/chat/c/{conversation.id}/ask",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "text/event-stream",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "X-CSRFToken": cookies["csrftoken"],
        },
    )
    response = conn.getresponse()
    assert response.status == 200, response.read()[:500]
    arrivals: list[tuple[float, str]] = []
    other: dict = {}

    def other_request() -> None:
        started = time.monotonic()
        with urllib.request.urlopen(f"{web_server}/login/", timeout=10) as r:
            other.update(status=r.status, took=time.monotonic() - started, at=time.monotonic())

    started = time.monotonic()
    while line := response.fp.readline():
        if line.startswith(b"event: "):
            arrivals.append((time.monotonic() - started, line[7:].strip().decode()))
            if len(arrivals) == 3:  # mid-answer: another request on the same server
                threading.Thread(target=other_request).start()
    conn.close()
    tokens = [at for at, name in arrivals if name == "token"]
    assert [name for _, name in arrivals][-1] == "done"
    assert len(tokens) == 12
    # Incremental: the tokens arrived spread over the generation time, not in one burst.
    assert tokens[-1] - tokens[0] > 1.0, arrivals
    assert len({round(at, 2) for at in tokens}) >= 10, arrivals
    # The other request was answered while the answer was still streaming.
    assert other["status"] == 200
    assert other["at"] - started < tokens[-1], (other, arrivals)


def test_static_files_are_compressed_with_cache_busted_names(web_server):
    page = urllib.request.urlopen(f"{web_server}/login/").read().decode()
    css = re.search(r'href="(/static/reviewhub/app\.[0-9a-f]{12}\.css)"', page)
    assert css, "the stylesheet's name carries its content hash"
    request = urllib.request.Request(web_server + css.group(1), headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert "immutable" in r.headers["Cache-Control"]
        assert "max-age=315360000" in r.headers["Cache-Control"]


def test_pages_carry_the_security_headers_and_no_debug_page(web_server):
    with urllib.request.urlopen(f"{web_server}/login/") as r:
        headers = r.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{web_server}/no-such-page/")
    assert missing.value.code == 404
    assert b"URLconf" not in missing.value.read(), "DEBUG is off: no debug page"


def test_wrong_passwords_lock_the_login_across_web_processes(web_server, chat_user):
    user, password, _ = chat_user
    for _ in range(LOGIN_LIMIT):  # each on a new connection: spread over both processes
        _, page, _ = login(web_server, user.username, "wrong-password")
        assert "didn't match" in page
    _, page, cookies = login(web_server, user.username, password)
    assert "Too many failed login attempts" in page
    assert f"Welcome, {user.username}" not in page and "sessionid" not in cookies
