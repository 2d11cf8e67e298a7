"""Evaluators, versions, online scoring (sampling, filters, idempotence) and backfills."""

from __future__ import annotations

import pytest

from evaluation import services
from evaluation.models import BackfillJob, Evaluator, Score, ScoreRequest

pytestmark = pytest.mark.django_db

SUPPORTED = "Every paid instance takes a daily snapshot that is kept for seven days [1]."


def _offline_scores(turn) -> dict[str, float]:
    return {
        s.criterion: s.value
        for s in Score.objects.filter(turn=turn, evaluator_version__evaluator__kind="offline")
    }


def test_online_scan_scores_new_turns_with_every_offline_check(log_turn):
    turn = log_turn("How long is a daily snapshot kept?", SUPPORTED)
    report = services.online_scan()
    assert report["turns"] == 1
    assert _offline_scores(turn) == {
        "groundedness": 1.0,
        "citation_validity": 1.0,
        "context_relevance": 0.5,
        "refusal": 0.0,
    }


def test_answers_with_and_without_grounding_are_scored_against_the_knowledge_base(kb, log_turn):
    """The demo knowledge base is loaded: kb_support scores an ungrounded answer too (the
    checks on the given passages cannot), so grounded and ungrounded answers compare."""
    question = "How long is a daily snapshot kept?"
    grounded = log_turn(question, SUPPORTED)
    right = log_turn(question, "Daily snapshots are kept for seven days.", passages=())
    wrong = log_turn(question, "Daily snapshots are kept for 90 days.", passages=())
    declined = log_turn(question, "I don't know.", passages=())
    uncovered = log_turn("Which GPU types can I rent?", "I don't know.", passages=())
    services.online_scan()
    scores = {t: _offline_scores(t) for t in (grounded, right, wrong, declined, uncovered)}
    assert scores[grounded]["kb_support"] == 1.0 and scores[right]["kb_support"] == 1.0
    # right, but given no passages: nothing to be grounded in (no groundedness score, not 0)
    assert scores[right] == {"kb_support": 1.0, "refusal": 0.0}
    assert scores[wrong]["kb_support"] < 0.5
    assert scores[declined] == {"kb_support": 0.0, "refusal": 1.0}  # the KB had the answer
    assert scores[uncovered] == {"refusal": 1.0}  # the KB cannot say: no kb_support score
    reason = Score.objects.get(turn=declined, criterion="kb_support").reason
    assert "Backups and restore" in reason


def test_a_second_scan_scores_nothing_twice(log_turn):
    log_turn("How long is a daily snapshot kept?", SUPPORTED)
    services.online_scan()
    before = Score.objects.count()
    assert services.online_scan()["offline"] == 0
    assert Score.objects.count() == before


def test_rescoring_replaces_and_never_duplicates(log_turn):
    turn = log_turn("How long?", SUPPORTED)
    services.online_scan()
    groundedness = Evaluator.objects.get(builtin="groundedness")
    services.score_turns(version=groundedness.current, turn_ids=[turn.id])
    services.score_turns(version=groundedness.current, turn_ids=[turn.id])
    assert Score.objects.filter(turn=turn, criterion="groundedness").count() == 1


def test_sampling_scores_about_the_configured_share_and_decides_the_same_each_time(log_turn, lead):
    services.builtin_evaluators_ensure()
    refusal = Evaluator.objects.get(builtin="refusal")
    services.evaluator_update(evaluator=refusal, actor=lead, sampling_rate=0.3)
    refusal.refresh_from_db()
    turns = [log_turn(f"Question {i}?", "An answer.") for i in range(200)]
    picked = {t.id for t in turns if services.sampled(refusal, t.id)}
    assert 40 <= len(picked) <= 80
    services.online_scan()
    scored = set(
        Score.objects.filter(evaluator_version__evaluator=refusal).values_list("turn_id", flat=True)
    )
    assert scored == picked


def test_filters_limit_an_evaluator_to_a_source_and_model(log_turn, lead):
    judge = services.evaluator_create(
        name="Judge", created_by=lead, filter_sources=["api"], filter_models=["big"]
    )
    other = log_turn("Q?", "A.", model="small")
    wanted = log_turn("Q?", "A.", model="big")
    report = services.online_scan()
    assert report["judge_requests"] == {str(judge.current.id): [str(wanted.id)]}
    assert not ScoreRequest.objects.filter(turn=other).exists()


