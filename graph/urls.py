from django.urls import path

from graph import views

app_name = "graph"

urlpatterns = [
    path("analytics/", views.analytics, name="analytics"),
    path("analytics/retry/", views.outbox_retry_view, name="outbox_retry"),
    path("lineage/<uuid:turn_id>/", views.lineage_page, name="lineage"),
    path("lineage/<uuid:turn_id>.json", views.lineage_json, name="lineage_json"),
    path("lineage/<uuid:turn_id>/topic/", views.turn_topic, name="turn_topic"),
]
