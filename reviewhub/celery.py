"""The Celery app. Tasks are thin: take an id, load, call a service.

Reliability rules (settings.py has the defaults):
- enqueue with `task.delay_on_commit(...)` so a task never sees an uncommitted row;
- `acks_late=True` only on idempotent tasks (a redelivery must be harmless);
- every task has time limits, and retries use exponential backoff with a cap.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")

app = Celery("reviewhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
