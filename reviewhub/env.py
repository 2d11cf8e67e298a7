"""Typed readers for settings that come from the environment.

Each one fails loudly with the variable's name, so a bad value stops start-up
instead of surfacing later as a confusing error.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlparse


class ImproperEnv(Exception):
    """A variable in the environment has a value we cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperEnv(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperEnv(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperEnv(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperEnv(f"{name}={raw!r} is not a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, schemes: set[str]) -> str:
    """A URL whose scheme must be one of `schemes`; empty string when unset."""
    raw = env_str(name)
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        allowed = ", ".join(sorted(schemes))
        raise ImproperEnv(f"{name}={raw!r} is not a URL with one of the schemes: {allowed}")
    return raw


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto: https` -> ("HTTP_X_FORWARDED_PROTO", "https"); None when unset.

    Only set it behind a proxy that overwrites that header: a client could send it too.
    """
    raw = env_str(name)
    if not raw:
        return None
    header, sep, value = raw.partition(":")
    header, value = header.strip(), value.strip()
    if not sep or not header or not value or " " in header:
        raise ImproperEnv(
            f"{name}={raw!r} is not 'Header-Name: value' (e.g. X-Forwarded-Proto: https)"
        )
    return "HTTP_" + header.upper().replace("-", "_"), value


def secret_key_file(path: Path) -> str:
    """The key in `path`, generated there (mode 0600) the first time.

    O_EXCL makes the first of several processes starting together the one that writes it.
    """
    from django.core.management.utils import get_random_secret_key

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it this instant
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise ImproperEnv(f"{path} is empty; delete it or set SECRET_KEY") from None
    key = get_random_secret_key()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key
