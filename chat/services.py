"""Chat writes: conversations, logged turns, feedback, API tokens and ingested interactions.

Every turn — from the chat page, the ingestion API or a replay — is logged by `turn_log` (or
`interactions_ingest` in bulk) in ONE transaction: the Turn, its TurnContext rows, the graph
outbox entries and `chat.signals.turns_changed` (the review queue refreshes on it). The graph
itself is never written here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
import zlib
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from chat import llm, prompt_storage, prompts
from chat.models import (
    ApiToken,
    Conversation,
    Feedback,
    IngestBatch,
    ModelEndpoint,
    PromptTemplate,
    Topic,
    Turn,
    TurnContext,
)
from chat.openapi import INTERACTION_LIST, service_items
from chat.prompts import production_messages
from chat.signals import turns_changed
from knowledge.retrieval import DEFAULT_K, retrieve
from outbox.services import record
from reviewhub import bulk, jobs
from reviewhub.ids import uuid7
from reviewhub.preferences import preference

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 4000


class ChatError(Exception):
    """A request the user should be told about in plain words (not a crash)."""


class DailyLimitReached(ChatError):
    pass


class IdTaken(ChatError):
    """Client ids already used by another user's interactions (positions in the batch)."""

    def __init__(self, positions: list[int]):
        super().__init__("id already used")
        self.positions = positions


# --- conversations ----------------------------------------------------------------------------


@transaction.atomic
def conversation_create(
    *, user, title: str = "", source: str = Conversation.Source.CHAT
) -> Conversation:
    conversation = Conversation.objects.create(user=user, title=title[:200], source=source)
    record("conversation", [conversation.id])
    return conversation


