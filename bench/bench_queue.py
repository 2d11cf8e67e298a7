"""Review queue at scale: claim-next and the lead's queue page with 1M logged turns.

Builds its own PostgreSQL database `bench_queue` (dropped afterwards), generates the
turns and queue items with INSERT … SELECT generate_series (no per-row Python), then
times the real code: `services.queue_claim_next` (20 experts holding leases at the
top of the queue while it drains) and the `/review/queue/` view through Django's test
client (first pages, following keyset cursors, and deep cursors half a million rows in).

Runs in a child process so its Django configuration never mixes with other benchmarks.
"""

from __future__ import annotations

import functools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common

DB = "bench_queue"
TURNS = int(os.environ.get("BENCH_QUEUE_TURNS", "1000000"))
EXPERTS = 20
CLAIMS = 400
PAGES = 200


def run() -> dict:
    reuse = os.environ.get("BENCH_QUEUE_REUSE")  # keep/reuse the data while tuning
    if not reuse:
        _recreate_db()
    try:
        with tempfile.TemporaryDirectory(prefix="rh-bench-queue-") as tmp:
            # the queue page renders with DEBUG off, as served: its static files must exist
            env = common.collectstatic(common.pg_env(DB, Path(tmp)), Path(tmp) / "static")
            return common.child_json(__file__, env, "--child", timeout=1500, stderr="after")
    finally:
        if not os.environ.get("BENCH_QUEUE_KEEP"):
            _drop_db()


def _recreate_db() -> None:
    _drop_db()
    common.pg_admin(f"CREATE DATABASE {DB}")


def _drop_db() -> None:
    common.pg_admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


p95 = common.p95_interpolated
log = functools.partial(common.log, "bench_queue")


# --- the child: Django configured on the bench database ---------------------------------


