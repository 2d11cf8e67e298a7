from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from reviewhub import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

# Each app owns its URLs; an app is mounted once it has a urls.py.
_APP_MOUNTS = [
    ("chat/", "chat"),
    ("knowledge/", "knowledge"),
    ("review/", "annotations"),
    ("graph/", "graph"),
    ("releases/", "datasets"),
    ("api/v1/", "chat.api_urls"),
]
for _prefix, _app in _APP_MOUNTS:
    try:
        urlpatterns.append(path(_prefix, include(f"{_app}.urls")))
    except ModuleNotFoundError as exc:
        if exc.name != f"{_app}.urls" and exc.name != _app:
            raise
