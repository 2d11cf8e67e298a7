"""Login attempts limited per username + client address, counted in the shared cache.

The cache is Redis when REDIS_URL is set, else files under var/: every web process sees the
same counts. Per username *and* address, so an attacker hammering one account from one
address does not lock its owner out from theirs.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind FORWARDED_FOR_PROXIES proxies, from X-Forwarded-For."""
    hops = settings.FORWARDED_FOR_PROXIES
    if hops:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def _key(username: str, ip: str) -> str:
    digest = hashlib.sha256(f"{username.casefold()}|{ip}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_locked(*, username: str, ip: str) -> bool:
    return (cache.get(_key(username, ip)) or 0) >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str, ip: str) -> int:
    """Count one failed attempt; the window restarts from the latest failure."""
    key, window = _key(username, ip), settings.LOGIN_FAILURE_WINDOW_S
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        count = cache.incr(key)  # atomic on Redis
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1
    cache.touch(key, window)  # the file cache's incr would reset it to the default timeout
    return count


def login_failures_clear(*, username: str, ip: str) -> None:
    cache.delete(_key(username, ip))
