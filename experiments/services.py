"""Experiment writes: defining one (question set × arms), running it, cancelling it.

Running is resumable and idempotent: an arm's answer to a question is a turn in the arm's
conversation with `replay_of` = the question, so a rerun (a redelivered task, a worker that
was killed) answers only what has no answer yet — never twice. Model calls run in a small
thread pool (`EXPERIMENT_CONCURRENCY`, with `EXPERIMENT_RATE_PER_S` per model); retrieval,
logging and scoring stay on the task's own thread and database connection.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from chat import llm, prompts
from chat import selectors as chat_selectors
from chat import services as chat_services
from chat.models import Conversation, PromptTemplate, TopicMembership, Turn
from experiments.models import Arm, Experiment
from knowledge import retrieval
from outbox.services import record as outbox_record
from reviewhub import jobs

CHUNK = 50
log = logging.getLogger(__name__)


class ExperimentError(ValueError):
    """A definition or request that cannot be carried out (shown to the user)."""


@dataclass
class ArmSpec:
    label: str
    kind: str = Arm.Kind.MODEL
    model_key: str = ""
    template: PromptTemplate | None = None
    grounded: bool = True
    k: int = 4


# --- defining -------------------------------------------------------------------------------


def question_hash(ids: Iterable[object]) -> str:
    return hashlib.sha256("\n".join(str(i) for i in ids).encode()).hexdigest()


def questions_from_release(release) -> list[str]:
    """Exactly the questions of a release's validation split, as its manifest records them
    (checked against the manifest's hash), in the manifest's order."""
    from annotations.models import Example

    recorded = (release.manifest or {}).get("split_ids", {}).get("validation")
    if not recorded:
        raise ExperimentError(f"{release} has no recorded validation split; build it again.")
    example_ids = recorded["example_ids"]
    if question_hash(example_ids) != recorded["sha256"]:
        raise ExperimentError(f"{release}'s manifest does not match its validation split hash.")
    rows = Example.objects.filter(pk__in=example_ids).values_list("pk", "turn_id")
    turns = {str(pk): str(turn_id) for pk, turn_id in rows}
    missing = [e for e in example_ids if str(e) not in turns]
    if missing:
        raise ExperimentError(f"{len(missing)} examples of {release} no longer exist.")
    return [turns[str(e)] for e in example_ids]


def questions_from_list(turn_ids: list) -> list[str]:
    found = set(
        str(pk)
        for pk in Turn.objects.filter(pk__in=turn_ids)
        .exclude(source=Conversation.Source.REPLAY)
        .values_list("pk", flat=True)
    )
    missing = [str(t) for t in turn_ids if str(t) not in found]
    if missing:
        raise ExperimentError(f"Unknown or replayed question ids: {', '.join(missing[:5])}.")
    return list(dict.fromkeys(str(t) for t in turn_ids))


def questions_from_filter(filters: dict, limit: int) -> list[str]:
    turns = chat_selectors.replayable_turns(
        **{k: filters[k] for k in ("rating", "grounded", "model") if filters.get(k)}
    )
    topics = filters.get("topics") or ([filters["topic"]] if filters.get("topic") else [])
    if topics:  # a member of any of them, by any method (keyword, discovered, manual)
        turns = turns.filter(
            Exists(TopicMembership.objects.filter(turn=OuterRef("pk"), topic_id__in=topics))
        )
    if filters.get("source"):
        turns = turns.filter(source=filters["source"])
    if filters.get("score"):
        from evaluation.selectors import ScoreFilterError, score_filter_q

        try:
            turns = turns.filter(score_filter_q(filters["score"]))
        except ScoreFilterError as exc:
            raise ExperimentError(str(exc)) from None
    return [str(pk) for pk in turns.values_list("pk", flat=True)[:limit]]


@transaction.atomic
def experiment_create(
    *,
    user,
    name: str,
    arms: list[ArmSpec],
    question_ids: list[str],
    source: str = Experiment.Source.LIST,
    filters: dict | None = None,
    release=None,
    evaluators: list[str] | None = None,
    description: str = "",
    enqueue: bool = True,
) -> Experiment:
    """An experiment over these questions; queued to run unless `enqueue` is False."""
    if not question_ids:
        raise ExperimentError("The question set is empty: no logged question matches.")
    if len(question_ids) > settings.EXPERIMENT_MAX_QUESTIONS:
        raise ExperimentError(
            f"At most {settings.EXPERIMENT_MAX_QUESTIONS} questions per experiment."
        )
    if len(arms) < 2:
        raise ExperimentError("An experiment compares at least two arms.")
    for spec in arms:
        if spec.kind == Arm.Kind.MODEL:
            try:
                llm.resolve_model(spec.model_key)
            except ValueError:
                raise ExperimentError(f"Unknown model “{spec.model_key}”.") from None
    experiment = Experiment.objects.create(
        name=name,
        description=description,
        source=source,
        filters=filters or {},
        release=release,
        question_ids=question_ids,
        question_hash=question_hash(question_ids),
        evaluators=evaluators if evaluators is not None else default_evaluators(),
        total=len(question_ids) * sum(1 for a in arms if a.kind == Arm.Kind.MODEL),
        created_by=user,
    )
    for position, spec in enumerate(arms):
        conversation = None
        if spec.kind == Arm.Kind.MODEL:
            conversation = Conversation.objects.create(
                user=user, source=Conversation.Source.REPLAY, title=f"{name} · {spec.label}"[:200]
            )
            outbox_record("conversation", [conversation.id])
        Arm.objects.create(
            experiment=experiment,
            position=position,
            label=spec.label,
            kind=spec.kind,
            model_key=spec.model_key if spec.kind == Arm.Kind.MODEL else "",
            prompt_template=spec.template,
            grounded=spec.grounded,
            k=spec.k,
            conversation=conversation,
        )
    outbox_record("experiment", [experiment.id])  # the graph: the experiment and its arms
    if enqueue:
        jobs.job_enqueue_on_commit(experiment)
    return experiment


def replay_create(
    *,
    user,
    question_ids: list[str],
    model_key: str,
    grounded: bool,
    template: PromptTemplate | None = None,
    filters: dict | None = None,
) -> Experiment:
    """A replay: the logged answers against one new arm (this model, prompt and grounding)."""
    n = len(question_ids)
    label = f"{model_key.split(':', 1)[-1]}{' + grounding' if grounded else ''}"
    return experiment_create(
        user=user,
        name=f"Replay of {n} question{'s' if n != 1 else ''}",
        arms=[
            ArmSpec(label="logged answers", kind=Arm.Kind.LOGGED),
            ArmSpec(label=label, model_key=model_key, template=template, grounded=grounded),
        ],
        question_ids=question_ids,
        source=Experiment.Source.FILTER if filters else Experiment.Source.LIST,
        filters=filters,
    )


def default_evaluators() -> list[str]:
    from evaluation.models import Evaluator
    from evaluation.services import builtin_evaluators_ensure

    builtin_evaluators_ensure()
    return list(
        Evaluator.objects.filter(kind=Evaluator.Kind.OFFLINE)
        .order_by("name")
        .values_list("name", flat=True)
    )


def experiment_cancel(*, experiment: Experiment) -> bool:
    """Ask a running or queued experiment to stop after the answers in flight."""
    if experiment.finished:
        return False
    Experiment.objects.filter(pk=experiment.pk).update(cancel_requested=True)
    # a queued experiment that no worker has taken is cancelled at once
    Experiment.objects.filter(pk=experiment.pk, status=Experiment.Status.QUEUED).update(
        status=Experiment.Status.CANCELLED, finished_at=timezone.now()
    )
    return True


# --- running --------------------------------------------------------------------------------


class RateLimiter:
    """At most `rate` calls per second across threads (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def _fail(rows, reason: str) -> int:
    return rows.update(status=Experiment.Status.FAILED, error=reason, finished_at=timezone.now())


def _lease_s() -> float:
    # a chunk of answers is CHUNK model calls spread over the pool, each with its retries
    per_call = settings.OPENAI_TIMEOUT_S * (1 + settings.OPENAI_MAX_RETRIES)
    rounds = -(-CHUNK // max(1, settings.EXPERIMENT_CONCURRENCY))
    return max(settings.JOB_LEASE_S, 2 * rounds * per_call)


EXPERIMENT_JOB = jobs.JobKind(
    model="experiments.Experiment",
    task="experiments.tasks.run_experiment",
    active=Q(status__in=[Experiment.Status.QUEUED, Experiment.Status.RUNNING]),
    fail=_fail,
    on_claim={"status": Experiment.Status.RUNNING},
    lease_s=_lease_s,
)


def experiment_run(*, experiment_id) -> Experiment:
    """Answer every question with every model arm not answered yet, score, finish.

    The run holds the experiment's lease (reviewhub.jobs): a second message for it does
    nothing, and if this worker dies the sweeper re-queues it and the next run resumes.
    """
    experiment = jobs.job_claim(Experiment, experiment_id)
    if experiment is None:  # finished, cancelled, or held by a live run
        return Experiment.objects.get(pk=experiment_id)
    originals = Turn.objects.in_bulk(experiment.question_ids, field_name="pk")
    questions = [originals[k] for k in _ordered_keys(experiment.question_ids, originals)]
    arms = list(experiment.arms.select_related("prompt_template", "conversation"))
    versions = _evaluator_versions(experiment)
    try:
        for arm in arms:
            if arm.kind == Arm.Kind.LOGGED:
                _score(versions, [q.id for q in questions])
                continue
            if not _run_arm(experiment, arm, questions, versions):
                return _finish(experiment, Experiment.Status.CANCELLED)
    except jobs.LeaseLost:
        log.warning("experiment %s: another run took over", experiment.pk)
        experiment.refresh_from_db()
        return experiment
    except Exception as exc:  # shown on the page; the task's retry resumes where it stopped
        jobs.job_give_back(experiment, retried=True, error=f"{type(exc).__name__}: {exc}")
        raise
    return _finish(experiment, Experiment.Status.DONE)


def _ordered_keys(ids: list, found: dict) -> list:
    by_text = {str(k): k for k in found}
    return [by_text[i] for i in ids if i in by_text]  # a deleted question is skipped


def _run_arm(experiment: Experiment, arm: Arm, questions: list[Turn], versions: list) -> bool:
    choice = llm.resolve_model(arm.model_key)
    template = arm.prompt_template or prompts.active_template()
    limiter = RateLimiter(settings.EXPERIMENT_RATE_PER_S)
    answered = set(
        Turn.objects.filter(conversation=arm.conversation).values_list("replay_of_id", flat=True)
    )
    todo = [q for q in questions if q.id not in answered]
    position = arm.conversation.turns.aggregate(p=Max("position"))["p"]
    position = -1 if position is None else position
    workers = max(1, settings.EXPERIMENT_CONCURRENCY)
    # A pipeline one chunk deep: each model call starts as soon as its prompt is ready, and
    # the next chunk's retrieval and prompts are prepared (on this thread, with its database
    # connection) while the pool still answers the previous chunk. Logging a chunk waits for
    # its answers only then. Preparing and calling one after the other left the pool idle
    # during preparation and this thread idle during the calls (profiled: 300 questions × 2
    # arms spent 7.9 s preparing and 6.9 s waiting, of 18.5 s).
    in_flight: list[tuple[chat_services.PreparedTurn, Future]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="experiment") as pool:
        for start in range(0, len(todo), CHUNK):
            if Experiment.objects.filter(pk=experiment.pk, cancel_requested=True).exists():
                _log_chunk(experiment, versions, in_flight)  # the answers in flight finish
                return False
            submitted = []
            with retrieval.one_index():  # the knowledge base's version read once a chunk
                for question in todo[start : start + CHUNK]:
                    position += 1
                    prepared = _prepare(experiment, arm, question, choice, template, position)
                    submitted.append((prepared, pool.submit(_call, prepared, limiter)))
            _log_chunk(experiment, versions, in_flight)
            in_flight = submitted
        _log_chunk(experiment, versions, in_flight)
    return True


def _log_chunk(experiment: Experiment, versions: list, chunk: list[tuple]) -> None:
    """Log a chunk's answers once they are all in, score them, report progress."""
    if not chunk:
        return
    logged = chat_services.turns_log(
        logged=[_logged(prepared, future.result()) for prepared, future in chunk]
    )
    _score(versions, [t.id for t in logged])
    _progress(experiment)


def _prepare(experiment, arm, question, choice, template, position) -> chat_services.PreparedTurn:
    prepared = chat_services.turn_prepare(
        conversation=arm.conversation,
        user=experiment.created_by,
        question=question.question,
        grounded=arm.grounded,
        choice=choice,
        template=template,
        source=Conversation.Source.REPLAY,
        replay_of=question,
        k=arm.k,
        standalone=True,
        position=position,
    )
    return prepared


@dataclass
class _Outcome:
    completion: llm.Completion | None
    error: str
    latency_ms: int


def _call(prepared: chat_services.PreparedTurn, limiter: RateLimiter) -> _Outcome:
    """The model call alone (no database), so it can run on a pool thread."""
    limiter.wait()
    started = time.perf_counter()
    try:
        completion = llm.complete(
            prepared.choice,
            prepared.prompt.messages,
            contexts=prepared.llm_contexts(),
            params=prepared.params,
            stream=False,
        ).collect()
        error = ""
    except llm.LLMError as exc:
        completion, error = None, str(exc)
    return _Outcome(completion, error, int((time.perf_counter() - started) * 1000))


def _logged(prepared: chat_services.PreparedTurn, outcome: _Outcome) -> chat_services.Logged:
    done = outcome.completion
    return chat_services.Logged(
        prepared=prepared,
        answer=done.text if done else "",
        error=outcome.error,
        latency_ms=outcome.latency_ms,
        prompt_tokens=done.prompt_tokens if done else None,
        completion_tokens=done.completion_tokens if done else None,
    )


def _evaluator_versions(experiment: Experiment) -> list:
    from evaluation.models import Evaluator

    evaluators = Evaluator.objects.filter(name__in=experiment.evaluators).order_by("name")
    return [v for e in evaluators if (v := e.versions.order_by("-version").first()) is not None]


def _score(versions: list, turn_ids: list) -> None:
    """Score answers with the experiment's evaluators: the offline checks in one pass over
    the answers (their passages analysed once), each judge through its own path."""
    from evaluation.models import Evaluator
    from evaluation.services import score_offline_many, score_turns, turn_data

    offline = [v for v in versions if v.evaluator.kind == Evaluator.Kind.OFFLINE]
    if offline:
        ids = set(turn_ids)
        score_offline_many(wanted={v: ids for v in offline}, turns=turn_data(turn_ids))
    for version in versions:
        if version.evaluator.kind != Evaluator.Kind.OFFLINE:
            score_turns(version=version, turn_ids=turn_ids)


def _counts(experiment: Experiment) -> dict:
    arms = experiment.arms.filter(kind=Arm.Kind.MODEL)
    answers = Turn.objects.filter(conversation__in=arms.values("conversation"))
    return {"done": answers.count(), "failed": answers.filter(status=Turn.Status.ERROR).count()}


def _progress(experiment: Experiment) -> None:
    """Progress on the page, and the lease renewed (raises LeaseLost if it was lost)."""
    jobs.job_heartbeat(experiment, **_counts(experiment))


def _finish(experiment: Experiment, status: str) -> Experiment:
    with transaction.atomic():
        finished = jobs.job_rows(experiment).update(
            status=status, finished_at=timezone.now(), lease_owner="", **_counts(experiment)
        )
        # the graph: its status, and every arm's answers (PRODUCED) now they are all in
        outbox_record("experiment", [experiment.pk])
    if finished:
        return experiment_results_keep(experiment=experiment)
    experiment.refresh_from_db()
    return experiment


def experiment_send_pairs(
    *, experiment: Experiment, arm_position: int, limit: int | None = None, seed: int = 0
) -> int:
    """Send the baseline's and this arm's answers to experts as blind pairwise items (sides
    drawn per item), for the questions both answered without error; `limit` takes a fixed
    random sample of them. Returns how many pairs are new (a pair is never sent twice)."""
    from annotations.pairwise import Pair, pairwise_send

    arms = {a.position: a for a in experiment.arms.all()}
    baseline = min(arms) if arms else None
    if arm_position not in arms or arm_position == baseline:
        raise ExperimentError("Choose an arm other than the baseline to compare with it.")
    if not experiment.finished:
        raise ExperimentError("Send pairs when the experiment has finished.")
    first, second = _answers_by_question(arms[baseline]), _answers_by_question(arms[arm_position])
    both = [q for q in experiment.question_ids if q in first and q in second]
    if limit is not None and limit < len(both):
        both = sorted(random.Random(seed).sample(both, limit), key=both.index)
    pairs = [Pair(question_id=q, first_id=first[q], second_id=second[q]) for q in both]
    if not pairs:
        raise ExperimentError("No question has an answer from both arms to compare.")
    return pairwise_send(
        batch=experiment.pk, first_key=str(baseline), second_key=str(arm_position), pairs=pairs
    )


def _answers_by_question(arm: Arm) -> dict[str, str]:
    """question id → the arm's answer without error (the question itself for logged answers)."""
    if arm.kind == Arm.Kind.LOGGED:
        ids = arm.experiment.question_ids
        ok = Turn.objects.filter(pk__in=ids, status=Turn.Status.OK).values_list("pk", flat=True)
        return {str(pk): str(pk) for pk in ok}
    rows = Turn.objects.filter(conversation_id=arm.conversation_id, status=Turn.Status.OK)
    return {str(q): str(pk) for pk, q in rows.values_list("pk", "replay_of_id")}


def decision_preset(release_id) -> dict:
    """Form values for the method's decision: the base model and the model fine-tuned on
    this release, each with and without grounding, on the release's held-out questions."""
    from chat.models import ModelEndpoint
    from datasets.models import Release

    release = Release.objects.filter(pk=release_id).first() if _is_uuid(release_id) else None
    if release is None:
        return {}
    tuned = ModelEndpoint.objects.filter(fine_tuned_from=release.pk).order_by("-updated_at")
    base = llm.available_models()[0].key
    preset = {"source": Experiment.Source.RELEASE, "release": release.pk}
    preset["name"] = f"{release.name} v{release.version}: fine-tuned vs base"
    arms = [(base, False, "base"), (base, True, "base + grounding")]
    if tuned.exists():
        key = f"endpoint:{tuned.first().name}"
        arms += [(key, False, "fine-tuned"), (key, True, "fine-tuned + grounding")]
    for i, (key, grounded, label) in enumerate(arms):
        preset |= {
            f"arm{i}_kind": Arm.Kind.MODEL,
            f"arm{i}_model": key,
            f"arm{i}_grounded": grounded,
            f"arm{i}_label": label,
        }
    return preset


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def experiment_results_keep(*, experiment: Experiment) -> Experiment:
    """Compute the results page's numbers once and keep them (again after new scores)."""
    from experiments.selectors import results

    experiment.refresh_from_db()
    kept = results(experiment)
    Experiment.objects.filter(pk=experiment.pk).update(results=kept, results_at=timezone.now())
    experiment.refresh_from_db()
    return experiment
