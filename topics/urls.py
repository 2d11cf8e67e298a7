from django.urls import path

from topics import views

app_name = "topics"
urlpatterns = [
    path("", views.topic_list, name="list"),
    path("discover/", views.discovery_start, name="discover"),
    path("<uuid:topic_id>/", views.topic_detail, name="detail"),
    path("<uuid:topic_id>/rename/", views.topic_rename, name="rename"),
    path("<uuid:topic_id>/pin/", views.topic_pin, name="pin"),
    path("<uuid:topic_id>/merge/", views.topic_merge, name="merge"),
    path("<uuid:topic_id>/split/", views.topic_split, name="split"),
]
