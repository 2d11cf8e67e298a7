"""The OpenAI-compatible client, on the floor: chat completes with it and knowledge
embeds with it, and knowledge sits below chat, so neither may own it for the other."""

from __future__ import annotations

from django.conf import settings


class LLMError(Exception):
    """A provider failure or missing configuration; the message is for the user."""


def openai_client():
    import openai

    if not settings.OPENAI_API_KEY:
        raise LLMError("OPENAI_API_KEY is not set")
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=settings.OPENAI_TIMEOUT_S,
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