def test_a_judge_request_is_made_once_across_overlapping_scans(log_turn, lead):
    services.evaluator_create(name="Judge", created_by=lead)
    log_turn("Q?", "A.")
    assert len(next(iter(services.online_scan()["judge_requests"].values()))) == 1
    assert services.online_scan()["judge_requests"] == {}
    assert ScoreRequest.objects.count() == 1


def test_editing_a_version_without_scores_changes_it_in_place(lead):
    judge = services.evaluator_create(name="Judge", created_by=lead)
    version = services.evaluator_update(evaluator=judge, actor=lead, model="other-model")
    assert version.version == 1 and version.model == "other-model"


def test_editing_a_version_in_use_makes_a_new_version_and_old_scores_keep_theirs(log_turn, lead):
    judge = services.evaluator_create(name="Judge", created_by=lead)
    turn = log_turn("Q?", "A.")
    services.scores_store(
        [
            {
                "turn_id": turn.id,
                "evaluator_version_id": judge.current.id,
                "criterion": "correctness",
                "value": 4.0,
                "normalized": 0.75,
            }
        ]
    )
    new = services.evaluator_update(
        evaluator=judge, actor=lead, prompt_template="Grade: {answer} {criteria}"
    )
    assert new.version == 2 and judge.versions.count() == 2
    old = Score.objects.get(turn=turn)
    assert old.evaluator_version.version == 1
    assert "exacting reviewer" in old.evaluator_version.prompt_template


def test_bad_criteria_are_refused_with_a_message(lead):
    with pytest.raises(services.EvaluationError, match="scale"):
        services.evaluator_create(
            name="J", created_by=lead, criteria=[{"key": "x", "scale_min": 5, "scale_max": 1}]
        )
    with pytest.raises(services.EvaluationError, match="answer"):
        services.evaluator_create(name="J", created_by=lead, prompt_template="no placeholder")
    assert not Evaluator.objects.filter(name="J").exists()


@pytest.mark.django_db(transaction=True)
def test_a_backfill_scores_old_turns_on_the_worker_with_progress(
    seeded_db, celery_worker, log_turn, lead
):
    from tests.conftest import wait_until

    turns = [log_turn(f"Q{i}?", SUPPORTED) for i in range(30)]
    services.builtin_evaluators_ensure()
    groundedness = Evaluator.objects.get(builtin="groundedness")
    job = services.backfill_job_create(evaluator=groundedness, actor=lead)
    assert job.total == 30
    wait_until(
        lambda: BackfillJob.objects.get(pk=job.pk).status == "done", 60, message="backfill ran"
    )
    job.refresh_from_db()
    assert job.percent == 100
    assert Score.objects.filter(criterion="groundedness", turn__in=turns).count() == 30


@pytest.mark.django_db(transaction=True)
def test_new_turns_are_scored_by_the_worker_after_commit(seeded_db, celery_worker, log_turn):
    from evaluation.tasks import score_new_turns
    from tests.conftest import wait_until

    turn = log_turn("How long is a daily snapshot kept?", SUPPORTED)
    score_new_turns.delay()  # what Celery beat sends every EVAL_ONLINE_INTERVAL_S
    wait_until(
        lambda: Score.objects.filter(turn=turn, criterion="groundedness").exists(),
        60,
        message="the worker scored the turn",
    )
    assert Score.objects.get(turn=turn, criterion="groundedness").value == 1.0


def test_a_migration_removes_the_old_zero_groundedness_of_answers_given_no_passages(log_turn):
    """Before, an answer given no passages scored groundedness 0 'no passages were given';
    migration 0004 deletes those scores and tells the graph, leaving every other score."""
    import importlib

    from django.apps import apps

    from outbox.models import OutboxEntry

    migration = importlib.import_module(
        "evaluation.migrations.0004_no_groundedness_without_passages"
    )
    grounded = log_turn("How long is a daily snapshot kept?", SUPPORTED)
    bare = log_turn("How long is a daily snapshot kept?", "Seven days.", passages=())
    services.online_scan()
    version = Score.objects.get(turn=grounded, criterion="groundedness").evaluator_version
    old = Score.objects.create(
        turn=bare,
        evaluator_version=version,
        criterion="groundedness",
        value=0.0,
        normalized=0.0,
        reason=migration.OLD_REASON,
        created_at=version.created_at,
        updated_at=version.created_at,
    )
    kept = set(Score.objects.exclude(pk=old.pk).values_list("pk", flat=True))
    migration.forwards(apps, None)
    assert set(Score.objects.values_list("pk", flat=True)) == kept
    assert OutboxEntry.objects.filter(entity="score", entity_id=str(old.pk)).exists()
