"""Start everything `make run` needs, keep it running, and stop all of it on Ctrl-C.

The web server (gunicorn, or runserver with autoreload under --dev), a Celery worker, Celery
beat and (unless NEO4J_URL points elsewhere) the embedded graph server each run as their own
process; this one only supervises them (reviewhub/supervisor.py): a part that dies is
restarted with a backoff, one that keeps dying stops everything with its name on the console.
"""

from __future__ import annotations

import os
import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from reviewhub.env import env_float, env_int
from reviewhub.graphdb import wait_until_ready
from reviewhub.supervisor import ChildKeepsDying, Supervisor


class Command(BaseCommand):
    help = "Run the web server, a Celery worker, beat and the embedded graph server together."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--dev", action="store_true", help="runserver with autoreload instead of gunicorn"
        )

    def handle(self, *args, port: int, dev: bool, **options):
        supervisor = Supervisor(
            say=lambda line: (self.stderr.write(line), self.stderr.flush()),
            max_restarts=env_int("SUPERVISOR_MAX_RESTARTS", 5, minimum=0),
            window=env_float("SUPERVISOR_WINDOW_S", 300.0),
            backoff=env_float("SUPERVISOR_BACKOFF_S", 1.0),
        )
        signal.signal(signal.SIGINT, supervisor.stop)
        signal.signal(signal.SIGTERM, supervisor.stop)
        try:
            for name, cmd in self._children(port, dev):
                supervisor.start(name, cmd)
                if name == "graph":
                    self._wait_for_graph(supervisor)
                    if supervisor.stopping:
                        return
            self._banner(port)
            supervisor.run()
        except ChildKeepsDying as exc:
            raise CommandError(
                f"{exc.child.name} keeps dying (last exit code {exc.code}, "
                f"{len(exc.child.deaths)} times in {supervisor.window:g} s); stopped everything. "
                f"Its output is above; the command was: {' '.join(exc.child.cmd)}"
            ) from None
        finally:
            supervisor.stop_all()
            self.stdout.write("stopped")

    def _children(self, port: int, dev: bool) -> list[tuple[str, list[str]]]:
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        celery = [python, "-m", "celery", "-A", "reviewhub"]
        children = []
        if settings.GRAPH_EMBEDDED:
            children.append(("graph", [python, manage, "graphserver"]))
        # One worker takes every queue (the same one unless CELERY_QUEUE_* split them).
        queues = dict.fromkeys(
            [
                settings.CELERY_QUEUE,
                settings.CELERY_QUEUE_GRAPH,
                settings.CELERY_QUEUE_EVALUATION,
                settings.CELERY_QUEUE_RELEASES,
            ]
        )
        children.append(
            (
                "worker",
                [*celery, "worker", "--pool=solo", "--loglevel=WARNING", "-Q", ",".join(queues)],
            )
        )
        # Beat on its own: a worker restart must not leave a second beat behind (issue #11).
        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        children.append(("beat", [*celery, "beat", "--loglevel=WARNING", "-s", schedule]))
        if dev:
            web = [python, manage, "serve_web", f"127.0.0.1:{port}"]
        else:
            web = [
                python,
                "-m",
                "gunicorn",
                "-c",
                "python:reviewhub.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "reviewhub.wsgi:application",
            ]
        children.append(("web", web))
        return children

    def _wait_for_graph(self, supervisor: Supervisor) -> None:
        graph = supervisor.children[-1]
        try:
            wait_until_ready(
                120, alive=lambda: graph.proc.poll() is None and not supervisor.stopping
            )
        except Exception as exc:
            raise CommandError(
                f"graph server did not start ({exc}); see the output above"
            ) from None
        call_command("graph_install", stdout=open(os.devnull, "w"))

    def _banner(self, port: int) -> None:
        from django.contrib.auth.models import User

        from accounts.demo import DEMO_USERS, demo_password

        self.stdout.write(self.style.SUCCESS(f"\nReviewHub is running on http://localhost:{port}/"))
        present = set(
            User.objects.filter(username__in=[u for u, _ in DEMO_USERS]).values_list(
                "username", flat=True
            )
        )
        for username, role in DEMO_USERS:
            if username in present:
                self.stdout.write(f"  {role:12} {username} / {demo_password(username)}")
        self.stdout.write("Press Ctrl-C to stop.\n")
        self.stdout.flush()
        connections.close_all()  # the supervisor itself needs no database connection
