from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from reviewhub.health import health
from workspace.selectors import home_overview


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, report = health()
    down = [name for name, part in report.items() if not part["ok"]]
    body = {"status": "ok" if ok else "down", "down": down, "checks": report}
    return JsonResponse(body, status=200 if ok else 503)


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page; answer with the site's icon."""
    return redirect(static("reviewhub/favicon.svg"), permanent=True)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "reviewhub/home.html", home_overview(user=request.user))


@login_not_required
@csrf_exempt
def otlp_traces(request: HttpRequest) -> HttpResponse:
    """POST /v1/traces, served by chat.otlp.views.traces, imported with the first export:
    its protobuf classes are ~6 MB of each web process, most of which never receive one."""
    from chat.otlp.views import traces

    return traces(request)
