from django.urls import path

from annotations import views

app_name = "annotations"

urlpatterns = [
    path("", views.queue_home, name="home"),
    path("next/", views.claim_next, name="next"),
    path("item/<uuid:item_id>/", views.item_detail, name="item"),
    path("item/<uuid:item_id>/submit/", views.item_submit, name="submit"),
    path("item/<uuid:item_id>/skip/", views.item_skip, name="skip"),
    path("item/<uuid:item_id>/diff/", views.item_diff, name="diff"),
    path("pairs/next/", views.pair_next, name="pair_next"),
    path("pairs/<uuid:item_id>/", views.pair_detail, name="pair"),
    path("pairs/<uuid:item_id>/submit/", views.pair_submit, name="pair_submit"),
    path("pairs/<uuid:item_id>/skip/", views.pair_skip, name="pair_skip"),
    path("queue/", views.queue_list, name="queue"),
    path("agreement/", views.agreement_dashboard, name="agreement"),
    path("adjudicate/", views.adjudication_list, name="adjudication"),
    path("adjudicate/<uuid:item_id>/", views.adjudicate, name="adjudicate"),
    path("examples/<uuid:example_id>/withdraw/", views.example_withdraw, name="withdraw"),
    path("rubric/", views.rubric_edit, name="rubric"),
    path("guidelines/new/", views.guideline_edit, name="guideline_new"),
    path("guidelines/<int:guideline_id>/", views.guideline_edit, name="guideline"),
]
