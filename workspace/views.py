from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from annotations.selectors import item_ids_openable_by
from reviewhub.preferences import DEFAULTS, preferences, preferences_update
from reviewhub.roles import has_perm, is_expert, is_lead, lead_required
from workspace import selectors, services
from workspace.forms import BulkForm, ExplorerForm, SettingsForm, filter_query
from workspace.models import BulkJob


def _explorer_user(request: HttpRequest) -> None:
    """Anyone with a role: end users search their own turns, experts and leads everyone's."""
    if not (has_perm(request.user, "use_chat") or is_expert(request.user)):
        raise PermissionDenied


@require_GET
def explore(request: HttpRequest) -> HttpResponse:
    _explorer_user(request)
    form = ExplorerForm(request.GET or None, viewer=request.user)
    page, error = None, ""
    if not request.GET or form.is_valid():
        filters = form.filters() if request.GET else selectors.ExplorerFilters()
        try:
            page = selectors.explorer_page(
                viewer=request.user, filters=filters, cursor=request.GET.get("cursor", "")
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    given = filter_query(request.GET)
    query = urlencode(given)
    # (a turn outside the review queue, a failed call for one, has no item: hasattr is False)
    items = [t.queue_item.pk for t in page.rows if hasattr(t, "queue_item")] if page else []
    context = {
        "lineage_url": _url_around_id("graph:lineage"),
        "item_url": _url_around_id("annotations:item"),
        "openable_items": item_ids_openable_by(request.user, items) if items else set(),
        "form": form,
        "page": page,
        "error": error,
        "query": query,
        "filtered": bool(given),
        # the filters besides the search box that are set: the folded filters' summary says so
        "more_filters": len(given.keys() - {"q"}),
        "sees_everyone": is_expert(request.user),
        "can_bulk": is_expert(request.user),
    }
    template = "workspace/explore.html"
    if request.htmx and request.GET.get("cursor"):
        template += "#rows"
    return render(request, template, context)


_ID = uuid.UUID(int=0)


def _url_around_id(name: str) -> tuple[str, str]:
    """(before, after) the id in this URL: one reverse per page, not two per row (a quarter
    of the rows' rendering time at 50 rows)."""
    before, after = reverse(name, args=[_ID]).split(str(_ID))
    return before, after


@require_http_methods(["GET", "POST"])
def bulk(request: HttpRequest) -> HttpResponse:
    """GET: choose the action, then see the count it will touch; POST: confirmed, do it."""
    if not is_expert(request.user):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else request.GET
    filters_form = ExplorerForm(data, viewer=request.user)
    form = BulkForm(data if "action" in data else None, lead=is_lead(request.user))
    if not filters_form.is_valid():
        messages.error(request, "Fix the filters first.")
        return redirect(f"{reverse('workspace:explore')}?{urlencode(filter_query(data))}")
    stored = filter_query(data)
    context = {"form": form, "query": urlencode(stored), "stored": stored, "count": None}
    if form.is_bound and form.is_valid():
        action = form.cleaned_data["action"]
        if not services.bulk_allowed(request.user, action):
            raise PermissionDenied
        until = _until(data) or timezone.now()
        filters = filters_form.filters()
        counted = selectors.bulk_count(
            viewer=request.user, filters=selectors.replace_until(filters, until), action=action
        )
        refusal = services.bulk_refusal(action=action, count=counted)
        if request.method == "POST" and not refusal:
            job = services.bulk_job_create(
                actor=request.user,
                action=action,
                filters=stored,
                params=form.params(),
                until=until,
                confirmed_count=counted,
            )
            job = services.bulk_job_start(job=job)
            return redirect("workspace:bulk_job", job_id=job.pk)
        context |= {
            "count": counted,
            "until": until.isoformat(),
            "action_label": dict(BulkJob.Action.choices)[action],
            "params": form.params(),
            "large": counted > services.BULK_INLINE and action != BulkJob.Action.EXPERIMENT,
            "refusal": refusal,
        }
    status = 400 if request.method == "POST" else 200  # a POST that gets here did not run
    return render(request, "workspace/bulk.html", context, status=status)


def _until(data) -> datetime | None:
    value = parse_datetime(data.get("until", "") or "")
    return value if value and value <= timezone.now() else None


@require_GET
def bulk_job(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = BulkJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or not (job.created_by_id == request.user.pk or is_lead(request.user)):
        raise Http404
    template = "workspace/bulk_job.html"
    if request.htmx:
        template += "#progress"
    return render(
        request,
        template,
        {
            "job": job,
            "query": urlencode(job.filters),
            "running": job.status in ("queued", "running"),
        },
    )


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    _explorer_user(request)
    context = selectors.inbox(user=request.user)
    if is_lead(request.user):
        context["progress"] = selectors.reviewer_progress()
    return render(request, "workspace/inbox.html", context)


@lead_required
@require_http_methods(["GET", "POST"])
def team_settings(request: HttpRequest) -> HttpResponse:
    current = preferences()
    form = SettingsForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        preferences_update(actor=request.user, **form.cleaned_values())
        messages.success(request, "Settings saved; they apply from now on.")
        return redirect("workspace:settings")
    return render(
        request,
        "workspace/settings.html",
        {"form": form, "current": current, "defaults": DEFAULTS},
    )
