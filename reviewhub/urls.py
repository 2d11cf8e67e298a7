from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from accounts.forms import AdminLoginForm, LoginForm
from reviewhub import apispec, views

admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LoginForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("chat/", include("chat.urls")),
    path("knowledge/", include("knowledge.urls")),
    path("review/", include("annotations.urls")),
    path("graph/", include("graph.urls")),
    path("topics/", include("topics.urls")),
    path("releases/", include("datasets.urls")),
    path("evaluators/", include("evaluation.urls")),
    path("experiments/", include("experiments.urls")),
    # The explorer, inbox, settings, and GET /api/v1/interactions (search): before chat's
    # API include, which serves the other methods of that URL.
    path("", include("workspace.urls")),
    path("api/v1/", include("chat.api_urls")),
    path("api/v1/", include("evaluation.api_urls")),
    # OTLP/HTTP's default path, so an exporter needs only the base URL of ReviewHub
    path("v1/traces", views.otlp_traces, name="otlp-traces"),
    # Last under api/: any other path there is a JSON 404, not the HTML page or a login redirect.
    re_path(r"^api/", apispec.not_found),
]
