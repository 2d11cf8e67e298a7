"""Concurrent claimers on PostgreSQL: two experts never hold the same item."""

import threading
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection, connections

from accounts.services import user_create
from annotations import services
from annotations.models import QueueItem
from tests.factories import make_turn

THREADS = 6
ITEMS = 40


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="row locks (SELECT … FOR UPDATE SKIP LOCKED) need PostgreSQL; SQLite serialises "
    "writers, so there is no race to prove here (CI runs this on PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_hold_the_same_item(roles_seeded, end_user):
    assert connection.vendor == "postgresql"
    for i in range(ITEMS):
        make_turn(end_user, age_minutes=i)
    experts = [user_create(username=f"racer{i}", role="expert")[0] for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    claimed: list[tuple[int, object]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            barrier.wait()
            while True:
                item = services.queue_claim_next(expert=experts[n])
                if item is None:
                    return
                # The lease is really ours in the database…
                assert QueueItem.objects.get(pk=item.pk).holder_id == experts[n].pk
                with lock:
                    claimed.append((n, item.pk))
                # …then "finish" it so it leaves the queue (as a review would).
                QueueItem.objects.filter(pk=item.pk, holder=experts[n]).update(
                    state="rejected", holder=None, lease_expires_at=None
                )
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    counts = Counter(pk for _, pk in claimed)
    assert len(counts) == ITEMS, "every item was claimed"
    assert max(counts.values()) == 1, "no item was claimed twice"
    assert len({n for n, _ in claimed}) > 1, "the claimers really ran concurrently"
