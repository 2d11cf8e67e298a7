from django.urls import path

from evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("", views.evaluator_list, name="list"),
    path("new/", views.evaluator_new, name="new"),
    path("alignment/", views.alignment, name="alignment"),
    path("<uuid:pk>/", views.evaluator_detail, name="detail"),
    path("<uuid:pk>/backfill/", views.evaluator_backfill, name="backfill_new"),
    path("backfills/<uuid:pk>/", views.backfill_detail, name="backfill"),
]
