"""GET /api/v1/interactions — search and list logged interactions (the explorer's API).

Authentication as the ingestion API: `Authorization: Bearer <token>`. End users' tokens
see their own interactions; experts' and leads' see everyone's.

Query parameters (all optional):
- `q` — full-text search over question, answer and feedback comments: every word must
  appear (stemmed, case-insensitive), `"a phrase"`, `-word` excludes, `or` between words;
- `date_from`, `date_to` — YYYY-MM-DD, inclusive, in the server's time zone;
- `source` — chat | api | replay;
- `model` — the model name as logged;
- `rating` — up | down | none (no feedback);
- `topic` — a topic id;
- `grounded` — yes | no;
- `review` — pending | disputed | approved | rejected | withdrawn | excluded | none
  (not in the review queue);
- `user` — the username who asked (experts and leads only);
- `score` — a score expression such as `groundedness >= 0.8` (needs the evaluation app);
- `cursor` — `next_cursor` of the previous page; `limit` — page size, 1–200 (default 50).

Response: `{"results": [...], "next_cursor": "…" | null, "count": n, "count_exact": bool}`,
newest first. `count` is exact up to 1,000; beyond that it is 1,000 with
`count_exact: false`. It is counted on the first page; later pages repeat it.
Bad parameters: 400 `{"errors": {"<param>": ["message"]}}`.
Other methods on this URL (POST: ingestion) are served by chat's API.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve
from django.views.decorators.csrf import csrf_exempt

from chat import services as chat_services
from reviewhub.roles import has_perm, is_expert
from workspace import selectors
from workspace.forms import ExplorerForm

DEFAULT_LIMIT = 50


@login_not_required
@csrf_exempt
def interactions(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        # Ingestion lives in chat's API at the same URL; hand the request on unchanged.
        chat_view = resolve("/interactions", urlconf="chat.api_urls").func
        return chat_view(request)
    user = _token_user(request)
    if user is None or not (has_perm(user, "use_chat") or is_expert(user)):
        response = JsonResponse(
            {
                "errors": {
                    "authorization": ["Send a valid API token: Authorization: Bearer <token>."]
                }
            },
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="reviewhub"'
        return response
    form = ExplorerForm(request.GET, viewer=user)
    errors = {} if form.is_valid() else {k: list(v) for k, v in form.errors.items()}
    limit = _limit(request.GET.get("limit"), errors)
    if "user" in request.GET and not is_expert(user):
        errors["user"] = ["Only experts and leads can filter by who asked."]
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    try:
        page = selectors.explorer_page(
            viewer=user, filters=form.filters(), cursor=request.GET.get("cursor", ""), size=limit
        )
    except ValidationError as exc:
        return JsonResponse({"errors": {"cursor": exc.messages}}, status=400)
    return JsonResponse(
        {
            "results": [_record(t) for t in page.rows],
            "next_cursor": page.next_cursor or None,
            "count": page.count,
            "count_exact": page.count_exact,
        }
    )


def _token_user(request: HttpRequest):
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return chat_services.api_token_user(raw.strip())


def _limit(raw: str | None, errors: dict) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= selectors.MAX_PAGE_SIZE:
        errors["limit"] = [f"Must be a whole number from 1 to {selectors.MAX_PAGE_SIZE}."]
        return DEFAULT_LIMIT
    return int(raw)


def _record(turn) -> dict:
    item = getattr(turn, "queue_item", None)
    return {
        "id": str(turn.id),
        "user": turn.user.username,
        "source": turn.source,
        "question": turn.question,
        "answer": turn.answer,
        "status": turn.status,
        "model": turn.model,
        "grounded": turn.grounded,
        "topic": turn.topic.name if turn.topic else None,
        "rating": turn.rating,
        "review_state": item.state if item else None,
        "created_at": turn.created_at.isoformat(),
    }
