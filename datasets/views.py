"""Release pages for leads (`manage_releases`); everyone else gets 403."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from datasets import hf, selectors, services
from datasets.forms import ReleaseForm, initial_from
from datasets.models import Release
from reviewhub.roles import lead_required

CONTENT_TYPES = {
    ".jsonl": "application/jsonl",
    ".parquet": "application/vnd.apache.parquet",
    ".md": "text/markdown; charset=utf-8",
    ".zip": "application/zip",
}


def _get_release(pk) -> Release:
    return get_object_or_404(
        Release.objects.select_related(
            "built_by", "approved_by", "published_by", "rejected_by", "created_by"
        ),
        pk=pk,
    )


@lead_required
@require_GET
def release_list(request: HttpRequest) -> HttpResponse:
    return render(request, "datasets/list.html", {"releases": selectors.releases_for_list()})


@lead_required
def release_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ReleaseForm(request.POST)
        if form.is_valid():
            try:
                release = services.release_create(
                    user=request.user, build=True, **form.definition()
                )
            except services.ReleaseError as exc:
                for error in exc.messages:
                    form.add_error(None, error)
            else:
                messages.success(request, f"Building {release}.")
                return redirect("datasets:detail", pk=release.id)
        return render(request, "datasets/form.html", {"form": form}, status=400)
    initial = {}
    if source_id := request.GET.get("from"):
        try:
            source = _get_release(source_id)
        except Exception as exc:  # a malformed id is a missing release
            raise Http404 from exc
        initial = initial_from(source, selectors.next_version(source.name))
    return render(request, "datasets/form.html", {"form": ReleaseForm(initial=initial)})


@lead_required
@require_GET
def release_preview(request: HttpRequest) -> HttpResponse:
    form = ReleaseForm(request.GET, check_unique=False)
    counts = None
    if form.is_valid():
        counts = selectors.preview(
            form.filters(),
            seed=form.cleaned_data["seed"],
            validation_fraction=form.cleaned_data["validation_fraction"],
        )
    return render(request, "datasets/form.html#preview", {"form": form, "counts": counts})


@lead_required
@require_GET
def release_detail(request: HttpRequest, pk) -> HttpResponse:
    release = _get_release(pk)
    return render(
        request,
        "datasets/detail.html",
        {
            "release": release,
            "report": release.report or {},
            "previous": selectors.previous_release(release),
            "filters": selectors.describe_filters(release.filters),
            "manifest_json": json.dumps(release.manifest, indent=2, sort_keys=True),
            "hf_folder": selectors.release_folder(release) / hf.FOLDER,
            "hf_zip": hf.ZIP,
        },
    )


@lead_required
@require_GET
def release_progress(request: HttpRequest, pk) -> HttpResponse:
    release = _get_release(pk)
    if release.state != Release.State.BUILDING:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"  # done: reload the page with its reports
        return response
    return render(request, "datasets/detail.html#progress", {"release": release})


def _action(service: Callable, done: str) -> Callable:
    @lead_required
    @require_POST
    def view(request: HttpRequest, pk) -> HttpResponse:
        release = _get_release(pk)
        try:
            service(release=release, user=request.user)
        except services.ReleaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{release}: {done}.")
        return redirect("datasets:detail", pk=release.id)

    view.__name__ = service.__name__
    return view


release_build = _action(services.release_request_build, "build queued")
release_approve = _action(services.release_approve, "approved")
release_reject = _action(services.release_reject, "rejected")
release_publish = _action(services.release_publish, "published")


@lead_required
@require_GET
def release_diff(request: HttpRequest, pk) -> HttpResponse:
    release = _get_release(pk)
    previous = selectors.previous_release(release)
    return render(
        request,
        "datasets/diff.html",
        {
            "release": release,
            "previous": previous,
            "diff": selectors.release_diff(release, previous),
        },
    )


@lead_required
@require_GET
def release_manifest(request: HttpRequest, pk) -> HttpResponse:
    release = _get_release(pk)
    if not release.has_files:
        raise Http404("This release has no manifest until it is built.")
    body = json.dumps(release.manifest, indent=2, sort_keys=True) + "\n"
    response = HttpResponse(body, content_type="application/json")
    filename = f"{release.name}-v{release.version}-manifest.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@lead_required
@require_GET
def release_file(request: HttpRequest, pk, name: str) -> FileResponse:
    release = _get_release(pk)
    names = {f["name"] for f in release.manifest.get("files", [])}
    if not release.has_files or name not in names:
        raise Http404("No such file in this release.")
    path = selectors.release_folder(release) / name
    if not path.is_file():
        raise Http404("The file is missing from the export folder.")
    return FileResponse(
        open(path, "rb"),
        as_attachment=True,  # noqa: SIM115 (closed by Django)
        filename=f"{release.name}-v{release.version}-{name.replace('/', '-')}",
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