def conversation_start(*, user) -> Conversation:
    """ "+ New conversation": the user's newest conversation that has no question yet, so
    pressing it again does not pile up empty conversations; else a new one."""
    empty = (
        Conversation.objects.filter(user=user, source=Conversation.Source.CHAT, turns=None)
        .order_by("-created_at")
        .first()
    )
    return empty or conversation_create(user=user)


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    record("conversation", [conversation.id])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation with its turns, feedback and review items. Answers that became
    training examples are kept (a release must stay reproducible): the owner is told."""
    turn_ids = list(conversation.turns.values_list("id", flat=True))
    kept = Turn.objects.filter(pk__in=turn_ids, example__isnull=False).count()
    if kept:
        raise ChatError(
            f"{kept} answer{'s' if kept != 1 else ''} in this conversation "
            f"{'are' if kept != 1 else 'is'} used as training data, so it cannot be deleted; "
            "ask a lead to withdraw the example first."
        )
    record("turn", turn_ids)
    record("conversation", [conversation.id])
    conversation.delete()


def questions_asked_today(user) -> int:
    start = timezone.make_aware(datetime.combine(timezone.localdate(), dtime.min))
    return Turn.objects.filter(
        user=user, source=Conversation.Source.CHAT, created_at__gte=start
    ).count()


def check_daily_limit(user) -> None:
    limit = preference("daily_question_limit")
    if limit and questions_asked_today(user) >= limit:
        raise DailyLimitReached(
            f"You have asked {limit} questions today, which is the daily limit. "
            "Thanks for all the questions — you can ask more tomorrow."
        )


# --- preparing and logging a turn ------------------------------------------------------------


@dataclass
class PreparedTurn:
    """Everything that produces an answer, decided before the model is called."""

    conversation: Conversation
    user: object
    question: str
    choice: llm.ModelChoice
    grounded: bool
    template: PromptTemplate | None
    contexts: list[dict]
    prompt: prompts.RenderedPrompt
    params: dict
    position: int
    source: str = Conversation.Source.CHAT
    replay_of: Turn | None = None
    created_at: datetime = field(default_factory=timezone.now)

    def llm_contexts(self) -> list[llm.Context]:
        return [
            llm.Context(rank=c["rank"], title=c["title"], text=c["text"], score=c["score"])
            for c in self.contexts
        ]


def turn_prepare(
    *,
    conversation: Conversation,
    user,
    question: str,
    grounded: bool,
    model_key: str | None = None,
    template: PromptTemplate | None = None,
    source: str = Conversation.Source.CHAT,
    replay_of: Turn | None = None,
    k: int = DEFAULT_K,
    standalone: bool = False,
    choice: llm.ModelChoice | None = None,
    position: int | None = None,
) -> PreparedTurn:
    """Validate the question, retrieve context (when grounded) and render the prompt.

    `standalone`: the question is asked on its own, without the conversation's history
    (replays and experiments re-ask logged questions one by one). `position`: the turn's
    place in the conversation when the caller keeps count (an experiment preparing a chunk
    of answers before any is logged); else the next after the conversation's last turn.
    """
    question = question.strip()
    if not question:
        raise ChatError("Please type a question.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ChatError(f"Questions are limited to {MAX_QUESTION_CHARS} characters.")
    try:
        choice = choice or llm.resolve_model(model_key)
    except ValueError:
        raise ChatError("That model is not available; pick one from the list.") from None
    template = template or prompts.active_template()
    contexts = []
    if grounded:
        contexts = [
            {
                "rank": h.rank,
                "score": h.score,
                "text": h.chunk.text,
                "title": h.chunk.document.title,
                "source": h.chunk.document.source,
                "chunk_id": h.chunk.id,
            }
            for h in retrieve(question, k=k)
        ]
    earlier = (
        []
        if standalone
        else list(
            conversation.turns.filter(status=Turn.Status.OK)
            .values_list("question", "answer")
            .order_by("position")
        )
    )
    prompt = prompts.render(
        template=template, question=question, contexts=contexts, history=earlier
    )
    if position is None:
        last = conversation.turns.aggregate(p=Max("position"))["p"]
        position = 0 if last is None else last + 1
    return PreparedTurn(
        conversation=conversation,
        user=user,
        question=question,
        choice=choice,
        grounded=grounded,
        template=template,
        contexts=contexts,
        prompt=prompt,
        params=llm.params_for(choice),
        position=position,
        source=source,
        replay_of=replay_of,
    )


@dataclass
class Logged:
    """One answer to log: what produced it (`prepared`) and what came back."""

    prepared: PreparedTurn
    answer: str
    latency_ms: int | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str = ""


def turn_log(
    *,
    prepared: PreparedTurn,
    answer: str,
    latency_ms: int | None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    error: str = "",
) -> Turn:
    """Log one turn with everything that produced it (one transaction, graph via the outbox)."""
    logged = Logged(prepared, answer, latency_ms, prompt_tokens, completion_tokens, error)
    return turns_log(logged=[logged])[0]


@transaction.atomic
def turns_log(*, logged: list[Logged]) -> list[Turn]:
    """Log several turns in one transaction: one INSERT per table, one outbox entry batch and
    one review-queue refresh for all (experiments log their answers a chunk at a time)."""
    now = timezone.now()
    rows, contexts, conversations, sent = [], [], {}, []
    for item in logged:
        p = item.prepared
        # each text once: the passages live in the context rows, the prompt refers to them
        packed = prompt_storage.pack(
            messages=p.prompt.messages,
            system_prompt=p.prompt.system_prompt,
            rendered_context=p.prompt.rendered_context,
            question=p.question,
            passages={c["rank"]: c["text"] for c in p.contexts},
        )
        sent.append(
            {"prompt_messages": p.prompt.messages, "rendered_context": p.prompt.rendered_context}
        )
        # plain multi-row INSERTs (reviewhub.bulk): this runs on every chat request
        row = {
            "id": uuid.uuid4(),
            "question_uid": uuid.uuid4(),
            "conversation_id": p.conversation.id,
            "user_id": p.user.id,
            "position": p.position,
            "source": p.source,
            "question": p.question,
            "answer": item.answer,
            "status": Turn.Status.ERROR if item.error else Turn.Status.OK,
            "error": item.error,
            "prompt_template_id": p.template.id if p.template else None,
            "system_prompt": p.prompt.system_prompt,
            "rendered_context": packed.rendered_context,
            "prompt_messages": packed.prompt_messages,
            "grounded": p.grounded,
            "max_context_score": max((c["score"] for c in p.contexts), default=None),
            # a registered model is logged by its name, so "<provider>:<model>" is its key
            "provider": "endpoint" if p.choice.endpoint else p.choice.provider,
            "model": p.choice.endpoint or p.choice.model,
            "params": p.params,
            "latency_ms": item.latency_ms,
            "prompt_tokens": item.prompt_tokens,
            "completion_tokens": item.completion_tokens,
            "replay_of_id": p.replay_of.id if p.replay_of else None,
            "created_at": p.created_at,
            "completed_at": now,
        }
        rows.append(row)
        contexts += [
            {
                "turn_id": row["id"],
                "chunk_id": c.get("chunk_id"),
                "rank": c["rank"],
                "score": c["score"],
                "text": c["text"],
                "source": c["source"][:1000],
                "title": c["title"][:300],
            }
            for c in p.contexts
        ]
        conversations.setdefault(p.conversation.pk, p)
    bulk.insert(Turn, rows)
    bulk.insert(TurnContext, contexts)
    for p in conversations.values():
        updates = {"updated_at": now}
        if not p.conversation.title:
            updates["title"] = p.question[:80]
            p.conversation.title = updates["title"]
        Conversation.objects.filter(pk=p.conversation.pk).update(**updates)
    ids = [row["id"] for row in rows]
    record("turn", ids)
    turns_changed.send(sender=Turn, turn_ids=ids)
    turns = []
    for item, row, prompt in zip(logged, rows, sent, strict=True):
        turn = Turn(**row)
        turn._state.adding, turn._state.db = False, "default"
        # the prompt as sent is at hand: reading it back needs no query
        turn.__dict__["_stored_prompt"] = (row["prompt_messages"], row["rendered_context"], prompt)
        turn.conversation, turn.user = item.prepared.conversation, item.prepared.user
        turns.append(turn)
    return turns


def turn_stream(*, prepared: PreparedTurn) -> Generator[str, None, Turn]:
    """Call the model, yield the answer's text as it is generated, and log the turn.

    The logged turn is the generator's return value. A model failure is logged as an error
    turn; a caller that stops listening mid-answer (the browser went away) still gets the
    partial answer logged, with the reason.
    """
    started = time.perf_counter()
    completion = None
    try:
        completion = llm.complete(
            prepared.choice,
            prepared.prompt.messages,
            contexts=prepared.llm_contexts(),
            params=prepared.params,
        )
        yield from completion
    except llm.LLMError as exc:
        return turn_log(prepared=prepared, answer="", error=str(exc), latency_ms=_ms_since(started))
    except GeneratorExit:
        turn_log(
            prepared=prepared,
            answer=completion.partial if completion else "",
            error="The client disconnected before the answer was complete.",
            latency_ms=_ms_since(started),
        )
        raise
    return turn_log(
        prepared=prepared,
        answer=completion.text,
        latency_ms=_ms_since(started),
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )


def turn_answer(*, prepared: PreparedTurn) -> Turn:
    """Call the model without streaming to anyone and log the turn."""
    stream = turn_stream(prepared=prepared)
    while True:
        try:
            next(stream)
        except StopIteration as done:
            return done.value


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def chat_ask(
    *,
    conversation: Conversation,
    user,
    question: str,
    grounded: bool = True,
    model_key: str | None = None,
) -> Turn:
    """Ask from the chat page without streaming (no-JavaScript form, demo data)."""
    check_daily_limit(user)
    prepared = turn_prepare(
        conversation=conversation,
        user=user,
        question=question,
        grounded=grounded,
        model_key=model_key,
    )
    return turn_answer(prepared=prepared)


# --- the model registry -----------------------------------------------------------------


@transaction.atomic
def model_endpoint_save(*, endpoint: ModelEndpoint, user) -> ModelEndpoint:
    """Create or update a registered model (validated by its form)."""
    if endpoint._state.adding:
        endpoint.created_by = user
    endpoint.save()
    return endpoint


# --- feedback ---------------------------------------------------------------------------------


@transaction.atomic
def feedback_set(*, turn: Turn, user, rating: str, comment: str = "") -> Feedback:
    """A user's rating of an answer: one per user per turn; setting it again changes it."""
    if rating not in Feedback.Rating.values:
        raise ChatError("Rate with thumbs up or thumbs down.")
    feedback, _ = Feedback.objects.update_or_create(
        turn=turn, user=user, defaults={"rating": rating, "comment": comment.strip()[:4000]}
    )
    record("feedback", [feedback.id])
    turns_changed.send(sender=Turn, turn_ids=[turn.id])
    return feedback


