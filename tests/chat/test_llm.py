import pytest

from chat import llm
from tests.chat.llm_server import API_KEY


def _messages(question="How do I restore?"):
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]


def test_openai_provider_streams_over_real_http(llm_server):
    completion = llm.complete(llm.ModelChoice("openai", "test-model"), _messages())
    deltas = list(completion)
    assert len(deltas) > 3, "the answer arrives in pieces"
    assert completion.text == llm_server.answer
    assert completion.completion_tokens == len(llm_server.answer.split())
    assert completion.prompt_tokens == 6  # words in the two messages, as the server counts
    sent = llm_server.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == f"Bearer {API_KEY}"
    assert sent["body"]["stream"] is True and sent["body"]["model"] == "test-model"
    assert sent["body"]["messages"] == _messages()
    assert sent["body"]["temperature"] == llm.DEFAULT_PARAMS["temperature"]


def test_openai_provider_failure_is_an_llm_error_after_bounded_retries(llm_server):
    llm_server.mode = "error"
    with pytest.raises(llm.LLMError, match="500"):
        llm.complete(llm.ModelChoice("openai", "test-model"), _messages()).collect()
    assert len(llm_server.requests) == 2, "one try plus OPENAI_MAX_RETRIES=1 retry"


def test_openai_provider_times_out(llm_server, settings):
    settings.OPENAI_TIMEOUT_S = 0.3
    settings.OPENAI_MAX_RETRIES = 0
    llm_server.mode, llm_server.delay = "slow", 1.5
    with pytest.raises(llm.LLMError, match="Timeout"):
        llm.complete(llm.ModelChoice("openai", "test-model"), _messages()).collect()


@pytest.mark.django_db
def test_models_are_offline_only_without_a_key(settings):
    settings.OPENAI_API_KEY = ""
    assert [m.key for m in llm.available_models()] == ["offline:offline-extractive"]
    with pytest.raises(ValueError):
        llm.resolve_model("openai:gpt-4o")


@pytest.mark.django_db
def test_models_list_the_configured_openai_models_first(llm_server):
    keys = [m.key for m in llm.available_models()]
    assert keys == ["openai:test-model", "openai:test-model-large", "offline:offline-extractive"]
    assert llm.resolve_model(None).key == "openai:test-model"


def test_offline_answer_extracts_cited_sentences_from_the_context():
    contexts = [
        llm.Context(
            rank=1,
            title="Backups",
            score=0.8,
            text=(
                "Every paid instance takes a daily snapshot. "
                "To restore, open the snapshot and choose "
                "Restore. Restoring replaces all data in the instance."
            ),
        ),
        llm.Context(
            rank=2, title="Pricing", score=0.2, text="Professional starts at $65 per month."
        ),
    ]
    answer = llm.offline_answer("How do I restore a snapshot?", contexts)
    assert "open the snapshot and choose Restore. [1]" in answer
    assert "Sources: [1] Backups" in answer
    assert "$65" not in answer


def test_offline_answer_without_grounding_says_so():
    assert "grounding is off" in llm.offline_answer("How do I restore?", [])


def test_offline_answer_when_nothing_relevant_was_found():
    contexts = [llm.Context(rank=1, title="Pricing", score=0.05, text="Plans and prices.")]
    assert "does not seem to cover" in llm.offline_answer("Who won the cup?", contexts)


def test_offline_provider_streams_words_and_counts_tokens():
    completion = llm.complete(
        llm.ModelChoice("offline", llm.OFFLINE_MODEL), _messages(), contexts=[]
    )
    parts = list(completion)
    assert len(parts) > 5 and "".join(parts) == completion.text
    assert completion.completion_tokens == len(completion.text.split())
