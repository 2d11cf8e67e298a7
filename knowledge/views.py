"""Knowledge base pages for experts and leads: the documents, their chunks, and uploads."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from knowledge.forms import UploadForm
from knowledge.models import Document
from knowledge.selectors import document_delete_impact
from knowledge.services import IngestError, document_ingest_file
from knowledge.services import document_delete as delete
from reviewhub.roles import require_perm

upload_required = require_perm("upload_documents")


@upload_required
def documents(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        added = unchanged = 0
        for upload in form.cleaned_data["files"]:
            try:
                _, created = document_ingest_file(
                    name=upload.name, data=upload.read(), source=f"upload/{upload.name}"
                )
            except IngestError as exc:
                messages.error(request, str(exc))
                continue
            added += created
            unchanged += not created
        if added or unchanged:  # a lone refusal is reported alone, not beside "0 added"
            messages.success(
                request,
                f"{added} document{'s' if added != 1 else ''} added"
                + (f", {unchanged} unchanged (already in the knowledge base)" if unchanged else "")
                + ".",
            )
        return redirect("knowledge:documents")
    docs = Document.objects.annotate(n_chunks=Count("chunks")).order_by("title")
    return render(request, "knowledge/documents.html", {"form": form, "documents": docs})


@upload_required
def document(request: HttpRequest, document_id: UUID) -> HttpResponse:
    doc = get_object_or_404(Document, pk=document_id)
    return render(request, "knowledge/document.html", {"document": doc, "chunks": doc.chunks.all()})


@upload_required
def document_delete(request: HttpRequest, document_id: UUID) -> HttpResponse:
    """GET asks for confirmation and says what the removal affects; POST removes."""
    doc = get_object_or_404(Document, pk=document_id)
    if request.method != "POST":
        impact = document_delete_impact(doc)
        return render(request, "knowledge/delete.html", {"document": doc, "impact": impact})
    delete(document=doc)
    messages.success(request, f"Removed {doc.title}.")
    return redirect("knowledge:documents")