# --- API tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "rh_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token; the raw value is returned once and only its hash is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=(name.strip() or "API token")[:100],
        prefix=raw[:10],
        token_hash=hash_token(raw),
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())


def api_token_user(raw: str):
    """The active user for a raw Bearer token, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw), revoked_at=None)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# --- ingestion API ----------------------------------------------------------------------------


@transaction.atomic
def interactions_ingest(*, user, items: list[dict]) -> list[tuple[Turn | None, object, bool]]:
    """Store validated interactions in bulk; returns (stored turn or None, id, created) per item.

    An item whose client `id` is already stored is a no-op (idempotent retries); its stored
    turn is returned with created=False. Conversations are matched on the client's
    `conversation_id` within this user's API conversations, created when new. Items may also
    carry `params` (the model parameters), `status` and `error` (a failed call, as OpenTelemetry
    spans report it: chat.otlp).
    """
    wanted_ids = [item["id"] for item in items if item.get("id")]
    found = (
        # (no ordering: Turn's default one joins conversations to sort what is only looked up)
        dict(Turn.objects.order_by().filter(id__among=wanted_ids).values_list("id", "user_id"))
        if wanted_ids
        else {}
    )
    taken = [i for i, item in enumerate(items) if found.get(item.get("id"), user.id) != user.id]
    if taken:
        raise IdTaken(taken)
    existing = set(found)
    fresh_items = [item for item in items if not item.get("id") or item["id"] not in existing]

    external = {item["conversation_id"] for item in fresh_items if item.get("conversation_id")}
    conversations: dict[str, Conversation] = {}
    if external:
        for conv in Conversation.objects.filter(
            user=user, source=Conversation.Source.API, external_id__in=external
        ):
            conversations.setdefault(conv.external_id, conv)
    next_position = {}
    if conversations:
        rows = (
            Turn.objects.filter(conversation__in=list(conversations.values()))
            .values("conversation_id")
            .annotate(p=Max("position"))
        )
        next_position = {r["conversation_id"]: r["p"] + 1 for r in rows}
    new_conversations: dict[uuid.UUID, dict] = {}
    conversation_ids: dict[str, uuid.UUID] = {ext: conv.id for ext, conv in conversations.items()}
    for ext in sorted(external - conversations.keys()):
        conversation_ids[ext] = uuid7()
        new_conversations[conversation_ids[ext]] = {
            "id": conversation_ids[ext],
            "external_id": ext[:200],
            "title": "",
        }

    now = timezone.now()
    turns: list[dict] = []
    contexts: list[dict] = []
    results: list[tuple[object, object, bool]] = []
    batch: set = set()
    for item in items:
        client_id = item.get("id")
        if client_id in existing:
            results.append((None, client_id, False))
            continue
        if client_id and client_id in batch:  # the same id twice in one batch: stored once
            results.append((None, client_id, False))
            continue
        ext = item.get("conversation_id")
        if ext:
            conv_id = conversation_ids[ext]
        else:
            conv_id = uuid7()
            new_conversations[conv_id] = {"id": conv_id, "external_id": "", "title": ""}
        new_conv = new_conversations.get(conv_id)
        if new_conv is not None and not new_conv["title"]:
            new_conv["title"] = item["question"][:80]
        position = next_position.get(conv_id, 0)
        next_position[conv_id] = position + 1
        ctx = item.get("context") or []
        system_prompt = item.get("system_prompt") or ""
        turn_id = client_id or uuid7()
        batch.add(turn_id)
        turns.append(
            {
                "id": turn_id,
                "conversation_id": conv_id,
                "user_id": user.id,
                "position": position,
                "source": Conversation.Source.API,
                "question": item["question"],
                "answer": item["answer"],
                "model": item["model"],
                "provider": "api",
                "status": item.get("status") or Turn.Status.OK,
                "error": item.get("error") or "",
                "params": item.get("params") or {},
                "system_prompt": system_prompt,
                "prompt_messages": _packed_messages(item, system_prompt, ctx),
                "grounded": item["grounded"] if item.get("grounded") is not None else bool(ctx),
                "max_context_score": max(
                    (c["score"] for c in ctx if c.get("score") is not None), default=None
                ),
                "latency_ms": item.get("latency_ms"),
                "prompt_tokens": item.get("prompt_tokens"),
                "completion_tokens": item.get("completion_tokens"),
                "external_user": (item.get("user") or "")[:200],
                "metadata": item.get("metadata") or {},
                "created_at": item.get("created_at") or now,
                "completed_at": now,
            }
        )
        results.append((None, turn_id, True))
        contexts += [
            {
                "turn_id": turn_id,
                "chunk_id": None,
                "rank": rank,
                "score": c.get("score"),
                "text": c["text"],
                "source": (c.get("source") or "")[:1000],
                "title": (c.get("title") or "")[:300],
            }
            for rank, c in enumerate(ctx, start=1)
        ]
    for conv in new_conversations.values():
        conv.update(user_id=user.id, source=Conversation.Source.API, created_at=now, updated_at=now)
    bulk.insert(Conversation, new_conversations.values())
    bulk.insert(Turn, turns)
    bulk.insert(TurnContext, contexts)
    if conversations:
        Conversation.objects.filter(pk__in=[c.id for c in conversations.values()]).update(
            updated_at=now
        )
    # No "conversation" entries: syncing a turn syncs its conversation too (graph.projection),
    # and at 500 interactions a request the extra rows would be a tenth of its time.
    record("turn", [t["id"] for t in turns])
    if turns:
        turns_changed.send(sender=Turn, turn_ids=[t["id"] for t in turns])
    return results


# --- batches stored later (Prefer: respond-async) ---------------------------------------------
#
# The API answers such a batch once it is validated and saved here as one row (the payload:
# the batch's JSON as the API validated it, zlib'd); a worker then stores it with
# `interactions_ingest`, exactly as the synchronous path would have. The row is a job
# (reviewhub.jobs): a lost message is re-sent and a dead run re-run by the sweeper, and a
# re-run stores nothing twice (every item carries its id from the start).

PAYLOAD_LEVEL = 1  # zlib: ~6 ms for a 500-item batch, a quarter of its size


@transaction.atomic
def interactions_accept(*, user, ids: list, payload: bytes) -> tuple[IngestBatch | None, int]:
    """Save a validated batch to store later; returns (its batch, how many were already
    stored), or (None, n) when every item already was (a retry: nothing to do).

    `ids` are the items' ids in request order (the API assigns one to each item without);
    `payload` is the batch's JSON with those ids. Raises IdTaken, as `interactions_ingest`
    does, when an id belongs to another account's interaction."""
    found = dict(Turn.objects.order_by().filter(id__among=ids).values_list("id", "user_id"))
    taken = [i for i, item_id in enumerate(ids) if found.get(item_id, user.id) != user.id]
    if taken:
        raise IdTaken(taken)
    existing = sum(1 for item_id in ids if item_id in found)
    if existing == len(ids):
        return None, existing
    batch = IngestBatch.objects.create(
        user=user, payload=zlib.compress(payload, PAYLOAD_LEVEL), items=len(ids)
    )
    jobs.job_enqueue_on_commit(batch)
    return batch, existing


