"""The chat page, feedback, API tokens and replays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import UUID

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services
from chat.forms import AskForm, ModelEndpointForm, RenameForm, TokenForm
from chat.models import ApiToken, Conversation, ModelEndpoint, Turn
from reviewhub.preferences import preference
from reviewhub.roles import require_perm

chat_required = require_perm("use_chat")


def _chat_context(request: HttpRequest, conversation: Conversation | None) -> dict:
    turns = selectors.conversation_turns(conversation, request.user) if conversation else []
    last = turns[-1] if turns else None
    initial = {
        "grounded": last.grounded if last else True,
        "model": f"{last.provider}:{last.model}" if last and last.provider != "api" else None,
    }
    return {
        "conversation": conversation,
        "conversations": selectors.conversations_for(request.user)[:50],
        "turns": turns,
        "form": AskForm(initial=initial),
        "questions_left": _questions_left(request.user),
    }


def _questions_left(user) -> int | None:
    limit = preference("daily_question_limit")
    return max(0, limit - services.questions_asked_today(user)) if limit else None


@require_GET
@chat_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/chat.html", _chat_context(request, None))


@require_POST
@chat_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    conversation = services.conversation_start(user=request.user)
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_POST
@chat_required
def conversation_rename(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    current = selectors.conversation_for_user(request.user, conversation_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        services.conversation_rename(conversation=current, title=form.cleaned_data["title"])
        messages.success(request, "Renamed.")
    else:
        messages.error(request, " ".join(form.errors["title"]))
    return redirect("chat:conversation", conversation_id=current.id)


@chat_required
def conversation_delete(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    """GET asks for confirmation (with what will go); POST deletes."""
    current = selectors.conversation_for_user(request.user, conversation_id)
    if request.method != "POST":
        context = {"conversation": current, "turns": current.turns.count()}
        return render(request, "chat/delete.html", context)
    try:
        services.conversation_delete(conversation=current)
    except services.ChatError as exc:
        messages.error(request, str(exc))
        return redirect("chat:conversation", conversation_id=current.id)
    messages.success(request, f"Deleted “{current.title or 'New conversation'}”.")
    return redirect("chat:home")


@require_GET
@chat_required
def conversation(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    current = selectors.conversation_for_user(request.user, conversation_id)
    return render(request, "chat/chat.html", _chat_context(request, current))


@require_POST
@chat_required
def ask(request: HttpRequest, conversation_id: UUID) -> HttpResponse:
    """Ask a question: streamed as server-sent events for the page's script, else a redirect."""
    current = selectors.conversation_for_user(request.user, conversation_id)
    form = AskForm(request.POST)
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    if not form.is_valid():
        problem = " ".join(e for errors in form.errors.values() for e in errors)
        return _event_error(problem) if streaming else _flash_back(request, current, problem)
    try:
        services.check_daily_limit(request.user)
        prepared = services.turn_prepare(
            conversation=current,
            user=request.user,
            question=form.cleaned_data["question"],
            grounded=form.cleaned_data["grounded"],
            model_key=form.cleaned_data["model"],
        )
    except services.ChatError as exc:
        return _event_error(str(exc)) if streaming else _flash_back(request, current, str(exc))
    if not streaming:
        turn = services.turn_answer(prepared=prepared)
        return redirect(reverse("chat:conversation", args=[current.id]) + f"#turn-{turn.id}")
    response = StreamingHttpResponse(_stream(request, prepared), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(request: HttpRequest, prepared: services.PreparedTurn) -> Iterator[bytes]:
    """Tokens as they are generated, then the logged turn rendered (sanitised) as HTML."""
    yield _sse("sources", {"count": len(prepared.contexts), "model": prepared.choice.label})
    stream = services.turn_stream(prepared=prepared)
    while True:
        try:
            yield _sse("token", next(stream))
        except StopIteration as done:
            turn = done.value
            break
    turn = selectors.with_details(Turn.objects.filter(pk=turn.pk), request.user).get()
    html = render_to_string("chat/chat.html#turn", {"turn": turn}, request=request)
    done = {"html": html, "turn": str(turn.id), "status": turn.status}
    # the page's title and "questions left today" change with this answer: no reload needed
    done |= {"title": turn.conversation.title, "questions_left": _questions_left(request.user)}
    yield _sse("done", done)


def _event_error(message: str) -> HttpResponse:
    return HttpResponse(_sse("problem", {"message": message}), content_type="text/event-stream")


def _flash_back(request: HttpRequest, conversation: Conversation, message: str) -> HttpResponse:
    messages.error(request, message)
    return redirect("chat:conversation", conversation_id=conversation.id)


@require_POST
@chat_required
def feedback(request: HttpRequest, turn_id: UUID) -> HttpResponse:
    turn = selectors.turn_for_user(request.user, turn_id)
    error = ""
    try:
        services.feedback_set(
            turn=turn,
            user=request.user,
            rating=request.POST.get("rating", ""),
            comment=request.POST.get("comment", ""),
        )
    except services.ChatError as exc:
        error = str(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(
            reverse("chat:conversation", args=[turn.conversation_id]) + f"#turn-{turn.id}"
        )
    turn = selectors.with_details(Turn.objects.filter(pk=turn.pk), request.user).get()
    return render(
        request,
        "chat/chat.html#feedback",
        {"turn": turn, "feedback_error": error, "saved": not error},
    )


# --- API tokens ---------------------------------------------------------------------------------


@chat_required
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = TokenForm()
    return render(
        request,
        "chat/tokens.html",
        {
            "form": form,
            "new_token": new_token,
            "tokens": ApiToken.objects.filter(user=request.user),
            "api_url": request.build_absolute_uri("/api/v1/"),
        },
    )


@require_POST
@chat_required
def token_revoke(request: HttpRequest, token_id: UUID) -> HttpResponse:
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        return HttpResponse(status=404)
    services.api_token_revoke(token=token)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("chat:tokens")


# --- replay -------------------------------------------------------------------------------------
# A replay is an experiment now (the logged answers against one new arm), served by the
# experiments app above this one; the old addresses send there, and each replay kept its id.


replay_required = require_perm("replay")


@replay_required
def replays(request: HttpRequest) -> HttpResponse:
    """The old replay page: its filters carry over (307 keeps a form's POST a POST)."""
    target = reverse("experiments:replay_new")
    if request.META.get("QUERY_STRING"):
        target += "?" + request.META["QUERY_STRING"]
    return HttpResponseRedirect(target, status=307 if request.method == "POST" else 302)


@require_GET
@replay_required
def replay(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """An old replay's page: the experiment it became (the same id), side by side."""
    return HttpResponsePermanentRedirect(reverse("experiments:compare", kwargs={"pk": job_id}))


# --- the model registry (leads) ------------------------------------------------------------

models_required = require_perm("manage_releases")


@models_required
def model_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "chat/models.html", {"endpoints": selectors.model_endpoints(), "form": None}
    )


@models_required
def model_edit(request: HttpRequest, endpoint_id: UUID | None = None) -> HttpResponse:
    endpoint = selectors.model_endpoint(endpoint_id) if endpoint_id else ModelEndpoint()
    form = ModelEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        saved = services.model_endpoint_save(endpoint=form.save(commit=False), user=request.user)
        messages.success(request, f"Saved {saved.name}.")
        return redirect("chat:models")
    status = 400 if form.is_bound else 200
    context = {"endpoints": selectors.model_endpoints(), "form": form, "endpoint": endpoint}
    return render(request, "chat/models.html", context, status=status)
