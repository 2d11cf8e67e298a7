import json
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from chat import services
from chat.models import ApiToken, Conversation, Feedback, PromptTemplate, Turn

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.script_text = [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text.append(data)


def assert_inert(html: str) -> None:
    """No injected element is live: no img, no inline script, no event handler, no js: URL."""
    found = _Elements()
    found.feed(html)
    assert "img" not in found.tags
    assert not any("alert" in text for text in found.script_text)
    assert not any(name.startswith("on") for name, _ in found.attrs)
    assert not any(
        (value or "").strip().lower().startswith("javascript:") for _, value in found.attrs
    )


def sse_events(response) -> list[tuple[str, object]]:
    raw = response.streaming_content if response.streaming else [response.content]
    body = b"".join(raw).decode()
    events = []
    for block in body.strip().split("\n\n"):
        name = re.search(r"^event: (.*)$", block, re.M).group(1)
        data = json.loads(re.search(r"^data: (.*)$", block, re.M).group(1))
        events.append((name, data))
    return events


@pytest.fixture
def conversation(end_user):
    return services.conversation_create(user=end_user)


@pytest.mark.django_db
def test_chat_home_shows_a_helpful_empty_state(client_for, end_user):
    page = client_for(end_user).get(reverse("chat:home")).content.decode()
    assert "Start a conversation" in page and "No conversations yet" in page


@pytest.mark.django_db
def test_users_without_the_chat_permission_are_refused(client_for, outsider):
    assert client_for(outsider).get(reverse("chat:home")).status_code == 403


@pytest.mark.django_db
def test_new_conversation_then_ask_without_javascript(client_for, end_user, kb):
    client = client_for(end_user)
    response = client.post(reverse("chat:new"))
    conversation = Conversation.objects.get(user=end_user)
    assert response["Location"] == reverse("chat:conversation", args=[conversation.id])
    response = client.post(
        reverse("chat:ask", args=[conversation.id]),
        {
            "question": "How do I restore a snapshot?",
            "grounded": "on",
            "model": "offline:offline-extractive",
        },
    )
    turn = Turn.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#turn-{turn.id}")
    page = client.get(reverse("chat:conversation", args=[conversation.id])).content.decode()
    assert "offline model" in page and "Sources (" in page and "Backups and restore" in page
    assert "score 0." in page
    # each answer links to its lineage, which its owner may open
    lineage = reverse("graph:lineage", args=[turn.id])
    assert f'href="{lineage}"' in page
    assert client.get(lineage).status_code == 200


@pytest.mark.django_db
def test_ask_streams_tokens_then_the_rendered_turn(
    client_for, end_user, conversation, kb, settings
):
    response = client_for(end_user).post(
        reverse("chat:ask", args=[conversation.id]),
        {"question": "What port does Bolt use?", "grounded": "on"},
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and names.count("token") > 3
    streamed = "".join(data for name, data in events if name == "token")
    turn = Turn.objects.get()
    assert streamed == turn.answer and "7687" in turn.answer
    done = events[-1][1]
    assert done["turn"] == str(turn.id) and "Sources (" in done["html"] and "7687" in done["html"]
    # the page updates its title and the questions left without a reload
    assert done["title"] == "What port does Bolt use?"
    assert done["questions_left"] == settings.CHAT_DAILY_QUESTION_LIMIT - 1


@pytest.mark.django_db
def test_ungrounded_ask_has_no_sources(client_for, end_user, conversation, kb):
    client_for(end_user).post(
        reverse("chat:ask", args=[conversation.id]), {"question": "What port does Bolt use?"}
    )
    turn = Turn.objects.get()
    assert not turn.grounded and turn.contexts.count() == 0


@pytest.mark.django_db
def test_model_failure_shows_a_clear_message_and_is_logged(
    client_for, end_user, conversation, kb, llm_server
):
    llm_server.mode = "error"
    response = client_for(end_user).post(
        reverse("chat:ask", args=[conversation.id]),
        {"question": "What port does Bolt use?", "grounded": "on", "model": "openai:test-model"},
        HTTP_ACCEPT="text/event-stream",
    )
    done = sse_events(response)[-1]
    assert done[0] == "done" and done[1]["status"] == "error"
    assert "The model could not answer this time" in done[1]["html"]
    assert Turn.objects.get().status == "error"


@pytest.mark.django_db
def test_daily_limit_gives_a_friendly_message_and_logs_nothing(
    client_for, end_user, conversation, kb, settings
):
    settings.CHAT_DAILY_QUESTION_LIMIT = 1
    client = client_for(end_user)
    url = reverse("chat:ask", args=[conversation.id])
    client.post(url, {"question": "first?"})
    events = sse_events(client.post(url, {"question": "second?"}, HTTP_ACCEPT="text/event-stream"))
    assert events == [("problem", {"message": events[0][1]["message"]})]
    assert "daily limit" in events[0][1]["message"] and "tomorrow" in events[0][1]["message"]
    assert Turn.objects.count() == 1
    page = client.get(reverse("chat:conversation", args=[conversation.id])).content.decode()
    assert "0 questions left today" in page


@pytest.mark.django_db
def test_a_user_cannot_read_ask_in_or_rate_another_users_conversation(
    client_for, end_user, other_user, ask
):
    turn = ask("What port does Bolt use?")
    client = client_for(other_user)
    assert client.get(reverse("chat:conversation", args=[turn.conversation_id])).status_code == 404
    assert (
        client.post(
            reverse("chat:ask", args=[turn.conversation_id]), {"question": "hi"}
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("chat:feedback", args=[turn.id]), {"rating": "down"}).status_code == 404
    )
    assert not Feedback.objects.exists() and Turn.objects.count() == 1
    page = client.get(reverse("chat:home")).content.decode()
    assert "What port does Bolt use" not in page


@pytest.mark.django_db
def test_feedback_with_htmx_is_shown_back_and_can_be_changed(client_for, end_user, ask):
    turn = ask("What port does Bolt use?")
    client = client_for(end_user)
    url = reverse("chat:feedback", args=[turn.id])
    page = client.post(
        url, {"rating": "down", "comment": "Missing the TLS detail"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "You rated this not helpful" in page and "Missing the TLS detail" in page
    page = client.post(
        url, {"rating": "up", "comment": ""}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "You rated this helpful" in page
    assert Feedback.objects.get().rating == "up"
    page = client.get(reverse("chat:conversation", args=[turn.conversation_id])).content.decode()
    assert 'value="up" class="thumb chosen"' in page


@pytest.mark.django_db
def test_xss_in_question_answer_and_context_renders_inert(client_for, end_user, kb):
    token = services.api_token_create(user=end_user, name="x")[1]
    body = {
        "question": f"Q {XSS}",
        "answer": f"A {XSS} [click](javascript:alert(1))",
        "model": "m",
        "context": [{"text": f"C {XSS}", "source": f"S {XSS}", "score": 0.5}],
    }
    client = client_for(end_user)
    client.post(
        "/api/v1/interactions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    turn = Turn.objects.get()
    page = client.get(reverse("chat:conversation", args=[turn.conversation_id])).content.decode()
    assert_inert(page)
    assert "Q &lt;script&gt;alert" in page  # the question is shown, escaped
    assert "C &lt;script&gt;alert" in page  # and so is the context
    # and in the streamed chat path
    conversation = services.conversation_create(user=end_user)
    response = client.post(
        reverse("chat:ask", args=[conversation.id]),
        {"question": XSS},
        HTTP_ACCEPT="text/event-stream",
    )
    html = sse_events(response)[-1][1]["html"]
    assert_inert(html)
    assert "&lt;script&gt;" in html


@pytest.mark.django_db
def test_conversation_page_query_count_does_not_grow_with_turns(
    client_for, end_user, ask, django_assert_max_num_queries
):
    first = ask("What port does Bolt use?")
    for i in range(6):
        turn = ask(f"Question {i} about snapshots?", conversation=first.conversation)
        services.feedback_set(turn=turn, user=end_user, rating="up")
    for _ in range(5):
        ask("Another conversation?")
    client = client_for(end_user)
    with django_assert_max_num_queries(15):  # 14 + the inbox count in the navigation
        assert (
            client.get(reverse("chat:conversation", args=[first.conversation_id])).status_code
            == 200
        )


@pytest.mark.django_db
def test_api_tokens_page_creates_shows_once_and_revokes(client_for, end_user):
    client = client_for(end_user)
    page = client.post(reverse("chat:tokens"), {"name": "support bot"}).content.decode()
    raw = re.search(r'<pre id="new-token">([^<]+)</pre>', page).group(1)
    token = ApiToken.objects.get(user=end_user)
    assert token.token_hash == services.hash_token(raw)
    assert raw not in client.get(reverse("chat:tokens")).content.decode()
    client.post(reverse("chat:token_revoke", args=[token.id]))
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.django_db
def test_admin_saves_a_template_in_use_as_a_new_version(client, ask, lead):
    ask("What port does Bolt use?")
    lead.is_staff = lead.is_superuser = True
    lead.save()
    client.force_login(lead)
    v1 = PromptTemplate.objects.get()
    client.post(
        reverse("admin:chat_prompttemplate_change", args=[v1.pk]),
        {
            "system_prompt": "New prompt",
            "context_template": v1.context_template,
            "chunk_template": v1.chunk_template,
            "is_active": "on",
        },
    )
    assert PromptTemplate.objects.count() == 2
    assert PromptTemplate.objects.get(pk=v1.pk).system_prompt == v1.system_prompt
    assert PromptTemplate.objects.get(version=2).system_prompt == "New prompt"


@pytest.mark.django_db
def test_a_stream_abandoned_by_the_browser_is_still_logged(rf, end_user, conversation, kb):
    from chat.views import _stream

    prepared = services.turn_prepare(
        conversation=conversation,
        user=end_user,
        question="How do I restore a snapshot?",
        grounded=True,
    )
    request = rf.get("/")
    request.user = end_user
    stream = _stream(request, prepared)
    next(stream), next(stream), next(stream)  # sources and two tokens, then the tab is closed
    stream.close()  # what the server does when the client goes away
    turn = Turn.objects.get()
    assert turn.status == "error" and "disconnected" in turn.error
    assert turn.answer and turn.contexts.exists()


def test_new_conversation_reuses_an_empty_one_instead_of_piling_them_up(client_for, end_user):
    client = client_for(end_user)
    first = client.post(reverse("chat:new"))["Location"]
    second = client.post(reverse("chat:new"))["Location"]
    assert first == second and Conversation.objects.filter(user=end_user).count() == 1


def test_owner_renames_a_conversation_and_nobody_else_can(client_for, end_user, other_user):
    conversation = services.conversation_create(user=end_user, title="old")
    url = reverse("chat:rename", args=[conversation.id])
    assert client_for(other_user).post(url, {"title": "hijacked"}).status_code == 404
    client = client_for(end_user)
    page = client.post(url, {"title": "   "}, follow=True).content.decode()
    assert "Give the conversation a title." in page
    client.post(url, {"title": "Backups questions"})
    conversation.refresh_from_db()
    assert conversation.title == "Backups questions"


def test_deleting_a_conversation_asks_first_then_removes_its_turns(
    client_for, end_user, other_user, conversation, kb
):
    services.chat_ask(conversation=conversation, user=end_user, question="What port?")
    url = reverse("chat:delete", args=[conversation.id])
    assert client_for(other_user).get(url).status_code == 404
    assert client_for(other_user).post(url).status_code == 404
    client = client_for(end_user)
    page = client.get(url).content.decode()
    assert "Delete “What port?”?" in page and "1 question and answer" in page
    assert Turn.objects.count() == 1  # asking deleted nothing
    assert client.post(url)["Location"] == reverse("chat:home")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Turn.objects.exists()


def test_a_conversation_whose_answer_is_training_data_is_not_deleted(client_for, end_user, lead):
    from tests.factories import make_example

    example = make_example(lead)
    conversation = example.turn.conversation
    conversation.user = end_user
    conversation.save()
    page = (
        client_for(end_user)
        .post(reverse("chat:delete", args=[conversation.id]), follow=True)
        .content.decode()
    )
    assert "used as training data" in page
    assert Conversation.objects.filter(pk=conversation.pk).exists()