def _batch_fail(rows, reason: str) -> int:
    return rows.update(status=IngestBatch.Status.FAILED, error=reason, finished_at=timezone.now())


INGEST_JOB = jobs.JobKind(
    model="chat.IngestBatch",
    task="chat.tasks.ingest_batch_store",
    active=Q(status__in=[IngestBatch.Status.QUEUED, IngestBatch.Status.RUNNING]),
    fail=_batch_fail,
    on_claim={"status": IngestBatch.Status.RUNNING},
)


def ingest_batch_store(*, batch_id) -> IngestBatch:
    """Store an accepted batch, in one transaction with its status. An item whose id another
    account took after the batch was accepted is refused and named in `errors`; the others
    are stored. A failure hands the batch back for the sweeper to send again, up to the
    job's attempts; then it fails with the payload kept."""
    if jobs.job_claim(IngestBatch, batch_id) is None:  # stored, failed or held by a live run
        return IngestBatch.objects.get(pk=batch_id)
    batch = IngestBatch.objects.select_related("user").get(pk=batch_id)
    try:
        items = service_items(INTERACTION_LIST.validate_json(zlib.decompress(batch.payload)))
        with transaction.atomic():
            created, errors = _ingest_refusing_taken(batch.user, items)
            done = jobs.job_rows(batch).update(
                status=IngestBatch.Status.STORED,
                stored=created,
                existing=len(items) - created - len(errors),
                errors=errors,
                payload=b"",
                finished_at=timezone.now(),
            )
            if not done:
                raise jobs.LeaseLost(f"chat.IngestBatch {batch.pk}")
    except jobs.LeaseLost:
        log.warning("ingest batch %s: another run took over", batch.pk)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        if batch.attempts >= INGEST_JOB.max_attempts:
            _batch_fail(jobs.job_rows(batch), reason)
        else:  # the sweeper sends it again (a locked database, a dropped connection)
            jobs.job_give_back(batch, retried=False, job_note=f"Will try again: {reason}"[:300])
        raise
    batch.refresh_from_db()
    return batch


