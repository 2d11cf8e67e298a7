"""Receivers of the signals of the apps below annotations: each calls one service."""

from __future__ import annotations

from annotations.services import queue_refresh


def refresh_queue(sender, *, turn_ids, **kwargs) -> None:
    queue_refresh(turn_ids=turn_ids)
