"""The score endpoint of the ingestion API, mounted at /api/v1/ beside chat.api_urls."""

from django.urls import path

from evaluation import api

app_name = "evaluation_api"

urlpatterns = [
    path("openapi.json", api.openapi, name="openapi"),
    path("interactions/<uuid:turn_id>/scores", api.interaction_scores, name="scores"),
]
