from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from annotations import pairwise, selectors, services
from annotations.forms import (
    AdjudicationForm,
    CriterionFormSet,
    GuidelineForm,
    QueueFilterForm,
    ReviewForm,
    RubricForm,
    criterion_initial,
)
from annotations.models import Example, Guideline, QueueItem
from annotations.rendering import diff_stats, word_diff
from reviewhub.rendering import render_markdown
from reviewhub.roles import expert_required, is_lead, lead_required, require_perm

FILTERS_KEY = "review_filters"
SKIPPED_KEY, SKIPPED_MAX = "review_skipped", 50
_ZERO = uuid.UUID(int=0)
FILTER_FIELDS = ("date_from", "date_to", "model", "grounded", "topic", "feedback")


def _filter_form(request: HttpRequest, data=None) -> QueueFilterForm:
    if data is None:
        data = request.session.get(FILTERS_KEY, {})
    form = QueueFilterForm({k: data.get(k, "") for k in FILTER_FIELDS})
    form.is_valid()
    return form


@expert_required
def queue_home(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request, request.GET if request.GET else None)
    held = selectors.held_item(expert=request.user, now=timezone.now())
    return render(
        request,
        "annotations/home.html",
        {
            "filter_form": form,
            "held": held,
            "depth": selectors.queue_depth(),
            "my_reviews": request.user.reviews.count(),
            "pairs_waiting": pairwise.pairs_waiting(),
            "held_pair": pairwise.held_pair(expert=request.user, now=timezone.now()),
        },
    )


@expert_required
@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    if any(k in request.POST for k in FILTER_FIELDS):
        request.session[FILTERS_KEY] = {k: request.POST.get(k, "") for k in FILTER_FIELDS}
    form = _filter_form(request)
    if form.errors:
        messages.error(request, "Fix the filters first.")
        return redirect("annotations:home")
    item = services.queue_claim_next(
        expert=request.user, filters=form.filters(), exclude=request.session.get(SKIPPED_KEY, [])
    )
    if item is None:
        messages.info(request, "Nothing left to review with these filters. Well done!")
        return redirect("annotations:home")
    return redirect("annotations:item", item_id=item.pk)


def _rubric_or_none():
    return selectors.active_rubric()


def _item_page(
    request: HttpRequest, item: QueueItem, form: ReviewForm | None, status: int = 200
) -> HttpResponse:
    rubric = form.rubric if form else _rubric_or_none()
    can_review = not selectors.review_blocker(item, request.user)
    if can_review and form is None and rubric is not None:
        form = ReviewForm(rubric=rubric, initial={"corrected_answer": item.turn.answer})
    screen = selectors.review_screen(item=item, user=request.user)
    example = selectors.example_of(item) if item.state != QueueItem.State.PENDING else None
    original = item.turn.answer
    corrected = (form["corrected_answer"].value() if form is not None else "") or original
    diff = word_diff(original, corrected)
    return render(
        request,
        "annotations/item.html",
        {
            **screen,
            "item": item,
            "form": form,
            "rubric": rubric,
            "can_review": can_review,
            "answer_html": render_markdown(original),
            "guidelines": [(g, render_markdown(g.body)) for g in selectors.active_guidelines()],
            "diff": diff,
            "diff_stats": diff_stats(diff),
            "example": example,
            "now": timezone.now(),
            "can_withdraw": bool(
                example
                and example.status == Example.Status.APPROVED
                and (is_lead(request.user) or example.approved_by_id == request.user.pk)
            ),
        },
        status=status,
    )


@expert_required
def item_detail(request: HttpRequest, item_id) -> HttpResponse:
    item = selectors.item_for_user(request.user, item_id)
    return _item_page(request, item, None)


@expert_required
@require_POST
def item_submit(request: HttpRequest, item_id) -> HttpResponse:
    item = selectors.item_for_user(request.user, item_id)
    rubric = _rubric_or_none()
    if rubric is None:
        messages.error(request, "No active rubric: ask a lead to configure one.")
        return redirect("annotations:item", item_id=item.pk)
    form = ReviewForm(request.POST, rubric=rubric)
    if not form.is_valid():
        return _item_page(request, item, form, status=400)
    try:
        review = services.review_submit(
            item_id=item.pk,
            reviewer=request.user,
            scores=form.scores(),
            tags=form.cleaned_data["tags"],
            verdict=form.cleaned_data["verdict"],
            notes=form.cleaned_data["notes"],
            rubric=rubric,
            corrected_answer=form.cleaned_data["corrected_answer"],
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("annotations:home")
    except ValidationError as exc:
        for field, errs in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errs)
        return _item_page(request, item, form, status=400)
    messages.success(
        request, f"Saved: {review.get_verdict_display().lower()}. Press n for the next item."
    )
    return redirect("annotations:item", item_id=item.pk)


