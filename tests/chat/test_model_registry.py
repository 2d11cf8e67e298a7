"""Leads register OpenAI-compatible models; chat, replays and experiments use them."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from chat import llm, services
from chat.models import ModelEndpoint, Turn
from tests.chat.llm_server import API_KEY

pytestmark = pytest.mark.django_db


def _register(client, llm_server, **overrides):
    form = {
        "name": "acme-ft-v1",
        "base_url": llm_server.base_url,
        "api_key_env": "ACME_TEST_KEY",
        "model": "ft:acme-1",
        "params": '{"temperature": 0, "max_tokens": 300}',
        "in_chat": "on",
        "fine_tune_job": "ftjob-42",
        "fine_tune_status": "succeeded",
    }
    return client.post(reverse("chat:model_new"), form | overrides)


def test_a_registered_model_answers_in_chat_with_the_key_from_its_variable(
    client_for, lead, end_user, llm_server, kb, monkeypatch
):
    monkeypatch.setenv("ACME_TEST_KEY", API_KEY)
    assert _register(client_for(lead), llm_server).status_code == 302
    endpoint = ModelEndpoint.objects.get()
    assert endpoint.params == {"temperature": 0, "max_tokens": 300}
    assert "endpoint:acme-ft-v1" in [m.key for m in llm.available_models()]
    conversation = services.conversation_create(user=end_user)
    turn = services.chat_ask(
        conversation=conversation, user=end_user, question="Port?", model_key="endpoint:acme-ft-v1"
    )
    sent = llm_server.requests[-1]
    assert sent["auth"] == f"Bearer {API_KEY}" and sent["body"]["model"] == "ft:acme-1"
    assert sent["body"]["temperature"] == 0 and sent["body"]["max_tokens"] == 300
    assert turn.status == Turn.Status.OK and turn.answer == llm_server.answer
    assert (turn.provider, turn.model) == ("endpoint", "acme-ft-v1")
    assert turn.params["model_id"] == "ft:acme-1"
    # the chat form offers it, labelled by name
    page = client_for(end_user).get(reverse("chat:conversation", args=[conversation.id]))
    assert 'value="endpoint:acme-ft-v1"' in page.content.decode()


def test_a_model_whose_key_variable_is_unset_fails_with_a_clear_message(
    client_for, lead, end_user, llm_server, kb, monkeypatch
):
    monkeypatch.delenv("ACME_TEST_KEY", raising=False)
    _register(client_for(lead), llm_server)
    turn = services.chat_ask(
        conversation=services.conversation_create(user=end_user),
        user=end_user,
        question="Port?",
        model_key="endpoint:acme-ft-v1",
    )
    assert turn.status == Turn.Status.ERROR
    assert "environment variable ACME_TEST_KEY" in turn.error and "is not set" in turn.error


def test_the_key_itself_and_bad_parameters_are_refused_and_nothing_is_stored(
    client_for, lead, llm_server
):
    client = client_for(lead)
    response = _register(client, llm_server, api_key_env="sk-live-123")
    assert response.status_code == 400 and "never the key itself" in response.content.decode()
    for params, message in [
        ("[1]", "must be a JSON object"),
        ('{"temperature": 9}', "temperature must be a number from 0.0 to 2.0"),
        ('{"seed": 1}', "Unknown parameter “seed”"),
    ]:
        response = _register(client, llm_server, params=params)
        assert response.status_code == 400 and message in response.content.decode()
    assert not ModelEndpoint.objects.exists()


def test_editing_keeps_the_model_and_hiding_it_removes_it_from_chat(client_for, lead, llm_server):
    client = client_for(lead)
    _register(client, llm_server)
    endpoint = ModelEndpoint.objects.get()
    edit = reverse("chat:model_edit", args=[endpoint.id])
    page = html.unescape(client.get(edit).content.decode())
    shown = re.search(r'<textarea name="params"[^>]*>\s*(.*?)</textarea>', page, re.S).group(1)
    assert json.loads(shown) == {"temperature": 0, "max_tokens": 300}  # key order: the DB's
    form = {"name": "acme-ft-v1", "model": "ft:acme-2", "params": "{}"}
    assert client.post(edit, form).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.model == "ft:acme-2" and not endpoint.in_chat
    assert "endpoint:acme-ft-v1" not in [m.key for m in llm.available_models()]
    assert llm.resolve_model("endpoint:acme-ft-v1").model == "ft:acme-2"  # experiments still can


@pytest.mark.parametrize("who", ["end_user", "expert", "outsider"])
def test_only_leads_manage_models(request, client_for, who):
    client = client_for(request.getfixturevalue(who))
    assert client.get(reverse("chat:models")).status_code == 403
    assert client.post(reverse("chat:model_new"), {"name": "x", "model": "y"}).status_code == 403
    assert not ModelEndpoint.objects.exists()
