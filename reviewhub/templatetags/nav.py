"""The navigation marks the page you are on (aria-current, styled in app.css)."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def current(context, prefix: str, but: str = "") -> str:
    """` aria-current="page"` when the request's path is under `prefix` and not under `but`
    (a page of its own inside it: Models under Chat, Replay under Experiments)."""
    request = context.get("request")
    if request is None:
        return ""
    path = request.path
    if path.startswith(prefix) and not (but and path.startswith(but)):
        return mark_safe(' aria-current="page"')
    return ""
