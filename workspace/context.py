from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def inbox(request: HttpRequest) -> dict:
    """The inbox count in the navigation, counted only when a page shows it."""
    from workspace.selectors import inbox_count

    user = getattr(request, "user", None)
    return {"inbox_count": SimpleLazyObject(lambda: inbox_count(user))}