@expert_required
@require_POST
def item_skip(request: HttpRequest, item_id) -> HttpResponse:
    # Releases only what this user holds, so no lookup helper is needed (nothing leaks).
    if not services.queue_release(item_id=item_id, expert=request.user):
        messages.info(request, "You were no longer holding that item.")
    if request.POST.get("then") == "queue":  # "put down": back to the queue, claim nothing
        messages.info(request, "Put down: the item is back in the queue for anyone.")
        return redirect("annotations:home")
    # Skip means "not this one (for me, for now)": remember it for this session.
    skipped = [str(item_id), *request.session.get(SKIPPED_KEY, [])][:SKIPPED_MAX]
    request.session[SKIPPED_KEY] = skipped
    nxt = services.queue_claim_next(
        expert=request.user, filters=_filter_form(request).filters(), exclude=skipped
    )
    if nxt is None:
        messages.info(request, "Skipped. Nothing else to review right now.")
        return redirect("annotations:home")
    return redirect("annotations:item", item_id=nxt.pk)


@expert_required
@require_POST
def item_diff(request: HttpRequest, item_id) -> HttpResponse:
    item = selectors.item_for_user(request.user, item_id)
    parts = word_diff(item.turn.answer, request.POST.get("corrected_answer", ""))
    return render(
        request, "annotations/item.html#diff", {"diff": parts, "diff_stats": diff_stats(parts)}
    )


@lead_required
def queue_list(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request, request.GET)
    state = request.GET.get("state") or QueueItem.State.PENDING
    if state not in QueueItem.State.values:
        state = QueueItem.State.PENDING
    rows, next_cursor = selectors.queue_page(
        state=state,
        filters=form.filters(),
        cursor=request.GET.get("after", ""),
    )
    query = request.GET.copy()
    query.pop("after", None)
    now = timezone.now()
    depth = selectors.queue_depth()
    template = "annotations/queue_list.html"
    if request.htmx:
        template += "#rows"
    return render(
        request,
        template,
        {
            "rows": rows,
            "next_cursor": next_cursor,
            "state": state,
            "filter_form": form,
            "states": QueueItem.State.choices,
            "depth": depth,
            "leases": selectors.live_leases(now=now),
            "base_query": query.urlencode(),
            "now": now,
            # One reverse() instead of one per row; the item URL is this prefix + id + "/".
            "item_base": reverse("annotations:item", args=[_ZERO]).removesuffix(f"{_ZERO}/"),
        },
    )


@lead_required
def agreement_dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "annotations/agreement.html",
        {
            "agreement": selectors.agreement(),
            "disputed": selectors.disputed_items(limit=20),
            "depth": selectors.queue_depth(),
        },
    )


@require_perm("adjudicate")
def adjudication_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "annotations/adjudication_list.html", {"items": selectors.disputed_items()}
    )