def child() -> None:
    sys.path.insert(0, str(common.ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if os.environ.get("BENCH_QUEUE_REUSE"):
        from django.contrib.auth.models import User

        from annotations.models import QueueItem

        QueueItem.objects.filter(holder__isnull=False).update(holder=None, lease_expires_at=None)
        users = {
            "experts": list(
                User.objects.filter(username__startswith="bench_expert").order_by("id")
            ),
            "lead": User.objects.get(username="bench_lead"),
        }
    else:
        t0 = time.perf_counter()
        users = generate()
        log(f"generated {TURNS:,} turns + queue items in {time.perf_counter() - t0:.1f}s")
    results = {}
    results.update(bench_refresh())
    results.update(bench_claims(users["experts"]))
    results.update(bench_pages(users["lead"]))
    print(json.dumps(results))


def _turn_columns() -> dict[str, str]:
    """Every NOT NULL column of chat_turn gets a value, even ones added later."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("""SELECT column_name, data_type FROM information_schema.columns
                     WHERE table_name = 'chat_turn' AND is_nullable = 'NO'""")
        return dict(c.fetchall())


FILLERS = {
    "text": "''",
    "character varying": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "timestamp with time zone": "now()",
    "uuid": "gen_random_uuid()",
    "double precision": "0",
}


def insert_turns(cursor, *, first: int, count: int) -> list:
    """INSERT … SELECT generate_series: turns first..first+count-1; returns their ids."""
    known = {
        "id": "gen_random_uuid()",
        "question_uid": "gen_random_uuid()",
        "conversation_id": "conv.ids[1 + g % 10000]",
        "user_id": "u.ids[1 + g % 100]",
        "position": "g / 10000",
        "source": "'chat'",
        "question": "'How do I configure feature ' || g || ' of the product in production?'",
        "answer": "'You can configure feature ' || g || ' under Settings, then restart.'",
        "status": "'ok'",
        "grounded": "g % 3 <> 0",
        "model": "'model-' || g % 4",
        "provider": "'offline'",
        "created_at": "now() - make_interval(secs => g * 2)",
        "prompt_messages": "'[]'::jsonb",
        "params": "'{}'::jsonb",
        "metadata": "'{}'::jsonb",
        "max_context_score": "CASE WHEN g % 3 <> 0 THEN (g::bigint * 7919 % 1000) / 1000.0 END",
    }
    columns = dict(known)
    for name, dtype in _turn_columns().items():
        columns.setdefault(name, FILLERS.get(dtype, "''"))
    names = ", ".join(columns)
    exprs = ", ".join(columns.values()).replace("%", "%%")  # modulo, not placeholders
    cursor.execute(
        f"""INSERT INTO chat_turn ({names})
                       SELECT {exprs} FROM generate_series(%s, %s) g,
                         (SELECT array_agg(id ORDER BY id) ids FROM chat_conversation) conv,
                         (SELECT array_agg(id ORDER BY id) ids FROM auth_user
                          WHERE username LIKE 'bench_user%%') u
                       RETURNING id""",
        [first, first + count - 1],
    )
    return [row[0] for row in cursor.fetchall()]


def generate() -> dict:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from accounts.services import user_create
    from annotations.services import queue_priority_params, queue_priority_sql

    experts = [
        user_create(username=f"bench_expert{i}", role="expert", password="x")[0]
        for i in range(EXPERTS)
    ]
    lead = user_create(username="bench_lead", role="lead", password="x")[0]
    User.objects.bulk_create([User(username=f"bench_user{i}", password="!") for i in range(100)])
    with transaction.atomic(), connection.cursor() as c:
        c.execute("""INSERT INTO chat_conversation (id, user_id, title, source, external_id,
                         created_at, updated_at)
                     SELECT gen_random_uuid(), (SELECT min(id) FROM auth_user
                         WHERE username LIKE 'bench_user%%') + g % 100, 'c' || g, 'chat', '',
                         now(), now()
                     FROM generate_series(1, 10000) g""")
        insert_turns(c, first=1, count=TURNS)
        # 5% thumbs down, 5% thumbs up.
        c.execute("""INSERT INTO chat_feedback (id, turn_id, user_id, rating, comment,
                         created_at, updated_at)
                     SELECT gen_random_uuid(), t.id, t.user_id,
                            CASE WHEN t.position % 2 = 0 THEN 'down' ELSE 'up' END, '', now(), now()
                     FROM chat_turn t WHERE abs(hashtext(t.id::text)) % 10 = 0""")
        # Queue items with the same priority SQL as queue_refresh; a fifth already decided.
        priority = queue_priority_sql(
            feedback="coalesce(f.rating, 'none')",
            grounded="t.grounded",
            score="t.max_context_score",
        )
        c.execute(
            f"""
            INSERT INTO annotations_queueitem (id, turn_id, state, priority, reviews_done,
                author_id, turn_created_at, model, grounded, max_context_score, topic_id,
                feedback, created_at, updated_at)
            SELECT gen_random_uuid(), t.id, s.state,
                   {priority} + CASE WHEN s.state = 'pending' THEN %(w_never_reviewed)s ELSE 0 END,
                   CASE WHEN s.state = 'pending' THEN 0 ELSE 1 END,
                   t.user_id, t.created_at, t.model, t.grounded, t.max_context_score, NULL,
                   coalesce(f.rating, 'none'), now(), now()
            FROM chat_turn t
            LEFT JOIN chat_feedback f ON f.turn_id = t.id
            CROSS JOIN LATERAL (SELECT CASE WHEN abs(hashtext(t.question_uid::text)) %% 5 = 0
                                THEN 'approved' ELSE 'pending' END AS state) s
        """,
            queue_priority_params(),
        )
    # Decided items carry a review each, so the claim's "not already reviewed by me"
    # anti-join runs against a realistic reviews table.
    from annotations.models import Rubric

    rubric = Rubric.objects.create(name="bench")
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            """INSERT INTO annotations_review (id, item_id, reviewer_id, rubric_id, scores,
                         tags, verdict, notes, corrected_answer, created_at)
                     SELECT gen_random_uuid(), q.id, e.ids[1 + abs(hashtext(q.id::text)) %% %s],
                            %s, '{"correctness": 4}'::jsonb, '[]'::jsonb, 'approve', '', '', now()
                     FROM annotations_queueitem q,
                          (SELECT array_agg(id ORDER BY id) ids FROM auth_user
                           WHERE username LIKE 'bench_expert%%') e
                     WHERE q.state = 'approved'""",
            [EXPERTS, rubric.pk],
        )
    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")
    return {"experts": experts, "lead": lead}


def bench_refresh() -> dict:
    """queue_refresh on 1,000 newly logged turns at a time, as ingestion calls it, in the
    ingestion's transaction; plus a check that the SQL-generated queue matches the code."""
    from django.db import connection, transaction

    from annotations.models import QueueItem
    from annotations.services import queue_refresh

    with connection.cursor() as c:
        ids = insert_turns(c, first=TURNS + 1, count=20_000)
        c.execute("SELECT id FROM chat_turn TABLESAMPLE SYSTEM (1) LIMIT 1000")
        sample = [r[0] for r in c.fetchall()]
    before = dict(
        QueueItem.objects.filter(turn_id__in=sample, state="pending").values_list(
            "turn_id", "priority"
        )
    )
    queue_refresh(turn_ids=sample)
    after = dict(
        QueueItem.objects.filter(turn_id__in=list(before)).values_list("turn_id", "priority")
    )
    assert before == after, "SQL-generated priorities match services.queue_priority"
    samples = []
    for start in range(0, len(ids), 1000):
        t0 = time.perf_counter()
        with transaction.atomic():
            queue_refresh(turn_ids=ids[start : start + 1000])
        samples.append(time.perf_counter() - t0)
    assert QueueItem.objects.filter(turn_id__in=ids).count() == len(ids)
    rate = 1000 / statistics.median(samples)
    log(f"queue_refresh: median {statistics.median(samples) * 1000:.1f} ms per 1,000 new turns")
    return {
        "queue_refresh_turns_per_s_1m": {
            "value": round(rate, 1),
            "unit": "turns/s",
            "target": "≥ 5000 (ingestion rate)",
            "n": len(samples),
        }
    }


def bench_claims(experts) -> dict:
    from django.utils import timezone

    from annotations.models import QueueItem
    from annotations.selectors import claimable
    from annotations.services import queue_claim_next

    samples = []
    for k in range(CLAIMS + EXPERTS):
        expert = experts[k % EXPERTS]
        # "Finish" what this expert holds (untimed), as a submitted review would.
        QueueItem.objects.filter(holder=expert).update(
            state="rejected", holder=None, lease_expires_at=None
        )
        t0 = time.perf_counter()
        item = queue_claim_next(expert=expert)
        elapsed = time.perf_counter() - t0
        assert item is not None
        if k >= EXPERTS:  # the first round warms caches and fills the leases
            samples.append(elapsed * 1000)
    held = QueueItem.objects.filter(holder__isnull=False).count()
    assert held == EXPERTS, held
    plan = claimable(expert=experts[0], now=timezone.now())[:1].explain()
    log(f"claim plan:\n{plan}")
    log(f"claim p50 {statistics.median(samples):.2f} ms, p95 {p95(samples):.2f} ms")
    return {
        "queue_claim_p95_ms_1m": {
            "value": round(p95(samples), 2),
            "unit": "ms",
            "target": "≤ 20",
            "n": len(samples),
        }
    }


NEXT_CURSOR = re.compile(rb'after=([A-Za-z0-9_\-]+)"')


def bench_pages(lead) -> dict:
    from django.test import Client

    from annotations.models import QueueItem
    from annotations.selectors import encode_cursor

    client = Client()
    client.force_login(lead)
    url = "/review/queue/"
    # Deep cursors: items half-way and near the end of the pending queue (found untimed).
    deep = []
    for offset in (100_000, 400_000, 700_000):
        item = (
            QueueItem.objects.filter(state="pending")
            .order_by("-priority", "turn_created_at", "id")[offset : offset + 1]
            .first()
        )
        if item:
            deep.append(encode_cursor(item))
    for _ in range(5):  # warm-up
        assert client.get(url).status_code == 200
    samples, cursor, kinds = [], "", {"first": [], "next": [], "deep": []}
    for k in range(PAGES):
        if k % 10 == 0:
            kind, target = "first", url
        elif k % 10 in (4, 8) and deep:
            kind, target = "deep", f"{url}?after={deep[k % len(deep)]}"
        else:
            kind, target = "next", f"{url}?after={cursor}" if cursor else url
        t0 = time.perf_counter()
        response = client.get(target)
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, response.status_code
        if kind != "deep":
            found = NEXT_CURSOR.search(response.content)
            cursor = found.group(1).decode() if found else ""
        samples.append(elapsed)
        kinds[kind].append(elapsed)
    assert b"bench_expert" in client.get(url).content  # "who holds what" is on the page
    for kind, values in kinds.items():
        if values:
            log(f"page {kind}: p50 {statistics.median(values):.1f} ms over {len(values)}")
    log(f"page p95 {p95(samples):.1f} ms")
    return {
        "queue_page_p95_ms_1m": {
            "value": round(p95(samples), 2),
            "unit": "ms",
            "target": "≤ 100",
            "n": len(samples),
        }
    }


if __name__ == "__main__" and "--child" in sys.argv:
    child()
