"""Roles are Django groups with permissions; views check permissions, not group names.

| role     | group       | permissions                                             |
| end user | end users   | use_chat                                                |
| expert   | experts     | + review, upload_documents, replay                      |
| lead     | leads       | + adjudicate, manage_releases, view_analytics           |
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

END_USER, EXPERT, LEAD = "end_user", "expert", "lead"
ROLE_GROUPS = {END_USER: "end users", EXPERT: "experts", LEAD: "leads"}

PERMISSIONS = {
    "use_chat": "Can chat and rate own answers",
    "review": "Can work the review queue",
    "upload_documents": "Can add documents to the knowledge base",
    "replay": "Can replay logged questions",
    "adjudicate": "Can adjudicate disagreements",
    "manage_releases": "Can build and approve dataset releases",
    "view_analytics": "Can see graph analytics",
}
ROLE_PERMISSIONS = {
    END_USER: ["use_chat"],
    EXPERT: ["use_chat", "review", "upload_documents", "replay"],
    LEAD: [
        "use_chat",
        "review",
        "upload_documents",
        "replay",
        "adjudicate",
        "manage_releases",
        "view_analytics",
    ],
}


def has_perm(user, codename: str) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(f"accounts.{codename}"))


def is_expert(user) -> bool:
    return has_perm(user, "review")


def is_lead(user) -> bool:
    return has_perm(user, "manage_releases")


def require_perm(codename: str) -> Callable:
    """View decorator: 403 unless the logged-in user has `accounts.<codename>`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not has_perm(request.user, codename):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


expert_required = require_perm("review")
lead_required = require_perm("manage_releases")


def roles_context(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "can": {name: has_perm(user, name) for name in PERMISSIONS},
        "role_label": role_label(user),
    }


def role_label(user) -> str:
    if not user or not user.is_authenticated:
        return ""
    if is_lead(user):
        return "lead"
    if is_expert(user):
        return "expert"
    return "end user"