@require_perm("adjudicate")
def adjudicate(request: HttpRequest, item_id) -> HttpResponse:
    item = get_object_or_404(
        QueueItem.objects.select_related("turn"), pk=item_id, state=QueueItem.State.DISPUTED
    )
    reviews = list(item.reviews.select_related("reviewer"))
    suggested = next((r.corrected_answer for r in reversed(reviews) if r.corrected_answer), "")
    form = AdjudicationForm(
        request.POST or None, initial={"corrected_answer": suggested or item.turn.answer}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.item_adjudicate(item_id=item.pk, lead=request.user, **form.cleaned_data)
        except services.ReviewError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Decision recorded.")
            return redirect("annotations:adjudication")
    screen = selectors.review_screen(item=item, user=request.user)
    return render(
        request,
        "annotations/adjudicate.html",
        {
            **screen,
            "item": item,
            "form": form,
            "answer_html": render_markdown(item.turn.answer),
            "reasons": selectors.disagreement_reasons(reviews),
        },
        status=400 if form.errors else 200,
    )


@expert_required
@require_POST
def example_withdraw(request: HttpRequest, example_id) -> HttpResponse:
    example = get_object_or_404(Example, pk=example_id)
    if not (is_lead(request.user) or example.approved_by_id == request.user.pk):
        raise Http404
    item = QueueItem.objects.filter(turn_id=example.turn_id).first()
    try:
        services.example_withdraw(example_id=example.pk, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Approval withdrawn.")
    if item is None:
        return redirect("annotations:home")
    return redirect("annotations:item", item_id=item.pk)


# --- the rubric and guidelines (leads) ------------------------------------------------


@lead_required
@require_http_methods(["GET", "POST"])
def rubric_edit(request: HttpRequest) -> HttpResponse:
    """The rubric reviewers use: edit it (a new version when reviews were made with it)."""
    current = selectors.active_rubric()
    data = request.POST if request.method == "POST" else None
    initial = {}
    if current:
        initial = {
            "description": current.description,
            "tags": " ".join(t.name for t in current.tags.all()),
        }
    form = RubricForm(data, initial=initial, creating=current is None)
    criteria = CriterionFormSet(data, initial=criterion_initial(current), prefix="criteria")
    if data is not None and form.is_valid() and criteria.is_valid():
        try:
            saved = services.rubric_save(
                actor=request.user,
                rubric=current,
                name=form.cleaned_data.get("name") or (current.name if current else ""),
                description=form.cleaned_data["description"],
                criteria=criteria.criteria(),
                tags=form.cleaned_data["tags"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _saved_message(current, saved))
            return redirect("annotations:rubric")
    context = {
        "form": form,
        "criteria": criteria,
        "current": current,
        "versions": selectors.rubric_versions().select_related("created_by"),
        "guidelines": selectors.all_guidelines(),
    }
    return render(request, "annotations/rubric.html", context, status=400 if data else 200)


def _saved_message(before, after) -> str:
    if before is None:
        return f"Rubric “{after.name}” created; reviewers use it from now on."
    if before.pk == after.pk:
        return "Rubric saved (no review had been made with this version, so it changed in place)."
    return (
        f"Saved as version {after.version}; reviewers use it from now on. Reviews made with "
        f"version {before.version} keep it."
    )


@lead_required
@require_http_methods(["GET", "POST"])
def guideline_edit(request: HttpRequest, guideline_id: int | None = None) -> HttpResponse:
    guideline = get_object_or_404(Guideline, pk=guideline_id) if guideline_id else None
    initial = (
        {f: getattr(guideline, f) for f in ("title", "body", "position", "is_active")}
        if guideline
        else {}
    )
    form = GuidelineForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.guideline_save(guideline=guideline, **form.cleaned_data)
        messages.success(request, "Guideline saved; reviewers see it beside the review screen.")
        return redirect("annotations:rubric")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "annotations/guideline.html", {"form": form, "guideline": guideline}, status=status
    )


# --- blind pairwise comparisons -----------------------------------------------------------------

PAIRS_SKIPPED_KEY = "pairwise_skipped"


def _next_pair(request: HttpRequest, *, done: str = "") -> HttpResponse:
    item = pairwise.pairwise_claim_next(
        expert=request.user, exclude=request.session.get(PAIRS_SKIPPED_KEY, [])
    )
    if item is None:
        messages.info(request, f"{done} No pairs left to compare. Well done!".strip())
        return redirect("annotations:home")
    if done:
        messages.success(request, done)
    return redirect("annotations:pair", item_id=item.pk)


@expert_required
@require_POST
def pair_next(request: HttpRequest) -> HttpResponse:
    return _next_pair(request)


@expert_required
def pair_detail(request: HttpRequest, item_id) -> HttpResponse:
    return _pair_page(request, pairwise.pair_for_user(request.user, item_id))


def _pair_page(request: HttpRequest, item, *, error: str = "", status: int = 200) -> HttpResponse:
    a, b = item.shown  # the sides as drawn for this item; which arm is which is never shown
    return render(
        request,
        "annotations/pair.html",
        {
            "item": item,
            "a_html": render_markdown(a.answer),
            "b_html": render_markdown(b.answer),
            "can_judge": not item.verdict and item.holder_id == request.user.pk,
            "error": error,
            "now": timezone.now(),
        },
        status=status,
    )


@expert_required
@require_POST
def pair_submit(request: HttpRequest, item_id) -> HttpResponse:
    item = pairwise.pair_for_user(request.user, item_id)
    try:
        judged = pairwise.pairwise_judge(
            item_id=item.pk, expert=request.user, verdict=request.POST.get("verdict", "")
        )
    except pairwise.PairwiseError as exc:
        item.refresh_from_db()
        return _pair_page(request, item, error=str(exc), status=400)
    return _next_pair(request, done=f"Saved: {judged.get_verdict_display().lower()}.")


@expert_required
@require_POST
def pair_skip(request: HttpRequest, item_id) -> HttpResponse:
    # Releases only what this user holds, so no lookup helper is needed (nothing leaks).
    pairwise.pairwise_release(item_id=item_id, expert=request.user)
    if request.POST.get("then") == "queue":
        messages.info(request, "Put down: the pair is back in the queue for anyone.")
        return redirect("annotations:home")
    skipped = [str(item_id), *request.session.get(PAIRS_SKIPPED_KEY, [])][:SKIPPED_MAX]
    request.session[PAIRS_SKIPPED_KEY] = skipped
    return _next_pair(request)
