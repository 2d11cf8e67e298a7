"""The Content-Security-Policy header.

One fixed policy from settings.CONTENT_SECURITY_POLICY, so a small middleware rather than
django-csp: the app's templates have no inline script, event handler or style attribute, so
there are no nonces or hashes to manage, and Django 6.0 ships its own CSP middleware to move
to when we can (it needs Python 3.12).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
