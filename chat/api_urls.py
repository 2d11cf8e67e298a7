"""URLs of the ingestion API, mounted at /api/v1/ (reviewhub/urls.py adds a JSON 404 after)."""

from django.urls import path

from chat import api

app_name = "api"

urlpatterns = [
    path("openapi.json", api.openapi, name="openapi"),
    path("interactions", api.interactions, name="interactions"),
    path("interactions/<uuid:turn_id>", api.interaction_detail, name="interaction"),
    path("interactions/<uuid:turn_id>/feedback", api.interaction_feedback, name="feedback"),
    path("ingest-batches/<uuid:batch_id>", api.ingest_batch, name="ingest_batch"),
]
