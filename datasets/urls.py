from django.urls import path

from datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.release_list, name="list"),
    path("new/", views.release_new, name="new"),
    path("preview/", views.release_preview, name="preview"),
    path("<uuid:pk>/", views.release_detail, name="detail"),
    path("<uuid:pk>/progress/", views.release_progress, name="progress"),
    path("<uuid:pk>/build/", views.release_build, name="build"),
    path("<uuid:pk>/approve/", views.release_approve, name="approve"),
    path("<uuid:pk>/reject/", views.release_reject, name="reject"),
    path("<uuid:pk>/publish/", views.release_publish, name="publish"),
    path("<uuid:pk>/diff/", views.release_diff, name="diff"),
    path("<uuid:pk>/manifest.json", views.release_manifest, name="manifest"),
    path("<uuid:pk>/files/<path:name>", views.release_file, name="file"),
]
