from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from reviewhub.roles import expert_required, is_lead, lead_required
from topics import charts, selectors, services
from topics.forms import MergeForm, RenameForm, SplitForm


@expert_required
def topic_list(request: HttpRequest) -> HttpResponse:
    rows = selectors.topics_overview()
    run = selectors.latest_run()
    context = {
        "rows": rows,
        "map": charts.topic_map(rows),
        "any_grounding": any(r["grounding"] for r in rows),
        "gaps": selectors.grounding_gaps(),
        "run": run,
        "can_run": is_lead(request.user),
    }
    template = "topics/list.html"
    if request.htmx and request.GET.get("part") == "run":
        template += "#run"
    return render(request, template, context)


@expert_required
def topic_detail(request: HttpRequest, topic_id: UUID) -> HttpResponse:
    topic = selectors.topic_for_expert(topic_id)
    questions = selectors.topic_questions(topic)
    return render(
        request,
        "topics/detail.html",
        {
            "topic": topic,
            "questions": questions,
            "passages": selectors.topic_passages(topic),
            "criteria": selectors.topic_criteria(topic),
            "grounding": selectors.grounding_effect(topic.pk).get(topic.pk),
            "rename_form": RenameForm(initial={"name": topic.name}),
            "merge_form": MergeForm(topic=topic),
            "split_form": SplitForm(questions=questions),
        },
    )


@require_POST
@lead_required
def discovery_start(request: HttpRequest) -> HttpResponse:
    run = services.discovery_run_create(user=request.user)
    messages.success(request, f"Topic discovery is {run.get_status_display().lower()}.")
    return redirect("topics:list")


@require_POST
@expert_required
def topic_rename(request: HttpRequest, topic_id: UUID) -> HttpResponse:
    topic = selectors.topic_for_expert(topic_id)
    form = RenameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the topic a name of up to 120 characters.")
        return redirect("topics:detail", topic_id=topic.pk)
    return _apply(
        request,
        topic,
        lambda: services.topic_rename(topic=topic, name=form.cleaned_data["name"]),
        "Renamed.",
    )


@require_POST
@expert_required
def topic_pin(request: HttpRequest, topic_id: UUID) -> HttpResponse:
    topic = selectors.topic_for_expert(topic_id)
    pinned = request.POST.get("pinned") == "1"
    services.topic_pin(topic=topic, pinned=pinned)
    messages.success(request, "Pinned: discovery keeps it." if pinned else "Unpinned.")
    return redirect("topics:detail", topic_id=topic.pk)


@require_POST
@expert_required
def topic_merge(request: HttpRequest, topic_id: UUID) -> HttpResponse:
    topic = selectors.topic_for_expert(topic_id)
    form = MergeForm(request.POST, topic=topic)
    if not form.is_valid():
        messages.error(request, "Choose the topic to merge into.")
        return redirect("topics:detail", topic_id=topic.pk)
    target = form.cleaned_data["into"]
    services.topic_merge(source=topic, target=target)
    messages.success(request, f"Merged into “{target.name}”.")
    return redirect("topics:detail", topic_id=target.pk)


@require_POST
@expert_required
def topic_split(request: HttpRequest, topic_id: UUID) -> HttpResponse:
    topic = selectors.topic_for_expert(topic_id)
    form = SplitForm(request.POST, questions=selectors.topic_questions(topic, limit=10_000))
    if not form.is_valid():
        messages.error(request, "Name the new topic and choose the questions to move.")
        return redirect("topics:detail", topic_id=topic.pk)
    d = form.cleaned_data
    try:
        new = services.topic_split(
            topic=topic, turn_ids=[UUID(t) for t in d["turns"]], name=d["name"]
        )
    except services.TopicError as exc:
        messages.error(request, str(exc))
        return redirect("topics:detail", topic_id=topic.pk)
    messages.success(request, f"Split off “{new.name}”.")
    return redirect("topics:detail", topic_id=new.pk)


def _apply(request, topic, action, success: str) -> HttpResponse:
    try:
        action()
        messages.success(request, success)
    except services.TopicError as exc:
        messages.error(request, str(exc))
    return redirect("topics:detail", topic_id=topic.pk)