# How long a finished batch's status stays readable: a stored one is only a record (its
# payload was emptied); a failed one keeps its payload for a lead to look at, a while longer.
INGEST_BATCH_KEEP = {
    IngestBatch.Status.STORED: timedelta(days=7),
    IngestBatch.Status.FAILED: timedelta(days=30),
}


def ingest_batches_prune() -> int:
    """Delete finished batches older than INGEST_BATCH_KEEP (by when they finished); returns
    how many. Queued and running ones are never touched: they still hold work to do."""
    now = timezone.now()
    old = Q()
    for status, keep in INGEST_BATCH_KEEP.items():
        old |= Q(status=status, finished_at__lt=now - keep)
    return IngestBatch.objects.filter(old).delete()[0]


def _ingest_refusing_taken(user, items: list[dict]) -> tuple[int, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    keep = list(range(len(items)))
    while True:
        try:
            results = interactions_ingest(user=user, items=[items[i] for i in keep])
        except IdTaken as exc:
            refused = {keep[p] for p in exc.positions}
            errors.update({f"{i}.id": ["This id is already used."] for i in sorted(refused)})
            keep = [i for i in keep if i not in refused]
            continue
        return sum(1 for *_, created in results if created), errors


def _packed_messages(item: dict, system_prompt: str, ctx: list[dict]) -> list:
    """The `prompt_messages` column of an ingested item: [] when the client sent no messages
    (the production rule rebuilds them), else its messages packed (chat.prompt_storage)."""
    if not item.get("messages"):
        return []
    return prompt_storage.pack(
        messages=production_messages(
            prompt_messages=item["messages"], system_prompt=system_prompt, question=item["question"]
        ),
        system_prompt=system_prompt,
        rendered_context="",
        question=item["question"],
        passages={rank: c["text"] for rank, c in enumerate(ctx, start=1)},
    ).prompt_messages


# --- topics -----------------------------------------------------------------------------------


@transaction.atomic
def turn_set_topic(*, turn: Turn, topic: Topic | None) -> None:
    """An expert's choice of topic for a question (None withdraws it): a manual membership,
    which keyword rules and discovery never overwrite, and the primary topic while it lasts."""
    from chat.models import TopicMembership

    manual = TopicMembership.Method.MANUAL
    if topic is None:
        TopicMembership.objects.filter(turn=turn, method=manual).delete()
    else:
        TopicMembership.objects.update_or_create(
            turn=turn, method=manual, defaults={"topic": topic, "score": None}
        )
    turn_topics_refresh(turn_ids=[turn.pk])
    turn.refresh_from_db(fields=["topic"])


def turn_topics_refresh(*, turn_ids: list[int]) -> int:
    """After memberships of these turns changed: set each one's primary topic (`Turn.topic`:
    manual, else keyword, else discovered), tell the graph (ABOUT edges follow the
    memberships) and refresh the review queue where the primary topic moved.
    Call inside the transaction that changed the memberships. Returns how many moved."""
    from chat.models import PRIMARY_TOPIC_ORDER, TopicMembership

    rank = {method: i for i, method in enumerate(PRIMARY_TOPIC_ORDER)}
    moved: dict[object, list] = {}
    for start in range(0, len(turn_ids), 2000):
        ids = turn_ids[start : start + 2000]
        best: dict[object, tuple[int, object]] = {}
        rows = TopicMembership.objects.filter(turn_id__in=ids).values_list(
            "turn_id", "topic_id", "method"
        )
        for turn_id, topic_id, method in rows:
            if turn_id not in best or rank[method] < best[turn_id][0]:
                best[turn_id] = (rank[method], topic_id)
        current = Turn.objects.filter(id__in=ids).values_list("id", "topic_id")
        for turn_id, topic_id in current:
            wanted = best.get(turn_id, (0, None))[1]
            if wanted != topic_id:
                moved.setdefault(wanted, []).append(turn_id)
    for topic_id, ids in moved.items():
        for start in range(0, len(ids), 2000):
            Turn.objects.filter(id__in=ids[start : start + 2000]).update(topic_id=topic_id)
    record("turn", turn_ids)
    changed = [turn_id for ids in moved.values() for turn_id in ids]
    if changed:
        turns_changed.send(sender=Turn, turn_ids=changed)  # the queue filters by topic
    return len(changed)
