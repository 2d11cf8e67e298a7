from django.urls import path

from experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.experiment_list, name="list"),
    path("new", views.experiment_new, name="new"),
    path("replay", views.replay_new, name="replay_new"),
    path("<uuid:pk>/compare", views.experiment_compare, name="compare"),
    path("<uuid:pk>/", views.experiment_detail, name="detail"),
    path("<uuid:pk>/answers", views.experiment_answers, name="answers"),
    path("<uuid:pk>/cancel", views.experiment_cancel, name="cancel"),
    path("<uuid:pk>/pairs", views.experiment_send_pairs, name="send_pairs"),
    path("<uuid:pk>/export", views.experiment_export, name="export"),
    path("<uuid:pk>/recompute", views.experiment_recompute, name="recompute"),
]
