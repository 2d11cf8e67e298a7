"""The Celery app. Tasks are thin: take an id, load, call a service.

Reliability rules (settings.py has the defaults):
- enqueue with `task.delay_on_commit(...)` so a task never sees an uncommitted row; a job
  the user waits for (a release build, a replay) goes through `reviewhub.jobs` instead
  (`job_enqueue_on_commit`: a failed enqueue is recorded on the row, never a 500);
- `acks_late=True` only on idempotent tasks (a redelivery must be harmless);
- every task has time limits, and retries use exponential backoff with a cap;
- a failed enqueue opens a circuit breaker (`BrokerBreaker`): for the next few seconds
  (doubling while the broker stays down, capped) enqueues fail at once instead of each
  write waiting for a connection timeout; the job rows wait and `jobs_sweep` sends them.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import Celery, bootsteps
from celery import Task as CeleryTask
from click import Option
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")
log = logging.getLogger(__name__)


class BrokerUnavailable(OperationalError):
    """Not sent: the broker failed recently and the breaker is open."""


class BrokerBreaker:
    """Per process: after a failed publish, refuse publishes for `open_s` seconds,
    doubling on each failed retry up to `max_s`; one success closes it again.

    Measured here with REDIS_URL on a closed port: a publish that fails costs ~620 ms
    with kombu's default retry policy (~60 ms with ours); refused by the open breaker
    it costs a few microseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open_until = 0.0
        self.failures = 0

    def allow(self) -> bool:
        return time.monotonic() >= self.open_until

    def failed(self) -> float:
        from django.conf import settings

        with self._lock:
            self.failures += 1
            wait = min(
                settings.BROKER_BREAKER_S * 2 ** (self.failures - 1), settings.BROKER_BREAKER_MAX_S
            )
            self.open_until = time.monotonic() + wait
        return wait

    def succeeded(self) -> None:
        if self.failures:
            with self._lock:
                self.failures, self.open_until = 0, 0.0

    def reset(self) -> None:
        self.succeeded()


breaker = BrokerBreaker()


class Task(CeleryTask):
    """Every task's base: publishes go through the breaker."""

    def apply_async(self, *args, **kwargs):
        if not breaker.allow():
            raise BrokerUnavailable("the task queue was unreachable moments ago; not retried yet")
        try:
            result = super().apply_async(*args, **kwargs)
        except (TypeError, ValueError):  # a bad call, not an outage
            raise
        except Exception as exc:  # kombu/redis raise several types for one outage
            wait = breaker.failed()
            log.warning("enqueue failed (%s); not trying again for %.0f s", exc, wait)
            raise
        breaker.succeeded()
        return result


class App(Celery):
    """One result backend for all threads when there is none to talk to.

    Celery builds `app.backend` once per thread, and each build looks the backend up among
    every installed package's entry points (importlib.metadata reads them all): ~60 ms, paid
    by each of the web's threads the first time it enqueued a task (the graph drain after an
    ingestion request, issue #17). With no result backend configured (CELERY_RESULT_BACKEND
    = None: Celery's disabled backend, which holds no connection or state) one instance
    serves every thread; a configured backend keeps Celery's per-thread instances."""

    _shared_backend = None

    @property
    def backend(self):
        if self.conf.result_backend:
            return super().backend
        if self._shared_backend is None:
            self._shared_backend = self._get_backend()
        return self._shared_backend


app = App("reviewhub", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class BeatThread(bootsteps.StartStopStep):
    """`celery worker --beat-thread`: the beat scheduler as a thread of this worker.

    Celery's own `--beat` forks a process for it, which holds a second copy of everything
    the worker imported (by RSS, ~100 MB); a thread costs nothing and dies with the worker,
    so a restarted worker never leaves a second beat sending the schedule twice. Used by
    `make run` (serve_all); a production deployment may still run `celery beat` alone."""

    label = "Beat (thread)"
    conditional = True

    def __init__(self, worker, beat_thread: bool = False, **options):
        self.enabled = beat_thread
        super().__init__(worker, **options)

    def create(self, worker):
        from celery.beat import EmbeddedService

        return EmbeddedService(
            worker.app,
            thread=True,
            schedule_filename=worker.schedule_filename,
            scheduler_cls=worker.scheduler,
        )


app.user_options["worker"].add(
    Option(["--beat-thread"], is_flag=True, default=False, help=BeatThread.__doc__.split("\n")[0])
)
app.steps["worker"].add(BeatThread)


def retrying(**overrides):
    """Options for a task that retries transient failures with capped backoff."""
    from django.conf import settings

    options = {
        "autoretry_for": (Exception,),
        "retry_backoff": 2,
        "retry_backoff_max": settings.CELERY_TASK_RETRY_BACKOFF_MAX,
        "retry_jitter": True,
        "max_retries": settings.CELERY_TASK_MAX_RETRIES,
    }
    options.update(overrides)
    return options
