"""Topic writes: discovery runs and experts' edits (rename, pin, merge, split).

Discovery (`discovery_run_execute`) reads every logged question (replays excluded: they
repeat an original) with the passages it retrieved, runs `topics.discovery.discover`, and
stores the result as discovered topics and `TopicMembership` rows (method "discovered"):

- a community that continues an earlier topic (member overlap, `match_communities`) keeps
  that topic's id, so its name and expert edits survive; an expert-named topic keeps its
  name, a topic named from its terms is renamed when its terms change;
- the members of a pinned topic stay where they are (new questions may still join it);
- manual and keyword memberships are a different method and are never touched here;
- a discovered topic that no longer has a community is deleted unless an expert named or
  pinned it, or questions were put in it by hand.

Every membership change records the outbox (the graph's ABOUT edges follow) through
`chat.services.turn_topics_refresh`, which also keeps `Turn.topic` (the primary topic the
queue, releases and lists filter by) in step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat.models import Topic, TopicMembership, Turn, TurnContext
from chat.services import turn_topics_refresh
from outbox.services import record
from reviewhub import jobs
from topics.models import DiscoveryRun

if TYPE_CHECKING:  # scikit-learn and scipy cost the web ~90 MB; only a discovery run loads them
    import numpy as np

    from topics.discovery import Discovery, Params

log = logging.getLogger(__name__)
DISCOVERED = TopicMembership.Method.DISCOVERED
MAX_CONTEXTS = 10  # ranks beyond this say little about what a question is about
MATCH_THRESHOLD = 0.5
NAME_TERMS = 3


class TopicError(Exception):
    """An edit the expert should be told about in plain words; nothing was stored."""


# --- discovery runs ---------------------------------------------------------------------------


def _fail_rows(rows, reason: str) -> int:
    return rows.update(status=DiscoveryRun.Status.FAILED, error=reason, finished_at=timezone.now())


def _lease_s() -> float:
    # progress (the heartbeat) comes between steps; at 100k questions the longest step
    # (the communities) takes ~20 s on a 2-core machine
    return max(settings.JOB_LEASE_S, 300.0)


DISCOVERY_JOB = jobs.JobKind(
    model="topics.DiscoveryRun",
    task="topics.tasks.discover_topics",
    active=Q(status__in=[DiscoveryRun.Status.QUEUED, DiscoveryRun.Status.RUNNING]),
    fail=_fail_rows,
    on_claim={
        "status": DiscoveryRun.Status.RUNNING,
        "stage": "reading the questions",
        "percent": 1,
    },
    lease_s=_lease_s,
    max_attempts=2,
)


@transaction.atomic
def discovery_run_create(*, user=None, seed: int = 0) -> DiscoveryRun:
    """Queue a discovery run (one at a time: an active run is returned instead)."""
    active = DiscoveryRun.objects.select_for_update().filter(DISCOVERY_JOB.active)
    if run := active.first():
        return run
    run = DiscoveryRun.objects.create(created_by=user, seed=seed)
    jobs.job_enqueue_on_commit(run)
    return run


def discovery_run_execute(*, run_id) -> DiscoveryRun:
    """Run a queued discovery. The run holds the row's lease (reviewhub.jobs): a redelivered
    task or a second worker does nothing, and a run whose worker died is re-queued by the
    sweeper and starts over (the topics are stored in one transaction at the end)."""
    run = jobs.job_claim(DiscoveryRun, run_id)
    if run is None:
        return DiscoveryRun.objects.get(pk=run_id)
    try:
        found, kept = topics_discover(seed=run.seed, progress=_progress(run))
    except jobs.LeaseLost:
        log.warning("discovery %s: another run took over", run.pk)
    except Exception as exc:
        log.exception("topic discovery failed")
        jobs.job_rows(run).update(
            status=DiscoveryRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
    else:
        jobs.job_rows(run).update(
            status=DiscoveryRun.Status.DONE,
            percent=100,
            stage="done",
            topics_found=found,
            topics_kept=kept,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


def _progress(run: DiscoveryRun) -> Callable[[float, str], None]:
    def report(fraction: float, stage: str, questions: int | None = None) -> None:
        fields = {"percent": max(1, min(99, int(fraction * 100))), "stage": stage[:120]}
        if questions is not None:
            fields["questions"] = questions
        jobs.job_heartbeat(run, **fields)

    return report


# --- discovery ------------------------------------------------------------------------------


def topics_discover(*, seed: int = 0, progress=None, params: Params | None = None):
    """Discover topics over all logged questions and store them. Returns (topics found,
    topics whose id was kept from an earlier run)."""
    from topics.discovery import Params, discover

    report = progress or (lambda fraction, stage, questions=None: None)
    turn_ids, texts, contexts = questions_load()
    report(0.02, "reading the questions", len(turn_ids))
    vectors = _question_vectors(texts)
    result = discover(
        texts,
        contexts,
        params=params or Params(seed=seed),
        vectors=vectors,
        progress=lambda f, stage: report(0.05 + 0.8 * f, stage),
    )
    report(0.87, "storing the topics")
    found, kept, created = _store(turn_ids, result)
    report(0.95, "naming the new topics")
    _name_with_llm(created)
    return found, kept


def questions_load() -> tuple[list, list[str], list[list]]:
    """Every original question (not replays): ids, texts, and the chunk ids retrieved."""
    rows = list(
        Turn.objects.filter(replay_of=None)
        .order_by("created_at", "id")
        .values_list("id", "question")
    )
    turn_ids = [r[0] for r in rows]
    position = {turn_id: i for i, turn_id in enumerate(turn_ids)}
    contexts: list[list] = [[] for _ in rows]
    chunks = (
        TurnContext.objects.filter(rank__lte=MAX_CONTEXTS)
        .exclude(chunk=None)
        .values_list("turn_id", "chunk_id")
        .iterator(chunk_size=5000)
    )
    for turn_id, chunk_id in chunks:
        if (i := position.get(turn_id)) is not None:
            contexts[i].append(chunk_id)
    return turn_ids, [r[1] for r in rows], contexts


def _question_vectors(texts: list[str]) -> np.ndarray | None:
    """Embeddings when an embedding model is configured; else None (TF-IDF is used)."""
    from knowledge.embedding import OpenAIEmbedder, embedder

    model = embedder()
    if not texts or not isinstance(model, OpenAIEmbedder):
        return None
    try:
        return model.embed(texts)
    except Exception:  # the endpoint may not serve embeddings: text similarity still works
        log.warning("question embeddings unavailable; using TF-IDF", exc_info=True)
        return None


@transaction.atomic
def _store(turn_ids: list, result: Discovery) -> tuple[int, int, list[Topic]]:
    from topics.discovery import match_communities

    previous = _previous_members()
    pinned = set(
        Topic.objects.filter(method=Topic.Method.DISCOVERED, pinned=True).values_list(
            "id", flat=True
        )
    )
    frozen = {t for topic_id in pinned for t in previous.get(topic_id, ())}
    communities = [{turn_ids[i] for i in c.members} for c in result.communities]
    continues = match_communities(previous, communities, threshold=MATCH_THRESHOLD)
    topics: list[Topic] = []
    created: list[Topic] = []
    for index, community in enumerate(result.communities):
        topic = _topic_for(continues.get(index), community.terms)
        if topic.pk not in continues.values():
            created.append(topic)
        topics.append(topic)
    wanted = {
        turn_ids[i]: (topics[label].pk, round(float(result.scores[i]), 2))
        for i, label in enumerate(result.labels.tolist())
        if label >= 0 and turn_ids[i] not in frozen
    }
    changed = _memberships_set(wanted, frozen)
    _retire(set(previous) - {t.pk for t in topics} - pinned)
    record("topic", [t.pk for t in topics])
    turn_topics_refresh(turn_ids=changed)
    return len(topics), len(continues), created


def _previous_members() -> dict:
    previous: dict = {}
    rows = TopicMembership.objects.filter(method=DISCOVERED).values_list("topic_id", "turn_id")
    for topic_id, turn_id in rows.iterator(chunk_size=5000):
        previous.setdefault(topic_id, set()).add(turn_id)
    for topic_id in Topic.objects.filter(method=Topic.Method.DISCOVERED).values_list(
        "id", flat=True
    ):
        previous.setdefault(topic_id, set())
    return previous


def _topic_for(topic_id, terms: list[str]) -> Topic:
    label = " · ".join(terms[:NAME_TERMS]) or "unnamed topic"
    if topic_id is None:
        return Topic.objects.create(
            name=_unique_name(label),
            method=Topic.Method.DISCOVERED,
            named_by=Topic.NamedBy.TERMS,
            terms=terms,
        )
    topic = Topic.objects.get(pk=topic_id)
    topic.terms = terms
    if topic.named_by == Topic.NamedBy.TERMS and topic.name != label:
        topic.name = _unique_name(label, exclude=topic.pk)
    topic.save()
    return topic


def _unique_name(name: str, exclude=None) -> str:
    name = name[:110]
    taken = Topic.objects.exclude(pk=exclude) if exclude else Topic.objects.all()
    candidate, n = name, 1
    while taken.filter(name=candidate).exists():
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _memberships_set(wanted: dict, frozen: set) -> list:
    """Make the discovered memberships outside `frozen` equal `wanted`; the changed turns."""
    existing = {
        turn_id: (pk, topic_id, score)
        for pk, turn_id, topic_id, score in TopicMembership.objects.filter(
            method=DISCOVERED
        ).values_list("pk", "turn_id", "topic_id", "score")
    }
    stale = [t for t in existing if t not in wanted and t not in frozen]
    updates, creates = [], []
    for turn_id, (topic_id, score) in wanted.items():
        if turn_id not in existing:
            creates.append(
                TopicMembership(turn_id=turn_id, topic_id=topic_id, method=DISCOVERED, score=score)
            )
        elif existing[turn_id][1:] != (topic_id, score):
            updates.append(
                TopicMembership(
                    pk=existing[turn_id][0], turn_id=turn_id, topic_id=topic_id, score=score
                )
            )
    for start in range(0, len(stale), 2000):
        pks = [existing[t][0] for t in stale[start : start + 2000]]
        TopicMembership.objects.filter(pk__in=pks).delete()
    TopicMembership.objects.bulk_create(creates, batch_size=2000)
    TopicMembership.objects.bulk_update(updates, ["topic", "score"], batch_size=2000)
    return stale + [m.turn_id for m in creates] + [m.turn_id for m in updates]


def _retire(topic_ids: set) -> None:
    """Discovered topics without a community any more: deleted, unless an expert made
    them theirs (named, pinned, or questions put in by hand)."""
    keep = (
        Q(named_by=Topic.NamedBy.EXPERT)
        | Q(pinned=True)
        | Q(memberships__method=TopicMembership.Method.MANUAL)
    )
    doomed = list(
        Topic.objects.filter(pk__in=topic_ids).exclude(keep).values_list("id", flat=True).distinct()
    )
    if doomed:
        turns = list(
            TopicMembership.objects.filter(topic_id__in=doomed).values_list("turn_id", flat=True)
        )
        Topic.objects.filter(pk__in=doomed).delete()
        record("topic", doomed)
        turn_topics_refresh(turn_ids=turns)


def _name_with_llm(topics: list[Topic]) -> None:
    """A short name for each new topic from the configured LLM; offline the terms stay."""
    if not topics or not settings.OPENAI_API_KEY:
        return
    from chat import llm

    choice = llm.available_models()[0]
    for topic in topics:
        prompt = (
            "These are the most distinctive words of a group of user questions: "
            f"{', '.join(topic.terms)}. Name the topic in at most four words. "
            "Answer with the name only."
        )
        try:
            text = (
                llm.complete(
                    choice, [{"role": "user", "content": prompt}], params={"max_tokens": 16}
                )
                .collect()
                .text
            )
        except llm.LLMError:
            log.warning("could not name topic %s with the LLM", topic.pk, exc_info=True)
            continue
        name = " ".join(text.strip().strip(".\"'").split())[:80]
        if name:
            with transaction.atomic():
                Topic.objects.filter(pk=topic.pk, named_by=Topic.NamedBy.TERMS).update(
                    name=_unique_name(name, exclude=topic.pk), named_by=Topic.NamedBy.LLM
                )
                record("topic", [topic.pk])


# --- experts' edits ---------------------------------------------------------------------------


@transaction.atomic
def topic_rename(*, topic: Topic, name: str) -> Topic:
    name = " ".join((name or "").split())
    if not name:
        raise TopicError("Give the topic a name.")
    if len(name) > 120:
        raise TopicError("Keep the name to 120 characters.")
    if Topic.objects.exclude(pk=topic.pk).filter(name__iexact=name).exists():
        raise TopicError(f"There is already a topic called “{name}”.")
    topic.name, topic.named_by = name, Topic.NamedBy.EXPERT
    topic.save(update_fields=["name", "named_by", "updated_at"])
    record("topic", [topic.pk])
    return topic


@transaction.atomic
def topic_pin(*, topic: Topic, pinned: bool) -> Topic:
    topic.pinned = pinned
    topic.save(update_fields=["pinned", "updated_at"])
    return topic


@transaction.atomic
def topic_merge(*, source: Topic, target: Topic) -> Topic:
    """Move every question of `source` into `target` and delete `source`. A question in
    both keeps one membership per method: the target's."""
    if source.pk == target.pk:
        raise TopicError("Choose a different topic to merge into.")
    moved = list(source.memberships.values_list("turn_id", "method"))
    in_target = set(target.memberships.values_list("turn_id", "method"))
    keep = [(t, m) for t, m in moved if (t, m) not in in_target]
    for method in {m for _, m in keep}:
        ids = [t for t, m in keep if m == method]
        source.memberships.filter(method=method, turn_id__in=ids).update(topic=target)
    if source.method == Topic.Method.KEYWORD and target.method == Topic.Method.KEYWORD:
        target.keywords = sorted(set(target.keywords) | set(source.keywords))
    target.terms = target.terms or source.terms
    target.save()
    source_id = source.pk
    source.delete()
    record("topic", [source_id, target.pk])
    turn_topics_refresh(turn_ids=sorted({t for t, _ in moved}, key=str))
    return target


@transaction.atomic
def topic_split(*, topic: Topic, turn_ids: list, name: str) -> Topic:
    """A new topic made of some of `topic`'s questions, chosen by an expert: pinned, so the
    next discovery keeps it, and named by the expert."""
    chosen = list(topic.memberships.filter(turn_id__in=turn_ids).values_list("turn_id", flat=True))
    if not chosen:
        raise TopicError("Choose at least one question of this topic to split off.")
    if len(set(chosen)) == len(set(topic.memberships.values_list("turn_id", flat=True))):
        raise TopicError("Leave at least one question in the topic; to rename it, rename it.")
    new = Topic.objects.create(
        name="placeholder-" + str(topic.pk), method=topic.method, pinned=True, terms=[]
    )
    try:
        topic_rename(topic=new, name=name)
    except TopicError:
        transaction.set_rollback(True)
        raise
    topic.memberships.filter(turn_id__in=chosen).update(topic=new)
    record("topic", [new.pk, topic.pk])
    turn_topics_refresh(turn_ids=chosen)
    return new
