"""The LLM judge through the real `openai` client against the local OpenAI-compatible server."""

from __future__ import annotations

import pytest

from evaluation import services
from evaluation.models import Score

pytestmark = pytest.mark.django_db

SUPPORTED = "Every paid instance takes a daily snapshot that is kept for seven days."
UNSUPPORTED = "Every paid instance takes a daily snapshot that is kept for nine days."


@pytest.fixture
def judge_settings(llm_server, settings):
    settings.EVAL_JUDGE_TIMEOUT_S = 0.5
    settings.EVAL_JUDGE_MAX_ATTEMPTS = 3
    settings.EVAL_JUDGE_BACKOFF_S = 0.01
    settings.EVAL_JUDGE_BACKOFF_MAX_S = 0.05
    return llm_server


@pytest.fixture
def evaluator(lead):
    return services.evaluator_create(name="Judge", created_by=lead)


def _scores(turn, evaluator):
    return {
        s.criterion: s
        for s in Score.objects.filter(turn=turn, evaluator_version__evaluator=evaluator)
    }


def test_valid_json_is_stored_as_a_score_per_criterion_with_reason_and_tokens(
    judge_settings, evaluator, log_turn
):
    good, bad = log_turn("How long?", SUPPORTED), log_turn("How long?", UNSUPPORTED)
    services.score_turns(version=evaluator.current, turn_ids=[good.id, bad.id])
    scores = _scores(good, evaluator)
    assert set(scores) == {"correctness", "groundedness"}
    assert scores["groundedness"].value == 5 and scores["groundedness"].normalized == 1.0
    assert scores["groundedness"].judge_prompt_tokens > 50 and scores["groundedness"].error == ""
    assert _scores(bad, evaluator)["groundedness"].value == 1
    assert "nine" in _scores(bad, evaluator)["groundedness"].reason
    sent = [r["body"] for r in judge_settings.requests if r["body"].get("response_format")]
    assert sent[0]["temperature"] == 0
    prompt = sent[0]["messages"][0]["content"]
    assert "[1] doc 0\nEvery paid instance" in prompt, "the passages as sent, with their ranks"


def test_the_experts_corrected_answer_is_in_the_prompt(judge_settings, evaluator, log_turn, expert):
    from annotations.models import QueueItem, Review, Rubric

    turn = log_turn("How long?", UNSUPPORTED)
    rubric = Rubric.objects.create(name="r")
    Review.objects.create(
        item=QueueItem.objects.get(turn=turn),
        reviewer=expert,
        rubric=rubric,
        verdict="approve",
        corrected_answer="Snapshots are kept for seven days.",
    )
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    prompt = judge_settings.requests[-1]["body"]["messages"][0]["content"]
    assert "### Expert's corrected answer\nSnapshots are kept for seven days." in prompt


def test_malformed_json_is_retried_then_stored_as_an_error(judge_settings, evaluator, log_turn):
    turn = log_turn("How long?", SUPPORTED)
    judge_settings.judge_script = ["malformed"] * 3
    result = services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    assert result == {"scored": 0, "failed": 1, "capped": 0}
    score = _scores(turn, evaluator)["correctness"]
    assert score.value is None and "malformed" in score.error and score.attempts == 3


def test_malformed_json_once_then_valid_is_a_score(judge_settings, evaluator, log_turn):
    turn = log_turn("How long?", SUPPORTED)
    judge_settings.judge_script = ["malformed"]
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    score = _scores(turn, evaluator)["groundedness"]
    assert score.value == 5 and score.error == "" and score.attempts == 2


def test_a_429_is_retried_with_backoff(judge_settings, evaluator, log_turn):
    turn = log_turn("How long?", SUPPORTED)
    judge_settings.judge_script = ["429", "429"]
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    score = _scores(turn, evaluator)["groundedness"]
    assert score.value == 5 and score.attempts == 3


def test_a_timeout_is_recorded_and_logging_is_untouched(judge_settings, evaluator, log_turn):
    from chat.models import Turn

    judge_settings.judge_timeout_s = 1.0
    judge_settings.judge_script = ["timeout"] * 3
    turn = log_turn("How long?", SUPPORTED)
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    score = _scores(turn, evaluator)["groundedness"]
    assert score.value is None and "timed out" in score.error and score.attempts == 3
    assert Turn.objects.get(pk=turn.pk).answer == SUPPORTED


def test_rerunning_replaces_scores_and_never_duplicates(judge_settings, evaluator, log_turn):
    turn = log_turn("How long?", SUPPORTED)
    judge_settings.judge_script = ["malformed"] * 3
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    scores = Score.objects.filter(turn=turn, evaluator_version__evaluator=evaluator)
    assert scores.count() == 2
    assert all(s.value is not None and not s.error for s in scores), "the re-run replaced errors"


def test_the_hourly_cap_stops_judge_calls(judge_settings, evaluator, log_turn, lead):
    services.evaluator_update(evaluator=evaluator, actor=lead, hourly_cap=2)
    turns = [log_turn(f"Q{i}?", SUPPORTED) for i in range(5)]
    evaluator.refresh_from_db()
    result = services.score_turns(version=evaluator.current, turn_ids=[t.id for t in turns])
    assert result["capped"] == 3 and result["scored"] == 2
    again = services.score_turns(version=evaluator.current, turn_ids=[t.id for t in turns])
    assert again["capped"] == 5, "the cap holds for the rest of the hour"
    judge_calls = [r for r in judge_settings.requests if r["body"].get("response_format")]
    assert len(judge_calls) == 2


def test_judge_calls_run_concurrently_up_to_the_setting(
    judge_settings, evaluator, log_turn, settings
):
    settings.EVAL_JUDGE_CONCURRENCY = 4
    judge_settings.judge_delay = 0.2
    turns = [log_turn(f"Q{i}?", SUPPORTED) for i in range(10)]
    services.score_turns(version=evaluator.current, turn_ids=[t.id for t in turns])
    assert judge_settings.max_in_flight == 4


def test_without_a_key_the_judge_records_why(evaluator, log_turn, settings):
    settings.OPENAI_API_KEY = ""
    turn = log_turn("How long?", SUPPORTED)
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    assert "OPENAI_API_KEY" in _scores(turn, evaluator)["correctness"].error


def test_a_registered_model_can_be_the_judge(judge_settings, log_turn, lead, monkeypatch, settings):
    from chat.models import ModelEndpoint
    from tests.chat.llm_server import API_KEY

    settings.OPENAI_API_KEY = ""  # only the registered model's own key
    monkeypatch.setenv("JUDGE_KEY", API_KEY)
    ModelEndpoint.objects.create(
        name="judge-box", base_url=judge_settings.base_url, api_key_env="JUDGE_KEY", model="j-1"
    )
    evaluator = services.evaluator_create(name="J", created_by=lead, model="endpoint:judge-box")
    turn = log_turn("How long?", SUPPORTED)
    services.score_turns(version=evaluator.current, turn_ids=[turn.id])
    assert _scores(turn, evaluator)["groundedness"].value == 5
    assert judge_settings.requests[-1]["body"]["model"] == "j-1"
