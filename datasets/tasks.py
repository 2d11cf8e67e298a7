"""Release tasks: thin wrappers over services.

`build_release` is idempotent (a build starts from scratch and only a `building` release
is built) and claims the release with a compare-and-set on its lease, so a duplicate
message is harmless. Acking late lets Redis redeliver after a lost worker; the filesystem
broker never redelivers, so recovery is `reviewhub.jobs.job_sweep`'s (periodic).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from reviewhub.celery import retrying
from reviewhub.memory import give_back


@shared_task(
    **retrying(autoretry_for=(OperationalError, InterfaceError)),
    acks_late=True,
    reject_on_worker_lost=True,
)
def build_release(release_id: str) -> None:
    from datasets.services import release_build

    try:
        release_build(release_id=release_id)
    finally:
        give_back()  # what the build freed, to the system rather than the worker's malloc
