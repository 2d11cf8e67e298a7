"""Graph sync benchmark (issue #4).

- graph_sync_batched_per_s / graph_sync_per_object_per_s / graph_sync_speedup: the same
  turns (each: question + answer Message nodes, NEXT, two HAS_CONTEXT {rank, score} to
  existing chunks) written to the same embedded server by `graph.projection.sync_turns`
  (UNWIND … MERGE batches) and by neomodel per-object `save()` / `connect()`.
- graph_drain_per_s: the outbox drain (claim, write with dependencies, mark synced) of the
  same turns.
- graph_check_s_100k: `graph.reconcile.check()` (ids, counts, lineage edges) after that rebuild.
- graph_rebuild_s_100k: `graph.reconcile.rebuild(clean=True)` of a database with BENCH_TURNS
  logged turns (default 100,000) in 20,000 conversations, 200k contexts, 20k feedback.

The server is a JVM whose compiler keeps speeding both paths up for several rounds, so
the two paths run interleaved, ROUNDS times each on the same turns; the first round of
each is warm-up and the figure is the best of the others (every round is logged). The
bench asserts that both produce the same graph (same node and relationship counts).

Runs in a child process with its own temp SQLite database and its own graph server, so
it never touches the dev database or graph. `python bench/bench_graph.py --child` is
the child; `run()` is what bench/run.py calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import common

TURNS = int(os.environ.get("BENCH_TURNS", "100000"))
COMPARE_TURNS = int(os.environ.get("BENCH_COMPARE_TURNS", "2000"))
ROUNDS = int(os.environ.get("BENCH_GRAPH_ROUNDS", "5"))


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="rh-bench-graph-") as tmp:
        env = common.sqlite_env(tmp, without={"NEO4J_URL"}, REVIEWHUB_VAR_DIR=tmp)
        return common.child_json(__file__, env, "--child", tmp, stderr="live")


# --- the child ----------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _start_graph(tmp: str):
    from django.conf import settings

    from reviewhub.graphdb import configure, wait_until_ready
    from tests.conftest import free_port, wait_for_port

    bolt, http = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(common.ROOT / "manage.py"),
            "graphserver",
            "--bolt-port",
            str(bolt),
            "--http-port",
            str(http),
            "--data-dir",
            f"{tmp}/graph",
        ],
        cwd=common.ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(bolt, 120, proc)
    url = f"bolt://root:{settings.GRAPH_PASSWORD}@127.0.0.1:{bolt}/{settings.GRAPH_DATABASE}"
    wait_until_ready(120, url, alive=lambda: proc.poll() is None)
    settings.NEO4J_URL = url
    configure(url)
    return proc


def _make_data(n_turns: int) -> None:
    """Bulk inserts: 50 users, 100 documents × 10 chunks, 5 keyword topics, n_turns turns in
    conversations of 5, two contexts per turn, feedback on every fifth turn. Each question
    gets its topic as production gives it: a keyword membership (the ABOUT edge's source)
    from `chat.topics.assign_topics`, the periodic task, which also sets `Turn.topic`."""
    import hashlib
    import random
    import uuid
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from chat.models import Conversation, Feedback, Topic, Turn, TurnContext
    from chat.topics import assign_topics
    from knowledge.models import Chunk, Document
    from outbox.models import OutboxEntry

    rnd = random.Random(4)
    users = User.objects.bulk_create(User(username=f"bench{i}") for i in range(50))
    docs = Document.objects.bulk_create(
        Document(
            title=f"Doc {i}",
            source=f"kb/{i}.md",
            text=f"doc {i}",
            checksum=hashlib.sha256(f"doc {i}".encode()).hexdigest(),
        )
        for i in range(100)
    )
    chunks = Chunk.objects.bulk_create(
        Chunk(document=d, index=j, text=f"{d.title} chunk {j} " + "lorem ipsum " * 20)
        for d in docs
        for j in range(10)
    )
    Topic.objects.bulk_create(Topic(name=f"topic {i}", keywords=[f"k{i}"]) for i in range(5))
    now = timezone.now()
    per_conv = 5
    convs = Conversation.objects.bulk_create(
        (
            Conversation(user=users[i % len(users)], title=f"c{i}")
            for i in range(n_turns // per_conv)
        ),
        batch_size=5000,
    )
    turns, contexts, feedback = [], [], []
    for i in range(n_turns):
        conv = convs[i // per_conv]
        t = Turn(
            id=uuid.uuid4(),
            conversation=conv,
            user_id=conv.user_id,
            position=i % per_conv,
            question=f"question {i} about k{i % 5}",
            answer=f"answer {i} " + "text " * 30,
            grounded=True,
            model="offline",
            provider="offline",
            max_context_score=rnd.random(),
            created_at=now - timedelta(minutes=n_turns - i),
            completed_at=now,
        )
        turns.append(t)
        for rank in (1, 2):
            c = chunks[rnd.randrange(len(chunks))]
            contexts.append(
                TurnContext(
                    turn=t,
                    chunk=c,
                    rank=rank,
                    score=rnd.random(),
                    text=c.text,
                    source="kb",
                    title="t",
                )
            )
        if i % 5 == 0:
            feedback.append(
                Feedback(turn=t, user_id=conv.user_id, rating="down" if i % 3 else "up")
            )
    Turn.objects.bulk_create(turns, batch_size=5000)
    TurnContext.objects.bulk_create(contexts, batch_size=5000)
    Feedback.objects.bulk_create(feedback, batch_size=5000)
    assert assign_topics() == n_turns  # question i is about k{i % 5}: topic i % 5
    # The rest of the data was inserted without outbox rows; so are the topics' (the graph
    # is written by the timed steps, and the drain step records the turns it drains).
    OutboxEntry.objects.all().delete()


def _per_object(turn_ids: list) -> None:
    """The naive path: neomodel objects saved and connected one at a time, producing the
    same graph as `sync_turns` (messages, NEXT, FIRST, HAS_CONTEXT, ABOUT)."""
    from chat.models import TopicMembership, Turn, TurnContext
    from graph import nodes

    chunk_nodes = {c.uid: c for c in nodes.Chunk.nodes.all()}
    topic_nodes = {t.uid: t for t in nodes.Topic.nodes.all()}
    contexts: dict = {}
    for c in TurnContext.objects.filter(turn_id__in=turn_ids):
        contexts.setdefault(c.turn_id, []).append(c)
    memberships: dict = {}
    for m in TopicMembership.objects.filter(turn_id__in=turn_ids):
        memberships.setdefault(m.turn_id, []).append(m)
    previous: dict = {}  # conversation -> its last answer node so far
    for t in Turn.objects.filter(id__in=turn_ids).order_by("conversation_id", "position"):
        conv = str(t.conversation_id)
        q = nodes.Message(
            uid=str(t.question_uid),
            role="user",
            turn_uid=str(t.id),
            conversation_uid=conv,
            position=t.position,
            text=t.question,
            created_at=t.created_at,
        ).save()
        a = nodes.Message(
            uid=str(t.id),
            role="assistant",
            turn_uid=str(t.id),
            conversation_uid=conv,
            position=t.position,
            text=t.answer,
            status=t.status,
            created_at=t.completed_at,
            grounded=t.grounded,
            model=t.model,
            provider=t.provider,
            max_context_score=t.max_context_score,
        ).save()
        q.next.connect(a)
        if conv in previous:
            previous[conv].next.connect(q)
        else:
            nodes.Conversation.nodes.get(uid=conv).first_message.connect(q)
        previous[conv] = a
        for c in contexts.get(t.id, []):
            a.context.connect(chunk_nodes[str(c.chunk_id)], {"rank": c.rank, "score": c.score})
        for m in memberships.get(t.id, []):
            q.about.connect(topic_nodes[str(m.topic_id)], {"method": m.method, "score": m.score})


def _counts() -> tuple:
    from neomodel import db

    nodes, _ = db.cypher_query("MATCH (n) RETURN labels(n)[0], count(*) ORDER BY labels(n)[0]")
    rels, _ = db.cypher_query("MATCH ()-[r]->() RETURN type(r), count(*) ORDER BY type(r)")
    return [tuple(r) for r in nodes], [tuple(r) for r in rels]


def child(tmp: str) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from neomodel import db

    from chat.models import Turn
    from graph.cypher import wipe
    from graph.projection import sync
    from graph.reconcile import all_ids, check, rebuild
    from graph.schema import ENTITIES, install_schema

    proc = _start_graph(tmp)
    try:
        call_command("migrate", verbosity=0)
        started = time.monotonic()
        _make_data(TURNS)
        _log(f"data: {TURNS} turns in {time.monotonic() - started:.1f}s")
        install_schema()

        # 1. batched vs per-object on the same turns; the nodes they point at (users,
        #    conversations, topics, documents, chunks) are written first, outside the timing.
        for entity in ("user", "topic", "document", "conversation"):
            sync(entity, all_ids(entity), deps=False)
        ordered = list(
            Turn.objects.order_by("conversation_id", "position").values_list("id", flat=True)[
                : COMPARE_TURNS + 5300
            ]
        )
        ids, warm = ordered[:COMPARE_TURNS], ordered[COMPARE_TURNS:]
        _per_object(warm[:300])  # warm the server's JIT for both paths
        for part in range(300, len(warm), 1000):
            sync("turn", warm[part : part + 1000], deps=False)
        per_object, batched = [], []
        for _ in range(ROUNDS):
            db.cypher_query("MATCH (m:Message) DETACH DELETE m")
            started = time.monotonic()
            _per_object(ids)
            per_object.append(time.monotonic() - started)
            per_object_graph = _counts()
            db.cypher_query("MATCH (m:Message) DETACH DELETE m")
            started = time.monotonic()
            sync("turn", ids, deps=False)
            batched.append(time.monotonic() - started)
            assert _counts() == per_object_graph, (_counts(), per_object_graph)
        per_object_s, batched_s = min(per_object[1:]), min(batched[1:])
        _log(
            f"compare on {len(ids)} turns, rounds (first is warm-up): per-object "
            f"{', '.join(f'{t:.2f}' for t in per_object)} s; batched "
            f"{', '.join(f'{t:.3f}' for t in batched)} s; same graph: {per_object_graph}"
        )

        # 2. the outbox drain a worker runs after turns are logged: claim, write with the
        #    turns' dependencies checked, mark synced (best of two).
        from django.db import transaction

        from graph.drain import drain
        from outbox.models import OutboxEntry
        from outbox.services import record

        with transaction.atomic():
            record("turn", ids)
        drain_s = float("inf")
        for _ in range(2):
            db.cypher_query("MATCH (m:Message) DETACH DELETE m")
            OutboxEntry.objects.update(synced_at=None)
            started = time.monotonic()
            assert drain() == len(ids)
            drain_s = min(drain_s, time.monotonic() - started)
        _log(f"outbox drain of {len(ids)} turns: {drain_s:.2f}s")

        # 3. full rebuild from an empty graph
        wipe()
        started = time.monotonic()
        rebuild(clean=True)
        rebuild_s = time.monotonic() - started
        rows, _ = db.cypher_query("MATCH (m:Message) RETURN count(m)")
        assert rows[0][0] == 2 * TURNS, rows
        _log(f"rebuild of {TURNS} turns ({', '.join(ENTITIES)}): {rebuild_s:.1f}s")
        started = time.monotonic()
        report = check()
        check_s = time.monotonic() - started
        assert report.ok, report.differences()
        _log(f"graph_check of {TURNS} turns: {check_s:.1f}s")
    finally:
        from tests.conftest import stop_process

        stop_process(proc)
    n = len(ids)
    return {
        "graph_sync_batched_per_s": {
            "value": round(n / batched_s, 1),
            "unit": "turns/s",
            "target": "≥ 20× per-object",
            "n": n,
        },
        "graph_sync_per_object_per_s": {
            "value": round(n / per_object_s, 1),
            "unit": "turns/s",
            "target": "baseline",
            "n": n,
        },
        "graph_sync_speedup": {
            "value": round(per_object_s / batched_s, 1),
            "unit": "×",
            "target": "≥ 20",
            "n": n,
        },
        "graph_drain_per_s": {
            "value": round(n / drain_s, 1),
            "unit": "turns/s",
            "target": "keeps up with logging",
            "n": n,
        },
        "graph_rebuild_s_100k": {
            "value": round(rebuild_s, 1),
            "unit": "s",
            "target": "minutes, not hours",
            "n": TURNS,
        },
        "graph_check_s_100k": {
            "value": round(check_s, 1),
            "unit": "s",
            "target": "well inside the maintenance period",
            "n": TURNS,
        },
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
    else:
        print(json.dumps(run(), indent=2))
