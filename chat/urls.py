from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.home, name="home"),
    path("new", views.conversation_new, name="new"),
    path("c/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("c/<uuid:conversation_id>/ask", views.ask, name="ask"),
    path("c/<uuid:conversation_id>/rename", views.conversation_rename, name="rename"),
    path("c/<uuid:conversation_id>/delete", views.conversation_delete, name="delete"),
    path("t/<uuid:turn_id>/feedback", views.feedback, name="feedback"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<uuid:token_id>/revoke", views.token_revoke, name="token_revoke"),
    path("replays/", views.replays, name="replays"),
    path("models/", views.model_list, name="models"),
    path("models/new", views.model_edit, name="model_new"),
    path("models/<uuid:endpoint_id>/", views.model_edit, name="model_edit"),
    path("replays/<uuid:job_id>/", views.replay, name="replay"),
]
