"""Test data for every app, through the real services wherever a user's action makes it.

Conversations, turns, topics on turns (a keyword membership, as `assign_topics` makes it)
and feedback go through `chat.services` (so each turn has its outbox row and its
review-queue item exactly as in production). Documents
(exact chunk counts), topics (the admin's) and examples (the end of a two-reviewer flow)
are made directly, with the outbox row their service would record.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from annotations.models import Criterion, Example, Guideline, QueueItem, Rubric, Tag
from chat import llm, services
from chat.models import Conversation, Feedback, Topic, TopicMembership, Turn
from chat.prompts import RenderedPrompt
from outbox.services import record

_seq = itertools.count(1)
SYSTEM = "You are the support assistant. Answer from the context.\n\nContext:\n[1] Snapshots\n{ctx}"


# --- knowledge -----------------------------------------------------------------------------


@transaction.atomic
def document(title: str = "Doc", chunks: int = 2, source: str = ""):
    """A knowledge-base document with exactly `chunks` chunks ("<title> chunk <i>"); made
    directly because ingestion decides the chunking by size, and tests need a known count."""
    from knowledge.models import Chunk, Document

    n = next(_seq)
    text = f"{title} body {n}"
    doc = Document.objects.create(
        title=title,
        source=source or f"kb/{title}-{n}.md",
        text=text,
        checksum=hashlib.sha256(text.encode()).hexdigest(),
    )
    Chunk.objects.bulk_create(
        Chunk(document=doc, index=i, text=f"{title} chunk {i}") for i in range(chunks)
    )
    record("document", [doc.id])
    return doc


# --- chat ----------------------------------------------------------------------------------


def conversation(user, title: str = "conv") -> Conversation:
    return services.conversation_create(user=user, title=title)


def topic(name: str, keywords=()) -> Topic:
    with transaction.atomic():
        tp = Topic.objects.create(name=name, keywords=list(keywords))
        record("topic", [tp.id])  # topics are made in the admin, which records them alike
    return tp


def turn(
    conv: Conversation | None = None,
    *,
    user=None,
    question: str | None = None,
    answer: str = "It is.",
    contexts=(),
    topic: Topic | None = None,
    replay_of: Turn | None = None,
    grounded: bool = True,
    model: str = "m1",
    days_ago: float = 0,
    system_prompt: str = "You are a helpful assistant.",
    rendered_context: str = "",
    prompt_messages: list | None = None,
    feedback: str | None = None,
    feedback_user=None,
    queued: bool = True,
    position: int | None = None,
) -> Turn:
    """A turn logged by `chat.services.turn_log`, as if the model had given `answer`.

    contexts: (chunk_or_None, score[, text, source[, title]]) in rank order; a None chunk is
    a passage that came without a knowledge-base chunk. `queued=False` removes its review
    queue item afterwards (a turn logged before the queue existed)."""
    conv = conv or conversation(user, title=f"c{next(_seq)}")
    rows = []
    for rank, ctx in enumerate(contexts, start=1):
        chunk, score, *rest = ctx
        rows.append(
            {
                "rank": rank,
                "score": score,
                "text": rest[0] if rest else (chunk.text if chunk else "external passage"),
                "source": rest[1] if len(rest) > 1 else "https://example.com/page",
                "title": rest[2] if len(rest) > 2 else "t",
                "chunk_id": chunk.id if chunk else None,
            }
        )
    question = question or f"Question number {next(_seq)}?"
    messages = (
        prompt_messages
        if prompt_messages is not None
        else [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": question},
        ]
    )
    last = conv.turns.order_by("-position").values_list("position", flat=True).first()
    prepared = services.PreparedTurn(
        conversation=conv,
        user=conv.user,
        question=question,
        choice=llm.ModelChoice(provider="offline", model=model),
        grounded=grounded,
        template=None,
        contexts=rows,
        prompt=RenderedPrompt(system_prompt, rendered_context, messages),
        params={},
        position=position if position is not None else 0 if last is None else last + 1,
        replay_of=replay_of,
        created_at=timezone.now() - timedelta(days=days_ago),
    )
    t = services.turn_log(prepared=prepared, answer=answer, latency_ms=5)
    if topic is not None:  # as keyword rules would have put it (chat.topics.assign_topics)
        with transaction.atomic():
            TopicMembership.objects.create(turn=t, topic=topic, method="keyword")
            services.turn_topics_refresh(turn_ids=[t.id])
        t.refresh_from_db(fields=["topic"])
    if feedback:
        services.feedback_set(
            turn=t,
            user=feedback_user or conv.user,
            rating=feedback,
            comment="not helpful" if feedback == "down" else "",
        )
    if not queued:
        QueueItem.objects.filter(turn_id=t.id).delete()
    return Turn.objects.get(pk=t.pk)


def make_turn(
    user,
    *,
    score: float | None = 0.9,
    grounded: bool = True,
    age_minutes: float = 0,
    refresh: bool = True,
    conversation: Conversation | None = None,
    model: str = "gpt-test",
    answer: str = "The answer is 42.",
    prompt_messages: list | None = None,
    **kwargs,
) -> Turn:
    """A turn for the review queue: grounded ones have one passage scored `score`. Like
    most turns sent through the API, it has no logged prompt messages unless given."""
    return turn(
        conversation,
        user=user,
        answer=answer,
        grounded=grounded,
        contexts=[(None, score, "Port 7687 is Bolt.", "", "Bolt docs")] if grounded else [],
        days_ago=age_minutes / 1440,
        queued=refresh,
        model=model,
        prompt_messages=prompt_messages or [],
        **kwargs,
    )


def feedback(t: Turn, user, rating: str = "down", comment: str = "") -> Feedback:
    return services.feedback_set(turn=t, user=user, rating=rating, comment=comment)


# --- annotations ---------------------------------------------------------------------------


@transaction.atomic
def example(t: Turn, approver=None, **fields) -> Example:
    """An approved example of turn `t` (what adjudication makes), recorded in the outbox."""
    values = {
        "question": t.question,
        "answer": t.answer,
        "original_answer": t.answer,
        "approved_at": timezone.now(),
        "approved_by": approver,
        "grounded": t.grounded,
        "model": t.model,
        "messages": t.prompt_messages,
        **fields,
    }
    e = Example.objects.create(turn=t, **values)
    record("example", [e.id])
    return e


def make_example(
    user,
    *,
    question: str | None = None,
    answer: str | None = None,
    original_answer: str | None = None,
    corrected: bool = False,
    grounded: bool = True,
    tags=None,
    scores=None,
    topic=None,
    approved_at: datetime | None = None,
    messages=None,
    reviewers=(),
    conversation: Conversation | None = None,
) -> Example:
    """An approved example on a fresh turn, with the prompt a release exports."""
    n = next(_seq)
    question = question if question is not None else f"Question number {n} about topic {n * 7}?"
    answer = answer if answer is not None else f"Answer {n}: do step {n} then step {n + 1}."
    original = original_answer
    if original is None:
        original = f"Old answer {n}." if corrected else answer
    system = SYSTEM.format(ctx=f"Restore snapshot {n} from the console.")
    if messages is None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    t = turn(
        conversation,
        user=user,
        question=question,
        answer=original,
        grounded=grounded,
        system_prompt=system,
        prompt_messages=messages,
        topic=topic,
    )
    e = example(
        t,
        messages=messages,
        question=question,
        answer=answer,
        original_answer=original,
        corrected=corrected,
        model="m-1",
        topic=topic,
        tags=tags or [],
        scores=scores or {"accuracy": 4.0},
        approved_at=approved_at or timezone.now() - timedelta(days=1),
    )
    if reviewers:
        e.reviewers.set(reviewers)
    return e


def make_examples(user, count: int, **kwargs) -> list[Example]:
    conv = conversation(user, title="bulk")
    return [make_example(user, conversation=conv, **kwargs) for _ in range(count)]


def make_rubric(*, tags: tuple[str, ...] = ("outdated", "hallucination", "tone")) -> Rubric:
    rubric = Rubric.objects.create(name=f"default {next(_seq)}")
    for position, (key, label) in enumerate(
        [
            ("correctness", "Correctness"),
            ("groundedness", "Groundedness"),
            ("helpfulness", "Helpfulness"),
        ]
    ):
        Criterion.objects.create(
            rubric=rubric,
            key=key,
            label=label,
            position=position,
            scale_min=1,
            scale_max=5,
            required=key != "helpfulness",
        )
    for name in tags:
        Tag.objects.create(rubric=rubric, name=name)
    Guideline.objects.get_or_create(
        title="Be strict",
        defaults={"body": "Approve only **correct** answers. <script>alert(1)</script>"},
    )
    return rubric


GOOD = {"correctness": 5, "groundedness": 4, "helpfulness": 4}


# --- logged questions from the synthetic topic set (bench/topics_data.py) -------------------
# Through the ORM in bulk. Each synthetic topic gets one knowledge document with its passages
# as chunks, so a question's context rows point at real chunks, as retrieval would make them.


def knowledge_base() -> dict[str, object]:
    """{'<topic>-<passage>': Chunk}, created once per test database."""
    from bench.topics_data import PASSAGES_PER_TOPIC, TOPICS
    from knowledge.models import Chunk, Document

    chunks = {}
    for t, name in enumerate(TOPICS):
        text = f"All about {name}"
        doc, _ = Document.objects.get_or_create(
            checksum=hashlib.sha256(text.encode()).hexdigest(),
            defaults={"title": name, "source": f"kb/{name}.md", "text": text},
        )
        for p in range(PASSAGES_PER_TOPIC):
            chunk, _ = Chunk.objects.get_or_create(
                document=doc, index=p, defaults={"text": f"{name} passage {p}"}
            )
            chunks[f"{t}-{p}"] = chunk
    return chunks


@transaction.atomic
def log_questions(user, *, per_topic: int, seed: int = 14, days_ago: int = 0) -> list[tuple]:
    """Log the synthetic questions as turns of one conversation; [(turn, known topic)]."""
    from bench.topics_data import questions
    from chat.models import TurnContext

    chunks = knowledge_base()
    conv = Conversation.objects.create(user=user, title=f"synthetic {seed}")
    at = timezone.now() - timedelta(days=days_ago)
    made = []
    contexts = []
    for position, q in enumerate(questions(per_topic, seed=seed)):
        turn = Turn(
            conversation=conv,
            user=user,
            position=position,
            question=q.text,
            answer="an answer",
            grounded=bool(q.chunks),
            max_context_score=0.5 if q.chunks else None,
            created_at=at,
            completed_at=at,
        )
        made.append((turn, q.topic))
        for rank, chunk_key in enumerate(q.chunks, start=1):
            chunk = chunks[chunk_key]
            contexts.append(
                TurnContext(turn=turn, chunk=chunk, rank=rank, score=0.5, text=chunk.text)
            )
    Turn.objects.bulk_create([t for t, _ in made])
    TurnContext.objects.bulk_create(contexts)
    return made
