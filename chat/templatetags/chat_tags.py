"""Rendering untrusted text: LLM answers are markdown, rendered and then sanitised with nh3."""

from __future__ import annotations

from django import template

from reviewhub.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    return render_markdown(text)


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
