"""Start everything `make run` needs, keep it running, and stop all of it on Ctrl-C.

The web server (gunicorn, or runserver with autoreload under --dev), a Celery worker with
beat in it and (unless NEO4J_URL points elsewhere) the embedded graph server each run as
their own process, supervised by reviewhub/supervisor.py: a part that dies is restarted
with a backoff, one that keeps dying stops everything with its name on the console.

This command only reads the settings and the demo logins; then it replaces itself (exec,
same process id) with the supervisor run as a plain script, so the process that stays up
holds no Django. Memory of the whole stack: bench/bench_stack.py.
"""

from __future__ import annotations

import json
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from reviewhub.env import env_float, env_int

GRAPH_READY_S = 120
# glibc gives each thread that allocates its own malloc arena (up to 8 per core): the web's
# request threads, the worker's drain pipeline and beat threads keep memory in arenas they
# rarely give back. Two arenas bound that (the graph server's JVM has the same setting).
LEAN_MALLOC = {"MALLOC_ARENA_MAX": "2"}
# Fixed thresholds (glibc's own grow after the first large free): blocks from 128 KB up (a
# 500-item request body, its parsed JSON) are mapped and unmapped on their own in the web,
# ~10 MB less at its peak; the worker's release build is ~20% slower with 128 KB, so it
# gets 1 MB (no measurable cost). bench/bench_stack.py has the figures.
WEB_MALLOC = {**LEAN_MALLOC, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "262144"}
WORKER_MALLOC = {
    **LEAN_MALLOC,
    "MALLOC_MMAP_THRESHOLD_": "1048576",
    "MALLOC_TRIM_THRESHOLD_": "2097152",
}


class Command(BaseCommand):
    help = "Run the web server, a Celery worker with beat and the embedded graph server."
    requires_system_checks = []  # each part checks itself when it starts

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--dev", action="store_true", help="runserver with autoreload instead of gunicorn"
        )

    def handle(self, *args, port: int, dev: bool, **options):
        spec = {
            "children": self._children(port, dev),
            "banner": self._banner(port),
            "max_restarts": env_int("SUPERVISOR_MAX_RESTARTS", 5, minimum=0),
            "window": env_float("SUPERVISOR_WINDOW_S", 300.0),
            "backoff": env_float("SUPERVISOR_BACKOFF_S", 1.0),
            "ready_timeout": GRAPH_READY_S,
        }
        connections.close_all()
        read, write = os.pipe()
        os.write(write, json.dumps(spec).encode())  # a few KB: fits the pipe's buffer
        os.close(write)
        os.set_inheritable(read, True)
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = str(settings.BASE_DIR / "reviewhub" / "supervisor.py")
        # -P: the script's folder (reviewhub/) is not put on sys.path.
        os.execv(sys.executable, [sys.executable, "-P", supervisor, str(read)])

    def _children(self, port: int, dev: bool) -> list[dict]:
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        celery = [python, "-m", "celery", "-A", "reviewhub"]
        children = []
        if settings.GRAPH_EMBEDDED:
            children.append(self._graph(python, manage))
        # One worker takes every queue (the same one unless CELERY_QUEUE_* split them).
        queues = dict.fromkeys(
            [
                settings.CELERY_QUEUE,
                settings.CELERY_QUEUE_GRAPH,
                settings.CELERY_QUEUE_EVALUATION,
                settings.CELERY_QUEUE_RELEASES,
            ]
        )
        # Beat runs as a thread of the worker (reviewhub.celery.BeatThread): a worker that
        # dies takes its beat with it, so a restart never leaves a second beat behind, and
        # no process of its own holds Django and the apps a second time (~100 MB).
        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        worker = [*celery, "worker", "--pool=solo", "--loglevel=WARNING"]
        worker += ["-Q", ",".join(queues), "--beat-thread", "--schedule", schedule]
        children.append({"name": "worker", "cmd": worker, "env": WORKER_MALLOC})
        if dev:
            web = [python, manage, "serve_web", f"127.0.0.1:{port}"]
        else:
            # The config by path: the master then imports neither Django nor the package.
            conf = str(settings.BASE_DIR / "reviewhub" / "gunicorn_conf.py")
            web = [python, "-m", "gunicorn", "-c", conf]
            web += ["--bind", f"127.0.0.1:{port}", "reviewhub.wsgi:application"]
        children.append({"name": "web", "cmd": web, "env": WEB_MALLOC})
        return children

    def _graph(self, python: str, manage: str) -> dict:
        """The embedded server as a plain script (no Django in its process, only the JVM);
        it is ready when `graph_install` can install the schema."""
        server = [python, "-P", str(settings.BASE_DIR / "graph" / "server.py")]
        server += ["--data-dir", str(settings.GRAPH_DATA_DIR.resolve())]
        server += ["--bolt-port", str(settings.GRAPH_BOLT_PORT)]
        server += ["--http-port", str(settings.GRAPH_HTTP_PORT)]
        server += ["--database", settings.GRAPH_DATABASE, "--heap", settings.GRAPH_HEAP]
        server += ["--jvm-args", settings.GRAPH_JVM_ARGS]
        server += ["--page-cache-mb", str(settings.GRAPH_PAGE_CACHE_MB)]
        return {
            "name": "graph",
            "cmd": server,
            # glibc gives each busy thread its own malloc arena; the JVM has dozens.
            "env": {"GRAPH_PASSWORD": settings.GRAPH_PASSWORD, "MALLOC_ARENA_MAX": "2"},
            "ready": [python, manage, "graph_install", "--wait", str(GRAPH_READY_S)],
        }

    def _banner(self, port: int) -> str:
        from django.contrib.auth.models import User

        from accounts.demo import DEMO_USERS, demo_password

        lines = [self.style.SUCCESS(f"\nReviewHub is running on http://localhost:{port}/")]
        present = set(
            User.objects.filter(username__in=[u for u, _ in DEMO_USERS]).values_list(
                "username", flat=True
            )
        )
        for username, role in DEMO_USERS:
            if username in present:
                lines.append(f"  {role:12} {username} / {demo_password(username)}")
        lines.append("Press Ctrl-C to stop.\n")
        return "\n".join(lines)
