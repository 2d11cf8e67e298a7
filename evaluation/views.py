"""Evaluator pages. Leads manage evaluators and see alignment; everyone else gets 403.
(Experts see scores on the review screen; end users never see judge scores.)"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from evaluation import judge, selectors, services
from evaluation.forms import BackfillForm, EvaluatorSettingsForm, JudgeForm, criteria_text
from evaluation.models import Evaluator
from reviewhub.roles import lead_required


@lead_required
@require_GET
def evaluator_list(request: HttpRequest) -> HttpResponse:
    services.builtin_evaluators_ensure()
    evaluators = list(selectors.evaluators_for_list())
    counts = selectors.score_counts([v.id for e in evaluators for v in e.versions.all()])
    for e in evaluators:
        e.n_scores = sum(counts.get(v.id, {}).get("n", 0) for v in e.versions.all())
    return render(request, "evaluation/list.html", {"evaluators": evaluators})


@lead_required
def evaluator_new(request: HttpRequest) -> HttpResponse:
    form = JudgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            evaluator = services.evaluator_create(
                name=d["name"],
                created_by=request.user,
                criteria=d["criteria"],
                prompt_template=d["prompt_template"],
                model=d["model"],
                **form.settings(),
            )
        except services.EvaluationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created {evaluator.name}.")
            return redirect("evaluation:detail", pk=evaluator.id)
    if request.method == "GET":
        form = JudgeForm(
            initial={
                "criteria": criteria_text(selectors.rubric_criteria() or judge.DEFAULT_CRITERIA),
                "prompt_template": judge.DEFAULT_PROMPT,
            }
        )
    status = 400 if request.method == "POST" else 200
    return render(request, "evaluation/form.html", {"form": form}, status=status)


def _edit_form(evaluator: Evaluator, data=None):
    current = evaluator.current
    initial = {
        "description": evaluator.description,
        "is_active": evaluator.is_active,
        "sampling_rate": evaluator.sampling_rate,
        "filter_sources": evaluator.filter_sources,
        "filter_models": ", ".join(evaluator.filter_models),
        "filter_topics": evaluator.filter_topics,
        "hourly_cap": evaluator.hourly_cap,
    }
    if evaluator.kind == Evaluator.Kind.LLM_JUDGE:
        initial |= {
            "name": evaluator.name,
            "criteria": criteria_text(current.criteria),
            "prompt_template": current.prompt_template,
            "model": current.model,
        }
        return JudgeForm(data, initial=initial, evaluator=evaluator)
    return EvaluatorSettingsForm(data, initial=initial)


@lead_required
def evaluator_detail(request: HttpRequest, pk) -> HttpResponse:
    evaluator = selectors.evaluator_get(pk)
    form = _edit_form(evaluator, request.POST or None)
    if request.method == "POST" and form.is_valid():
        versioned = {}
        if isinstance(form, JudgeForm):
            d = form.cleaned_data
            versioned = {
                "criteria": d["criteria"],
                "prompt_template": d["prompt_template"],
                "model": d["model"],
            }
        before = evaluator.current.version
        try:
            version = services.evaluator_update(
                evaluator=evaluator, actor=request.user, **versioned, **form.settings()
            )
        except services.EvaluationError as exc:
            form.add_error(None, str(exc))
        else:
            note = f" — version {version.version} now scores" if version.version != before else ""
            messages.success(request, f"Saved {evaluator.name}{note}.")
            return redirect("evaluation:detail", pk=evaluator.id)
    versions = list(evaluator.versions.all())
    counts = selectors.score_counts([v.id for v in versions])
    for v in versions:
        v.n_scores = counts.get(v.id, {}).get("n", 0)
        v.n_errors = counts.get(v.id, {}).get("errors", 0)
    context = {
        "evaluator": evaluator,
        "form": form,
        "versions": versions,
        "backfill_form": BackfillForm(),
        "backfills": [j for v in versions for j in v.backfills.all()[:5]],
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "evaluation/detail.html", context, status=status)


@lead_required
@require_POST
def evaluator_backfill(request: HttpRequest, pk) -> HttpResponse:
    evaluator = selectors.evaluator_get(pk)
    form = BackfillForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a valid date.")
        return redirect("evaluation:detail", pk=evaluator.id)
    try:
        job = services.backfill_job_create(
            evaluator=evaluator,
            actor=request.user,
            since=form.cleaned_data["since"],
            rescore=form.cleaned_data["rescore"],
        )
    except services.EvaluationError as exc:
        messages.error(request, str(exc))
        return redirect("evaluation:detail", pk=evaluator.id)
    messages.success(request, f"Scoring {job.total} turns with {evaluator.name}.")
    return redirect("evaluation:backfill", pk=job.id)


@lead_required
@require_GET
def backfill_detail(request: HttpRequest, pk) -> HttpResponse:
    job = selectors.backfill_get(pk)
    template = "evaluation/backfill.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, {"job": job})


@lead_required
@require_GET
def alignment(request: HttpRequest) -> HttpResponse:
    return render(request, "evaluation/alignment.html", {"rows": selectors.alignment()})
