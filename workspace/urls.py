from django.urls import path

from workspace import api, views

app_name = "workspace"

urlpatterns = [
    path("explore/", views.explore, name="explore"),
    path("explore/bulk/", views.bulk, name="bulk"),
    path("explore/bulk/<uuid:job_id>/", views.bulk_job, name="bulk_job"),
    path("inbox/", views.inbox, name="inbox"),
    path("settings/", views.team_settings, name="settings"),
    path("api/v1/interactions", api.interactions, name="api_interactions"),
]
