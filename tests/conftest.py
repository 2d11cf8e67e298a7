"""Shared fixtures: users per role, the embedded graph server, a real Celery worker,
and headless Chromium. Servers are started once per test session, as subprocesses."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses
# to run there unless told the loop is not ours to worry about.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


LOWEST_PORT = 10_000
_ports = random.SystemRandom()  # not the seeded `random`: two runs side by side draw apart


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range. A server started from
    it binds seconds later (a minute for `make run`, which migrates and seeds first), and
    meanwhile every outgoing connection of every process, the other CI run's included, takes
    its local port from the ephemeral range: a port picked there can be gone by then (CI saw
    the graph server's HTTP port taken so)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # Linux's default
    for _ in range(100) if low > LOWEST_PORT + 1_000 else ():
        port = _ports.randrange(LOWEST_PORT, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as s:  # a machine whose ephemeral range starts low: the kernel's pick
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- users per role --------------------------------------------------------------


def _make_user(username: str, role: str | None):
    from django.contrib.auth.models import User

    from accounts.services import user_create

    if role is None:  # an account with no role at all
        return User.objects.create_user(username=username, password="pw-" + username)
    user, _ = user_create(username=username, role=role, password="pw-" + username)
    return user


@pytest.fixture
def end_user(db):
    return _make_user("alice", "end_user")


@pytest.fixture
def other_user(db):
    return _make_user("mallory", "end_user")


@pytest.fixture
def expert(db):
    return _make_user("erin", "expert")


@pytest.fixture
def expert2(db):
    return _make_user("evan", "expert")


@pytest.fixture
def lead(db):
    return _make_user("lena", "lead")


@pytest.fixture
def lead2(db):
    return _make_user("leo", "lead")


@pytest.fixture
def outsider(db):
    return _make_user("oscar", None)


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client logged in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login


# --- the embedded graph server ----------------------------------------------------


@pytest.fixture(scope="session")
def graph_server():
    """One embedded Bolt server for the whole run; yields its NEO4J_URL.

    When NEO4J_URL is set in the environment (a real Neo4j), that server is used instead.
    """
    from reviewhub.graphdb import configure, wait_until_ready

    if not settings.GRAPH_EMBEDDED:
        configure(settings.NEO4J_URL)
        yield settings.NEO4J_URL
        return
    bolt, http = free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="rh-graph-"))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "graphserver",
            "--bolt-port",
            str(bolt),
            "--http-port",
            str(http),
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(bolt, 120, proc)
        url = f"bolt://root:{settings.GRAPH_PASSWORD}@127.0.0.1:{bolt}/{settings.GRAPH_DATABASE}"
        wait_until_ready(120, url, alive=lambda: proc.poll() is None)
        settings.NEO4J_URL = url
        configure(url)
        yield url
    finally:
        import neomodel

        if neomodel.db.driver is not None:
            neomodel.db.close_connection()
        stop_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def graph(graph_server):
    """A clean graph for one test: every node and relationship removed before it runs."""
    import neomodel

    neomodel.db.cypher_query("MATCH (n) DETACH DELETE n")
    return graph_server


# --- a real Celery worker -------------------------------------------------------------


def db_url() -> str:
    """The test database as a DATABASE_URL, for processes the tests start."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def worker_env(**extra: str) -> dict:
    """The environment of a process that shares this test run's database and broker."""
    return {
        **os.environ,
        "REVIEWHUB_QUEUE": settings.CELERY_QUEUE,
        "REVIEWHUB_BROKER_DIR": str(settings.BROKER_DIR),
        "NEO4J_URL": settings.NEO4J_URL,
        "EXPORT_DIR": str(settings.EXPORT_DIR),
        "DATABASE_URL": db_url(),
        **extra,
    }


WORKER_ARGS = ["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle"]


def start_worker(env: dict, log, prelude: str = "", args: tuple = ()) -> subprocess.Popen:
    """A real Celery worker process in its own process group; `prelude` is Python run
    before Celery starts (fault injection for the tests that kill a worker)."""
    code = prelude + "\nimport sys\nfrom celery.__main__ import main\nsys.exit(main())\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, "-A", "reviewhub", *WORKER_ARGS, "-Q", env["REVIEWHUB_QUEUE"]]
        + list(args),
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, graph_server):
    """A real worker process on the configured broker, reading the test database.

    Tests that use it need committed data: mark them `django_db(transaction=True)`.
    It starts after the graph server so the worker is given the graph's real URL.
    """
    _purge_queue()
    log = open(Path(tempfile.gettempdir()) / f"rh-worker-{settings.TEST_RUN_ID}.log", "w")
    proc = start_worker(worker_env(), log)
    yield proc
    stop_process(proc)
    log.close()


def _purge_queue() -> None:
    from reviewhub.celery import app

    with app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(settings.CELERY_QUEUE)
        except Exception:
            pass


@pytest.fixture
def celery_worker(celery_worker_process, graph_server):
    """Use in transactional tests that enqueue tasks a worker must run."""
    if celery_worker_process.poll() is not None:
        pytest.fail("the Celery worker exited; see its log in the temp folder")
    return celery_worker_process


def run_sweep(env: dict) -> dict:
    """The jobs sweeper, run as its own process on the worker's broker (as beat would run
    it); returns what it reports."""
    out = subprocess.run(
        [sys.executable, "manage.py", "jobs_sweep"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def roles_seeded(transactional_db):
    """Put the role groups back for transactional tests.

    A transactional test flushes the database afterwards, taking the groups that a data
    migration created with it; the next transactional test needs them again (the
    serialized rollback is not restored on the Playwright thread)."""
    from accounts.services import role_groups_ensure

    role_groups_ensure()


@pytest.fixture
def role_groups_restored(request):
    """Transactional tests flush the role groups (a data migration made them): put them back."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        from accounts.services import role_groups_ensure

        role_groups_ensure()


def wait_until(predicate, timeout: float = 30, interval: float = 0.2, message: str = ""):
    """Poll until predicate() is truthy (for work done by another process)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(interval)


# --- headless Chromium ---------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI; `make test` installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-quic",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def browser_login(live_server):
    """browser_login(page, user) logs a user in through the real login form."""

    def login(page, user, password: str | None = None):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password or "pw-" + user.username)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return login


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(Path(settings.VAR_DIR) / "test" / settings.TEST_RUN_ID, ignore_errors=True)


def pytest_collection_modifyitems(items):
    """Serialized-rollback tests first among the transactional ones (pytest-django has put
    those together, after the others that use the database; its hook runs first).

    Such a test reloads the data the migrations made, with their ids, before it runs. A
    transactional test without it leaves the content types and permissions made again by the
    flush after it, under new ids, and the reload then fails on a duplicate content type:
    a serialized test right after one failed at set-up (`-k`, or one file after another).
    After a serialized test the database is left empty, which the others handle
    (`role_groups_restored`, content types made on first use)."""

    def marker(item):
        found = item.get_closest_marker("django_db")
        return found.kwargs if found else {}

    def is_transactional(item):  # as pytest-django tells
        fixtures = getattr(item, "fixturenames", ())
        return (
            marker(item).get("transaction")
            or "transactional_db" in fixtures
            or "live_server" in fixtures
        )

    transactional = [i for i, item in enumerate(items) if is_transactional(item)]
    group = [items[i] for i in transactional]
    group.sort(key=lambda item: not marker(item).get("serialized_rollback"))  # stable
    for i, item in zip(transactional, group, strict=True):
        items[i] = item
