import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import prompts, services
from chat.models import Conversation, Feedback, PromptTemplate, Turn
from outbox.models import OutboxEntry


@pytest.mark.django_db
def test_a_grounded_turn_is_logged_with_everything_that_produced_it(kb, ask, end_user):
    turn = ask("How do I restore a snapshot?")
    assert turn.status == "ok" and turn.provider == "offline" and turn.model == "offline-extractive"
    assert turn.grounded and turn.source == "chat" and turn.user == end_user
    contexts = list(turn.contexts.all())
    assert contexts and [c.rank for c in contexts] == list(range(1, len(contexts) + 1))
    assert contexts[0].title == "Backups and restore" and contexts[0].chunk is not None
    assert turn.max_context_score == contexts[0].score
    assert "Restore" in turn.answer and "[1]" in turn.answer
    assert turn.prompt_template.version == 1
    assert turn.params == {"temperature": 0.2, "max_tokens": 600}
    assert turn.latency_ms is not None and turn.prompt_tokens and turn.completion_tokens
    assert turn.created_at <= turn.completed_at
    # the exact prompt: system prompt + rendered context, then the question
    system = turn.prompt_messages[0]
    assert system["role"] == "system"
    assert system["content"] == f"{turn.system_prompt}\n\n{turn.rendered_context}"
    assert contexts[0].text in turn.rendered_context
    assert turn.prompt_messages[-1] == {"role": "user", "content": "How do I restore a snapshot?"}
    assert OutboxEntry.objects.filter(entity="turn", entity_id=str(turn.id)).exists()
    assert OutboxEntry.objects.filter(
        entity="conversation", entity_id=str(turn.conversation_id)
    ).exists()
    assert Conversation.objects.get(pk=turn.conversation_id).title == "How do I restore a snapshot?"


@pytest.mark.django_db
def test_an_ungrounded_turn_has_no_context(kb, ask):
    turn = ask("How do I restore a snapshot?", grounded=False)
    assert not turn.grounded and turn.contexts.count() == 0 and turn.rendered_context == ""
    assert turn.prompt_messages[0]["content"] == turn.system_prompt


@pytest.mark.django_db
def test_follow_up_questions_carry_the_conversation_history(kb, ask, end_user):
    first = ask("How do I restore a snapshot?")
    second = ask("And how long does it take?", conversation=first.conversation)
    assert second.position == first.position + 1
    roles = [m["role"] for m in second.prompt_messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert second.prompt_messages[2]["content"] == first.answer


@pytest.mark.django_db
def test_logging_a_turn_is_one_transaction_with_a_fixed_number_of_queries(kb, end_user):
    conversation = services.conversation_create(user=end_user)
    prepared = services.turn_prepare(
        conversation=conversation, user=end_user, question="What port does Bolt use?", grounded=True
    )
    with CaptureQueriesContext(connection) as queries:
        services.turn_log(prepared=prepared, answer="7687", latency_ms=3)
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) <= 9, sql
    assert Turn.objects.count() == 1


@pytest.mark.django_db
def test_a_model_failure_is_logged_as_an_error(kb, ask, llm_server):
    llm_server.mode = "error"
    turn = ask("How do I restore a snapshot?")
    assert turn.status == "error" and turn.answer == ""
    assert "500" in turn.error and turn.provider == "openai" and turn.model == "test-model"
    assert turn.contexts.count() > 0, "what was retrieved is logged even when the model failed"


@pytest.mark.django_db
def test_openai_turn_is_logged_with_usage_from_the_stream(kb, ask, llm_server):
    turn = ask("How do I restore a snapshot?", model_key="openai:test-model-large")
    assert turn.status == "ok" and turn.answer == llm_server.answer
    assert turn.model == "test-model-large" and turn.completion_tokens == 8
    sent = [r for r in llm_server.requests if r["path"] == "/v1/chat/completions"][-1]["body"]
    assert sent["messages"] == turn.prompt_messages
    assert any(r["path"] == "/v1/embeddings" for r in llm_server.requests), "vectors from OpenAI"


@pytest.mark.django_db
def test_daily_question_limit_is_enforced_with_a_friendly_message(kb, ask, settings):
    settings.CHAT_DAILY_QUESTION_LIMIT = 2
    ask("one?")
    ask("two?")
    with pytest.raises(services.DailyLimitReached, match="daily limit"):
        ask("three?")


@pytest.mark.django_db
def test_empty_and_unknown_model_questions_are_refused(ask):
    with pytest.raises(services.ChatError, match="type a question"):
        ask("   ")
    with pytest.raises(services.ChatError, match="not available"):
        ask("hi", model_key="openai:gpt-99")
    assert Turn.objects.count() == 0


@pytest.mark.django_db
def test_feedback_is_one_per_user_and_can_be_changed(kb, ask, end_user):
    turn = ask("What port does Bolt use?")
    services.feedback_set(turn=turn, user=end_user, rating="down", comment="too vague")
    services.feedback_set(turn=turn, user=end_user, rating="up", comment="")
    feedback = Feedback.objects.get(turn=turn)
    assert feedback.rating == "up" and feedback.comment == ""
    assert OutboxEntry.objects.filter(entity="feedback", entity_id=str(feedback.id)).count() == 2
    with pytest.raises(services.ChatError):
        services.feedback_set(turn=turn, user=end_user, rating="meh")


@pytest.mark.django_db
def test_a_prompt_change_is_a_new_version_and_old_turns_keep_theirs(kb, ask, lead):
    first = ask("What port does Bolt use?")
    v1 = prompts.active_template()
    v2 = prompts.prompt_template_new_version(
        base=v1,
        system_prompt="Answer like a pirate.",
        context_template=v1.context_template,
        chunk_template=v1.chunk_template,
        user=lead,
    )
    assert v2.version == 2 and prompts.active_template() == v2
    second = ask("What port does Bolt use?")
    assert second.prompt_template == v2 and second.system_prompt == "Answer like a pirate."
    first.refresh_from_db()
    assert (
        first.prompt_template == v1
        and PromptTemplate.objects.get(pk=v1.pk).system_prompt == v1.system_prompt
    )


def test_prompt_rendering_leaves_braces_in_passages_alone():
    template = PromptTemplate(
        system_prompt="S",
        context_template="C:\n{context}",
        chunk_template="[{rank}] {title}\n{text}",
    )
    rendered = prompts.render(
        template=template,
        question="q?",
        history=[],
        contexts=[
            {
                "rank": 1,
                "title": "T {text}",
                "text": "use {context} and {rank}",
                "source": "",
                "score": 1,
            }
        ],
    )
    assert rendered.rendered_context == "C:\n[1] T {text}\nuse {context} and {rank}"
