from __future__ import annotations

import logging
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotations.selectors import review_ids_visible_to, scores_hidden_for
from chat.forms import TopicForm
from chat.models import Turn
from chat.selectors import turn_visible_to
from chat.services import turn_set_topic
from evaluation import selectors as evaluation_selectors
from graph import analytics as queries
from graph import charts
from graph.lineage import elements, lineage
from outbox.selectors import quarantined
from outbox.services import outbox_retry
from reviewhub.graphdb import configure
from reviewhub.roles import expert_required, is_expert, is_lead, lead_required, require_perm

log = logging.getLogger(__name__)


def _turn_for_user(request: HttpRequest, turn_id: UUID) -> Turn:
    """The turn if the user may see its lineage (owner, experts, leads); else 404."""
    return turn_visible_to(request.user, turn_id, Turn.objects.select_related("topic"))


def _read_lineage(request: HttpRequest, turn: Turn) -> tuple[dict | None, str]:
    try:
        configure()
        data = lineage(str(turn.pk))
    except Exception:  # the graph is a projection: its outage must not break the page
        log.warning("graph unavailable for lineage", exc_info=True)
        return None, "The graph is not reachable right now; try again in a moment."
    if data is not None:
        _blind(request.user, turn, data)
    return data, ""


def _blind(user, turn: Turn, data: dict) -> None:
    """Blind review (annotations.selectors): drop the reviews this user may not see yet,
    and evaluator scores from end users (and from a reviewer before their own review)."""
    visible = review_ids_visible_to(user, turn.pk) or set()
    shown = [r for r in data["reviews"] if r["review"].get("uid") in visible]
    data["hidden_reviews"] = len(data["reviews"]) - len(shown)
    data["reviews"] = shown
    if scores_hidden_for(user, turn.pk):
        data["scores"] = []
        # nor the replays' scores, nor which experiments asked (their set-ups are internal)
        data["arms"] = []
        for replay in data["replays"]:
            replay["scores"], replay["arms"] = [], []


def lineage_page(request: HttpRequest, turn_id: UUID) -> HttpResponse:
    turn = _turn_for_user(request, turn_id)
    data, error = _read_lineage(request, turn)
    return render(
        request,
        "graph/lineage.html",
        {
            "turn": turn,
            "data": data,
            "error": error,
            "elements": elements(data) if data else [],
            "topic_form": (
                TopicForm(initial={"topic": turn.topic_id}) if is_expert(request.user) else None
            ),
        },
    )


def lineage_json(request: HttpRequest, turn_id: UUID) -> JsonResponse:
    turn = _turn_for_user(request, turn_id)
    data, error = _read_lineage(request, turn)
    if error:
        return JsonResponse({"error": error}, status=503)
    if data is None:
        return JsonResponse({"error": "not in the graph yet", "turn": str(turn.pk)}, status=404)
    return JsonResponse({"turn": str(turn.pk), "lineage": data, "elements": elements(data)})


@require_POST
@expert_required
def turn_topic(request: HttpRequest, turn_id: UUID) -> HttpResponse:
    turn = _turn_for_user(request, turn_id)
    form = TopicForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a topic from the list.")
    else:
        turn_set_topic(turn=turn, topic=form.cleaned_data["topic"])
        messages.success(request, "Topic saved; the graph will show it in a moment.")
    return redirect("graph:lineage", turn_id=turn.pk)


@require_perm("view_analytics")
def analytics(request: HttpRequest) -> HttpResponse:
    try:
        configure()
        over_time = queries.ratings_over_time()
        by_topic = queries.ratings_by_topic()
        context = {
            "totals": queries.totals(),
            "over_time": over_time,
            "over_time_chart": charts.stacked_columns(over_time, "day"),
            "by_topic": by_topic,
            "by_topic_chart": charts.stacked_bars(by_topic, "topic"),
            "stayed_negative": queries.negative_after_grounded_replay(),
            "low_score": queries.LOW_SCORE,
            "bad_chunks": queries.chunks_linked_to_bad_answers(),
            "bad_documents": queries.documents_linked_to_bad_answers(),
            "unused_documents": queries.documents_never_used(),
            "low_context": queries.low_context_questions(),
            "recent": queries.recent_answers(),
        }
    except Exception:
        log.warning("graph unavailable for analytics", exc_info=True)
        context = {"error": "The graph is not reachable right now; try again in a moment."}
    # read from SQL, so shown during an outage too
    context["quarantined"] = list(quarantined()[:50]) if is_lead(request.user) else []
    # From the system of record, so they show while the graph is down too.
    context["scores_by_topic"] = evaluation_selectors.scores_by_topic()
    scores_over_time = evaluation_selectors.scores_over_time()
    context["scores_over_time"] = scores_over_time
    context["score_lines"] = charts.score_lines(scores_over_time)
    return render(request, "graph/analytics.html", context)


@require_POST
@lead_required
def outbox_retry_view(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("entry") if v.isdigit()]
    released = outbox_retry(ids=ids)
    if released:
        messages.success(request, f"{released} change(s) sent to the graph again.")
    else:
        messages.error(request, "Nothing to retry: those changes are no longer quarantined.")
    return redirect("graph:analytics")
