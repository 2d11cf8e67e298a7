"""Experiment pages: experts and leads run them; numbers link to the answers behind them."""

from __future__ import annotations

import csv
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors as chat_selectors
from chat.forms import ReplayForm
from experiments import charts, selectors, services
from experiments.forms import ExperimentForm, SendPairsForm
from experiments.models import Experiment
from reviewhub.roles import require_perm

experiments_required = require_perm("replay")


@experiments_required
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    items = selectors.experiments_for_list()[:100]
    return render(request, "experiments/list.html", {"experiments": items})


@experiments_required
def experiment_new(request: HttpRequest) -> HttpResponse:
    form = ExperimentForm(request.POST or None, initial=_initial(request))
    if request.method == "POST" and form.is_valid():
        try:
            experiment = _create(request, form)
        except services.ExperimentError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Running {experiment.name}.")
            return redirect("experiments:detail", pk=experiment.pk)
    status = 400 if form.is_bound else 200
    return render(request, "experiments/new.html", {"form": form}, status=status)


def _initial(request: HttpRequest) -> dict:
    initial = {"source": "filter", "arm0_kind": "logged", "arm1_kind": "model"}
    release_id = request.GET.get("release")
    if release_id:
        initial |= services.decision_preset(release_id)
    return initial


def _create(request: HttpRequest, form: ExperimentForm) -> Experiment:
    d = form.cleaned_data
    source = d["source"]
    if source == Experiment.Source.RELEASE:
        ids = services.questions_from_release(d["release"])
    elif source == Experiment.Source.LIST:
        ids = services.questions_from_list(d["question_ids"])
    else:
        ids = services.questions_from_filter(form.filters(), d["limit"])
    return services.experiment_create(
        user=request.user,
        name=d["name"],
        description=d["description"],
        arms=form.arm_specs(),
        question_ids=ids,
        source=source,
        filters=form.filters() if source == Experiment.Source.FILTER else {},
        release=d.get("release") if source == Experiment.Source.RELEASE else None,
        evaluators=d["evaluators"] or None,
    )


@experiments_required
@require_GET
def experiment_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    if request.htmx and request.GET.get("progress"):
        response = render(request, "experiments/detail.html#progress", {"e": experiment})
        if experiment.finished:
            response["HX-Refresh"] = "true"
        return response
    result = selectors.results_for_page(experiment)
    charts_by_criterion = [
        (c, charts.interval_rows(result["summary"], c)) for c in ["quality", *result["criteria"]]
    ]
    context = {
        "e": experiment,
        "r": result,
        "interval_charts": charts_by_criterion,
        "outcomes": charts.stacked_outcomes(result["pairwise"]),
        "send_form": SendPairsForm(arms=experiment.arms.all()) if experiment.finished else None,
    }
    return render(request, "experiments/detail.html", context)


