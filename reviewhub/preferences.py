"""Team settings leads edit in the app, read through one function.

`preference(name)` is the only reader: the value saved in the app (SiteSettings, pk=1) or,
when none was saved, the deployment's Django setting. Every app reads these through it
(the review queue, the chat's daily limit, release approval), so a lead's change applies
at once everywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from reviewhub.models import SiteSettings

# preference name -> the Django setting that is its default
DEFAULTS = {
    "reviews_required": "REVIEWS_REQUIRED",
    "blind_review": "REVIEW_BLIND",
    "release_four_eyes": "RELEASE_FOUR_EYES",
    "daily_question_limit": "CHAT_DAILY_QUESTION_LIMIT",
}


def preference(name: str):
    if name not in DEFAULTS:
        raise KeyError(f"unknown preference {name!r}")
    saved = SiteSettings.objects.filter(pk=1).values_list(name, flat=True).first()
    return getattr(settings, DEFAULTS[name]) if saved is None else saved


def preferences() -> dict:
    """Every preference's current value, in one query."""
    row = SiteSettings.objects.filter(pk=1).values(*DEFAULTS).first() or {}
    return {
        name: getattr(settings, default) if row.get(name) is None else row[name]
        for name, default in DEFAULTS.items()
    }


@transaction.atomic
def preferences_update(*, actor, **values) -> SiteSettings:
    """Save the given preferences (None: back to the deployment's default)."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown preferences: {sorted(unknown)}")
    row, _ = SiteSettings.objects.select_for_update().get_or_create(pk=1)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by = actor
    row.save()
    return row
