"""Safe rendering of untrusted text: markdown to HTML, then sanitised with nh3; word diffs."""

from __future__ import annotations

import difflib
import re

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

_TAGS = nh3.ALLOWED_TAGS - {"img"}
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def render_markdown(text: str) -> SafeString:
    """Markdown → HTML → nh3 (drops scripts, event handlers, javascript: links)."""
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"])
    # No images: a remote <img> in an LLM answer would leak reviewers' addresses to its host.
    return mark_safe(  # noqa: S308 — sanitised by nh3 just here
        nh3.clean(html, tags=_TAGS, link_rel="noopener noreferrer nofollow")
    )


def word_diff(original: str, corrected: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in equal/del/ins; the template escapes the text."""
    a, b = _TOKEN.findall(original or ""), _TOKEN.findall(corrected or "")
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(("del", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("ins", "".join(b[j1:j2])))
    return out


def diff_stats(parts: list[tuple[str, str]]) -> dict[str, int]:
    return {
        "removed": sum(len(t) for op, t in parts if op == "del"),
        "added": sum(len(t) for op, t in parts if op == "ins"),
    }