@experiments_required
@require_GET
def experiment_answers(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    arms, rows, criteria = selectors.answers(experiment)
    arm, topic = request.GET.get("arm", ""), request.GET.get("topic", "")
    if arm.isdigit():
        rows = [r for r in rows if r.arm == int(arm)]
    if topic:
        rows = [r for r in rows if topic in r.topics]
    context = {
        "e": experiment,
        "arms": {a.position: a for a in arms},
        "rows": rows[:500],
        "total": len(rows),
        "criteria": criteria,
        "arm": arm,
        "topic": topic,
    }
    return render(request, "experiments/answers.html", context)


@experiments_required
@require_POST
def experiment_cancel(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    if services.experiment_cancel(experiment=experiment):
        messages.info(request, "Cancelling: answers in flight finish, nothing more is asked.")
    return redirect("experiments:detail", pk=experiment.pk)


@experiments_required
@require_POST
def experiment_recompute(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    if experiment.finished:
        services.experiment_results_keep(experiment=experiment)
        messages.success(request, "Recomputed with the latest scores.")
    return redirect("experiments:detail", pk=experiment.pk)


@experiments_required
@require_POST
def experiment_send_pairs(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    form = SendPairsForm(request.POST, arms=experiment.arms.all())
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("experiments:detail", pk=experiment.pk)
    try:
        sent = services.experiment_send_pairs(
            experiment=experiment,
            arm_position=form.cleaned_data["arm"],
            limit=form.cleaned_data["limit"],
        )
    except services.ExperimentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{sent} pair{'s' if sent != 1 else ''} sent to the experts.")
    return redirect("experiments:detail", pk=experiment.pk)


@experiments_required
@require_GET
def experiment_export(request: HttpRequest, pk: UUID) -> HttpResponse:
    experiment = selectors.experiment_get(pk)
    arms, rows, criteria = selectors.answers(experiment)
    labels = {a.position: a.label for a in arms}
    if request.GET.get("format") == "json":
        result = selectors.results_for_page(experiment)
        body = {
            "experiment": {"id": str(experiment.pk), "name": experiment.name},
            "question_hash": experiment.question_hash,
            "summary": [
                {"arm": s["arm"]["label"], "n": s["n"], "errors": s["errors"], **s["cells"]}
                for s in result["summary"]
            ],
            "pairwise": [  # the judge's counts, and the experts' blind preferences if any
                {k: v for k, v in p.items() if k != "arm"} | {"arm": p["arm"]["label"]}
                for p in result["pairwise"]
            ],
            "answers": [_row(r, labels, criteria) for r in rows],
        }
        response = JsonResponse(body, json_dumps_params={"indent": 1})
        response["Content-Disposition"] = f'attachment; filename="experiment-{pk}.json"'
        return response
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="experiment-{pk}.csv"'
    writer = csv.DictWriter(
        response,
        fieldnames=[
            "question_id",
            "question",
            "topic",
            "arm",
            "answer_id",
            "status",
            "quality",
            *criteria,
        ],
    )
    writer.writeheader()
    for r in rows:
        writer.writerow(_row(r, labels, criteria))
    return response


def _row(r: selectors.Answer, labels: dict, criteria: list[str]) -> dict:
    return {
        "question_id": r.question_id,
        "question": _csv_safe(r.question),
        "topic": r.topic,
        "arm": labels[r.arm],
        "answer_id": r.turn_id,
        "status": r.status,
        "quality": r.quality,
        **{c: r.scores.get(c) for c in criteria},
    }


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise them."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# --- replays: an experiment of the logged answers against one new arm -------------------------


@experiments_required
def replay_new(request: HttpRequest) -> HttpResponse:
    """Pick logged questions by filter, preview them, replay them with other settings."""
    form = ReplayForm(request.POST or request.GET or None)
    matching = None
    if form.is_bound and form.is_valid():
        matching = chat_selectors.replayable_turns(**form.filters())
        if request.method == "POST":
            d = form.cleaned_data
            try:
                experiment = services.replay_create(
                    user=request.user,
                    question_ids=[
                        str(pk) for pk in matching.values_list("id", flat=True)[: d["limit"]]
                    ],
                    model_key=d["model"],
                    grounded=d["grounded"],
                    template=d["prompt_template"],
                    filters=form.filters_json(),
                )
            except services.ExperimentError as exc:
                messages.error(request, str(exc))
            else:
                return redirect("experiments:compare", pk=experiment.pk)
    count = matching.count() if matching is not None else None
    context = {
        "form": form,
        "recent": selectors.experiments_for_list()[:20],
        "matching_count": count,
        # the button says how many will really be replayed: the limit caps the matches
        "replay_count": min(count, form.cleaned_data["limit"]) if count else 0,
        "preview": list(matching[:10]) if matching is not None else [],
    }
    return render(request, "experiments/replay_new.html", context, status=_status(request, form))


def _status(request: HttpRequest, form) -> int:
    return 400 if request.method == "POST" and form.errors else 200


@experiments_required
@require_GET
def experiment_compare(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The answers side by side: the baseline against one arm (a replay's page)."""
    experiment = selectors.experiment_get(pk)
    arms = list(experiment.arms.select_related("prompt_template").order_by("position"))
    position = request.GET.get("arm", "1")
    arm = next(
        (a for a in arms[1:] if str(a.position) == position), arms[1] if len(arms) > 1 else None
    )
    if arm is None:
        raise Http404("This experiment has no arm to compare")
    context = {"e": experiment, "arms": arms, "arm": arm, "baseline": arms[0]}
    if request.htmx and request.GET.get("progress"):
        response = render(request, "experiments/compare.html#progress", context)
        if experiment.finished:
            response["HX-Refresh"] = "true"  # reload once to show the comparison
        return response
    context["pairs"] = selectors.compare_pairs(experiment, arm) if experiment.finished else []
    return render(request, "experiments/compare.html", context)
