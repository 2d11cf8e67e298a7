"""The score endpoint of the API, mounted at /api/v1/ beside chat.api_urls."""

from django.urls import path

from evaluation import api

app_name = "evaluation_api"

urlpatterns = [
    path("interactions/<uuid:turn_id>/scores", api.interaction_scores, name="scores"),
]
