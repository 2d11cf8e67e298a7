"""Start everything `make run` needs and stop all of it on Ctrl-C.

The web server, a Celery worker and (unless NEO4J_URL points elsewhere) the embedded
graph server each run as their own process; this one only supervises them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from reviewhub.graphdb import wait_until_ready

DEMO_LOGINS = [
    ("demo_user", "end user"),
    ("demo_expert", "expert"),
    ("demo_lead", "lead"),
    ("demo_lead2", "second lead"),
]


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and the embedded graph server together."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, port: int, **options):
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        procs: list[tuple[str, subprocess.Popen]] = []

        def start(name: str, cmd: list[str]) -> None:
            # Own process group: the terminal's Ctrl-C reaches us, and we stop them in order.
            procs.append((name, subprocess.Popen(cmd, start_new_session=True)))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if settings.GRAPH_EMBEDDED:
                start("graph", [python, manage, "graphserver"])
                graph_proc = procs[-1][1]
                try:
                    wait_until_ready(120, alive=lambda: graph_proc.poll() is None)
                except Exception as exc:
                    self.stderr.write(f"graph server did not start ({exc}); see the output above")
                    return
                call_command("graph_install", stdout=open(os.devnull, "w"))
            start(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "reviewhub",
                    "worker",
                    "--pool=solo",
                    "--loglevel=WARNING",
                    "-Q",
                    settings.CELERY_QUEUE,
                    "-B",
                    "-s",
                    str(settings.VAR_DIR / "celerybeat-schedule"),
                ],
            )
            start("web", [python, manage, "serve_web", f"127.0.0.1:{port}", "--noreload"])
            self._banner(port)
            while not stopping:
                for name, proc in procs:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping")
                        stopping = True
                time.sleep(0.5)
        finally:
            self._stop_all(procs)

    def _banner(self, port: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nReviewHub is running on http://localhost:{port}/"))
        for username, role in DEMO_LOGINS:
            self.stdout.write(f"  {role:12} {username} / demo-{username.split('_')[1]}")
        self.stdout.write("Press Ctrl-C to stop.\n")

    def _stop_all(self, procs: list[tuple[str, subprocess.Popen]]) -> None:
        for _, proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, proc in reversed(procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.stdout.write("stopped")
