"""Chat reads. Lookups take the requesting user, so another user's id gives a 404."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from chat.models import Conversation, Feedback, IngestBatch, ModelEndpoint, Turn
from reviewhub.roles import is_expert


def conversations_for(user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).exclude(source=Conversation.Source.REPLAY)


def conversation_for_user(user, conversation_id) -> Conversation:
    conversation = conversations_for(user).filter(pk=conversation_id).first()
    if conversation is None:
        raise Http404("No such conversation")
    return conversation


def ingest_batch_for_user(user, batch_id) -> IngestBatch:
    """A batch the user's app sent to store later (its status, not its payload)."""
    batch = IngestBatch.objects.defer("payload").filter(pk=batch_id, user=user).first()
    if batch is None:
        raise Http404("No such batch")
    return batch


def turn_for_user(user, turn_id) -> Turn:
    """A turn the user may rate: one of their own (replays included, for their runner)."""
    turn = Turn.objects.select_related("conversation").filter(pk=turn_id, user=user).first()
    if turn is None:
        raise Http404("No such answer")
    return turn


def turns_visible_to(user) -> QuerySet[Turn]:
    """The one rule for who may see a turn (page, lineage, API): its owner, and experts
    and leads (who review everyone's). Anyone else gets the same 404 as for a missing id."""
    if is_expert(user):
        return Turn.objects.all()
    return Turn.objects.filter(user=user)


def turn_visible_to(user, turn_id, turns: QuerySet[Turn] | None = None) -> Turn:
    """A turn the user may see, from `turns` (for select_related/prefetch) or all turns."""
    turn = (turns if turns is not None else Turn.objects.all()).filter(pk=turn_id).first()
    if turn is None or not (turn.user_id == getattr(user, "pk", None) or is_expert(user)):
        raise Http404("No such answer")
    return turn


def with_details(turns: QuerySet[Turn], user) -> QuerySet[Turn]:
    """Turns with their sources and the viewer's own feedback, in a fixed number of queries."""
    return turns.select_related("prompt_template").prefetch_related(
        "contexts",
        Prefetch("feedback", queryset=Feedback.objects.filter(user=user), to_attr="my_feedback"),
    )


def conversation_turns(conversation: Conversation, user) -> list[Turn]:
    return list(with_details(conversation.turns.order_by("position"), user))


def replayable_turns(
    *,
    rating: str = "",
    grounded: str = "",
    model: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Turn]:
    """Logged questions (not replays themselves) matching the replay page's filters."""
    turns = Turn.objects.filter(status=Turn.Status.OK).exclude(source=Conversation.Source.REPLAY)
    if rating == "down":
        turns = turns.filter(feedback__rating=Feedback.Rating.DOWN)
    elif rating == "up":
        turns = turns.filter(feedback__rating=Feedback.Rating.UP)
    elif rating == "none":
        turns = turns.filter(feedback=None)
    if grounded in {"yes", "no"}:
        turns = turns.filter(grounded=grounded == "yes")
    if model:
        turns = turns.filter(model=model)
    if date_from:
        turns = turns.filter(created_at__date__gte=date_from)
    if date_to:
        turns = turns.filter(created_at__date__lte=date_to)
    return turns.distinct().order_by("-created_at")


def logged_models() -> list[str]:
    return sorted(set(Turn.objects.exclude(model="").values_list("model", flat=True).distinct()))


def model_endpoints() -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.select_related("created_by").order_by("name")


def model_endpoint(endpoint_id) -> ModelEndpoint:
    endpoint = ModelEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("No such model")
    return endpoint
