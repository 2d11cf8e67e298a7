"""The Conversations explorer at scale: a filtered, searched page at 1M logged turns on
PostgreSQL (`search_page_p95_ms_1m`). Bulk approval (`examples_approve_per_s`) is measured
in bench_release.py, on the issue #17 workload.

Builds its own PostgreSQL database (`bench_search`, or BENCH_SEARCH_DB; dropped afterwards
unless BENCH_SEARCH_KEEP): migrates, takes the search migrations back (no search document,
triggers or GIN index while loading), loads turns, feedback and queue items with
INSERT … SELECT generate_series (words drawn from a Zipf-like vocabulary, so some are in a
third of the turns and some in a few percent), then applies the search migrations again
(the real migration an existing deployment runs: the stored documents and their index)
and ANALYZEs. BENCH_SEARCH_REUSE measures a kept database without loading it again.
Pages are timed through Django's test client on `/explore/` as an expert sees them
(search + filters + rows + count + navigation), first pages and pages reached by
following cursors.

Runs in a child process so its Django configuration never mixes with other benchmarks.
BENCH_SEARCH_TURNS sets the size (default 1,000,000).
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
from urllib.parse import urlencode

import common

DB = os.environ.get("BENCH_SEARCH_DB", "bench_search")
TURNS = int(os.environ.get("BENCH_SEARCH_TURNS", "1000000"))
PAGES = 200
NEXT_CURSOR = re.compile(rb"cursor=([A-Za-z0-9_-]+)")


def run() -> dict:
    reuse = os.environ.get("BENCH_SEARCH_REUSE")
    if not reuse:
        common.pg_admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        common.pg_admin(f"CREATE DATABASE {DB}")
    try:
        with tempfile.TemporaryDirectory(prefix="rh-bench-search-") as tmp:
            # the explorer renders with DEBUG off, as served: its static files must exist
            env = common.collectstatic(common.pg_env(DB, Path(tmp)), Path(tmp) / "static")
            return common.child_json(__file__, env, "--child", timeout=1500, stderr="after")
    finally:
        if not os.environ.get("BENCH_SEARCH_KEEP"):
            common.pg_admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


p95 = common.p95_interpolated
log = functools.partial(common.log, "bench_search")


# --- the child ----------------------------------------------------------------------------

WORDS = """refund invoice password login account billing payment card subscription plan
upgrade downgrade cancel renew trial export import report dashboard chart filter search
api token webhook integration slack email notification alert schedule backup restore
database migration server deploy release version update install configure setting
permission role team member invite remove delete archive share link download upload file
folder document page template theme language timezone currency tax address shipping
order delivery tracking return exchange warranty support ticket chat call phone hours
holiday discount coupon price quote contract renewal agreement privacy security audit
compliance gdpr encryption sso saml oauth mfa device mobile desktop browser cache cookie
error timeout crash slow latency outage status incident bug feature request feedback""".split()


def child() -> None:
    sys.path.insert(0, str(common.ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not os.environ.get("BENCH_SEARCH_REUSE"):
        t0 = time.perf_counter()
        call_command("migrate", "workspace", "0001", verbosity=0)  # no GIN index while loading
        generate()
        t1 = time.perf_counter()
        call_command("migrate", "workspace", verbosity=0)  # the real index build
        t2 = time.perf_counter()
        from django.db import connection

        with connection.cursor() as c:
            c.execute("ANALYZE")
        log(
            f"loaded {TURNS:,} turns in {t1 - t0:.0f}s, search indexes built in {t2 - t1:.0f}s,"
            f" analyzed in {time.perf_counter() - t2:.0f}s"
        )
    expert = User.objects.get(username="bench_expert")
    print(json.dumps(bench_pages(expert)))


def generate() -> None:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from accounts.services import user_create

    user_create(username="bench_expert", role="expert", password="x")
    user_create(username="bench_lead", role="lead", password="x")
    User.objects.bulk_create([User(username=f"bench_user{i}", password="!") for i in range(100)])
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    n = len(WORDS)

    def word(seed: str) -> str:  # Zipf-like: low indexes far more often
        return f"w.a[1 + floor({n} * power(random(), 1.5))::int]"

    question = " || ' ' || ".join(
        ["'How do I'", word("1"), "'my'", word("2"), "'with the'", word("3"), "'?'"]
    )
    answer = " || ' ' || ".join(
        [
            "'You can'",
            word("4"),
            "'the'",
            word("5"),
            "'from the'",
            word("6"),
            "'page, then check the'",
            word("7"),
            "'and the'",
            word("8"),
            "'settings before you'",
            word("9"),
            "'it again.'",
        ]
    )
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            """INSERT INTO chat_conversation (id, user_id, title, source, external_id,
                         created_at, updated_at)
                     SELECT gen_random_uuid(), (SELECT min(id) FROM auth_user
                         WHERE username LIKE 'bench_user%%') + g %% 100, 'c' || g,
                         CASE WHEN g %% 5 = 0 THEN 'api' ELSE 'chat' END, '', now(), now()
                     FROM generate_series(1, 10000) g""",
            [],
        )
        c.execute(
            f"""INSERT INTO chat_turn (id, question_uid, conversation_id, user_id, position,
                    source, question, answer, status, error, system_prompt, rendered_context,
                    prompt_messages, grounded, max_context_score, provider, model, params,
                    external_user, metadata, created_at)
                SELECT gen_random_uuid(), gen_random_uuid(), conv.ids[1 + g %% 10000],
                       u.ids[1 + g %% 100], g / 10000,
                       CASE WHEN g %% 5 = 0 THEN 'api' ELSE 'chat' END,
                       {question}, {answer}, 'ok', '', '', '', '[]'::jsonb, g %% 3 <> 0,
                       CASE WHEN g %% 3 <> 0 THEN (g::bigint * 7919 %% 1000) / 1000.0 END,
                       'offline', 'model-' || g %% 4, '{{}}'::jsonb, '', '{{}}'::jsonb,
                       now() - make_interval(secs => g * 30)
                FROM generate_series(1, %s) g,
                     (SELECT {words} a) w,
                     (SELECT array_agg(id ORDER BY id) ids FROM chat_conversation) conv,
                     (SELECT array_agg(id ORDER BY id) ids FROM auth_user
                      WHERE username LIKE 'bench_user%%') u""",
            [TURNS],
        )
        # 5% rated: thumbs down with a comment, thumbs up without.
        c.execute(
            f"""INSERT INTO chat_feedback (id, turn_id, user_id, rating, comment, created_at,
                    updated_at)
                SELECT gen_random_uuid(), t.id, t.user_id,
                       CASE WHEN t.position %% 2 = 0 THEN 'down' ELSE 'up' END,
                       CASE WHEN t.position %% 2 = 0
                            THEN 'wrong about ' || {word("c")} ELSE '' END, now(), now()
                FROM chat_turn t, (SELECT {words} a) w
                WHERE abs(hashtext(t.id::text)) %% 20 = 0""",
            [],
        )
        c.execute(
            """INSERT INTO annotations_queueitem (id, turn_id, state, priority,
                         reviews_done, author_id, turn_created_at, model, grounded,
                         max_context_score, feedback, created_at, updated_at)
                     SELECT gen_random_uuid(), t.id,
                            CASE WHEN abs(hashtext(t.id::text)) %% 5 = 0 THEN 'approved'
                                 ELSE 'pending' END, 10, 0, t.user_id, t.created_at, t.model,
                            t.grounded, t.max_context_score, 'none', now(), now()
                     FROM chat_turn t""",
            [],
        )


def bench_pages(expert) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(expert)
    month_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))
    year_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 200 * 86400))
    queries = [
        {"q": "refund", "grounded": "no", "date_from": month_ago},  # a common word
        {"q": "gdpr", "model": "model-2"},  # a rare word
        {"q": "password reset", "rating": "down"},
        {"q": "invoice -payment", "source": "api", "date_from": year_ago},
        {"q": "slow", "review": "approved"},
        {"q": "export or import", "grounded": "yes", "model": "model-1"},
        {"q": "wrong", "rating": "down"},  # in feedback comments
        {"q": "timeout"},
    ]
    for params in queries:  # warm-up
        assert client.get("/explore/", params).status_code == 200
    samples, kinds = [], {"first": [], "next": []}
    cursor, current = "", queries[0]
    for k in range(PAGES):
        if k % 4 == 0 or not cursor:
            current = queries[(k // 4) % len(queries)]
            kind, params = "first", current
        else:
            kind, params = "next", {**current, "cursor": cursor}
        t0 = time.perf_counter()
        response = client.get("/explore/?" + urlencode(params))
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, response.status_code
        found = NEXT_CURSOR.findall(response.content)
        cursor = found[-1].decode() if found else ""
        samples.append(elapsed)
        kinds[kind].append(elapsed)
    for kind, values in kinds.items():
        if len(values) > 1:
            log(f"{kind} pages: p50 {statistics.median(values):.1f} ms, p95 {p95(values):.1f} ms")
    log(f"all pages: p50 {statistics.median(samples):.1f} ms, p95 {p95(samples):.1f} ms")
    name = "search_page_p95_ms_1m" if TURNS >= 1_000_000 else f"search_page_p95_ms_{TURNS}"
    return {
        name: {
            "value": round(p95(samples), 1),
            "unit": "ms",
            "target": "<= 150",
            "n": PAGES,
        }
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        child()
    else:
        from run import main

        sys.exit(main(["bench_search"]))
