"""Word diffs between an answer and its correction (the template escapes the text)."""

from __future__ import annotations

import difflib
import re

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


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
