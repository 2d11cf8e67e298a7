"""Build the labelled groundedness set from the demo knowledge base (issue #12).

Run: .venv/bin/python bench/make_eval_pairs.py   (rewrites bench/data/eval_pairs.jsonl)

Deterministic: no randomness beyond CRC32 of the text, so the committed file is reproducible.
Each demo document is parsed and chunked exactly as ingestion does (`knowledge.services`).
Every sentence of a chunk with at least four content words is a *true statement* (markdown
dropped); its passages are that chunk plus two chunks of other documents, in an order picked by
hash, ranked 1–3 as the chat path ranks them. Each true statement is paired with the same
statement with one fact changed, one pair per applicable change:

* number — each of the first three numbers changed (digits +1 or +2, number
  words two steps up);
* name — each of the first three capitalised words after the first word swapped for a
  capitalised KB term that the statement's own chunk does not contain, or a unit, frequency,
  plan or role swapped for another (days → weeks, hourly → daily, Free → Professional, …);
* negation — a negation removed ("cannot" → "can", "not"/"no" dropped, "never" → "always";
  the first rule that applies), and one added ("is" → "is not", "can" → "cannot", …).

A sentence with clauses ("…; …") also gives each clause as a statement of its own.

Label 1 = supported by the passages, 0 = unsupported.
"""

from __future__ import annotations

import json
import os
import re
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")
OUT = ROOT / "bench" / "data" / "eval_pairs.jsonl"

NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
REMOVE_NEGATION = [
    (r"\bcannot\b", "can"),
    (r"\bcan not\b", "can"),
    (r"\b(do|does|is|are|was|were|should|could|would)n't\b", r"\1"),
    (r"\b(do|does|is|are|will|should|must|may) not\b", r"\1"),
    (r"\bnever\b", "always"),
    (r"\bno\b ", ""),
    (r"\bwithout\b", "with"),
]
TERM_SWAPS = {
    "days": "weeks",
    "hours": "minutes",
    "minutes": "hours",
    "seconds": "minutes",
    "daily": "weekly",
    "hourly": "daily",
    "month": "year",
    "GB": "TB",
    "read": "write",
    "first": "last",
    "Free": "Professional",
    "Professional": "Enterprise",
    "Enterprise": "Free",
    "admin": "member",
    "Bolt": "HTTP",
    "email": "phone",
}
ADD_NEGATION = [
    (r"\bis\b", "is not"),
    (r"\bare\b", "are not"),
    (r"\bcan\b", "cannot"),
    (r"\bwill\b", "will not"),
    (r"\bmust\b", "must not"),
    (r"\bhas\b", "does not have"),
    (r"\bhave\b", "do not have"),
    (r"\btakes\b", "does not take"),
    (r"\bkeeps?\b", "does not keep"),
    (r"\buses?\b", "does not use"),
]


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


def clean(sentence: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*`#]+", "", sentence)).strip()


def change_numbers(statement: str) -> list[str]:
    out = []
    pattern = re.compile(r"\b\d+(?:\.\d+)?\b|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.I)
    for match in list(pattern.finditer(statement))[:3]:
        token = match.group(0)
        if token[0].isdigit():
            if "." in token:
                head, tail = token.split(".")
                new = f"{head}.{tail[:-1]}{(int(tail[-1]) + 3) % 10}"
            else:
                new = str(int(token) + (2 if int(token) < 10 else 1))
        else:
            word = NUMBER_WORDS[(NUMBER_WORDS.index(token.lower()) + 2) % len(NUMBER_WORDS)]
            new = word.capitalize() if token[0].isupper() else word
        out.append(statement[: match.start()] + new + statement[match.end() :])
    return out


def change_names(statement: str, chunk: str, pool: list[str]) -> list[str]:
    words = list(re.finditer(r"\b[A-Z][A-Za-z]{2,}\b", statement))[1:]
    out = []
    for match in words[:3]:
        options = [t for t in pool if t.lower() not in chunk.lower() and t != match.group(0)]
        if not options:
            continue
        new = options[_h(statement + match.group(0)) % len(options)]
        out.append(statement[: match.start()] + new + statement[match.end() :])
    return out


def change_negation(statement: str) -> list[str]:
    """Up to two variants: the first negation rule that applies, and the first added one."""
    out = []
    for rules in (REMOVE_NEGATION, ADD_NEGATION):
        for pattern, repl in rules:
            changed, n = re.subn(pattern, repl, statement, count=1)
            if n and changed != statement:
                out.append(changed[0].upper() + changed[1:])
                break
    return out


def change_terms(statement: str) -> list[str]:
    """Swap a unit or frequency for another one (days → weeks, hourly → daily, …)."""
    out = []
    for word, other in TERM_SWAPS.items():
        match = re.search(rf"\b{word}\b", statement)
        if match:
            out.append(statement[: match.start()] + other + statement[match.end() :])
        if len(out) == 2:
            break
    return out


def statements(sentence: str) -> list[str]:
    """The sentence, and its clauses when it has several ("…; …")."""
    whole = clean(sentence)
    parts = [p.strip() for p in whole.split("; ")] if "; " in whole else []
    clauses = [p[0].upper() + p[1:] + ("" if p.endswith(".") else ".") for p in parts if p]
    return [whole, *clauses]


def build() -> list[dict]:
    import django

    django.setup()
    from evaluation.offline import _content, sentences
    from knowledge.services import parse_file, split_text

    chunks: list[tuple[str, str]] = []  # (document title, chunk text)
    for path in sorted((ROOT / "demo" / "kb").iterdir()):
        parsed = parse_file(path.name, path.read_bytes())
        chunks += [(parsed.title, parsed.text[a:b].strip()) for a, b in split_text(parsed.text)]
    pool = sorted(
        {
            w
            for _, text in chunks
            for w in re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{3,}\b", clean(text))
        }
    )
    rows, seen = [], set()
    for i, (title, text) in enumerate(chunks):
        others = [j for j, (t, _) in enumerate(chunks) if t != title]
        picks = [others[(_h(text) + k * 7919) % len(others)] for k in (0, 1)]
        order = [i, *picks]
        shift = _h(title + text) % 3
        order = order[shift:] + order[:shift]
        passages = [
            {"rank": r + 1, "title": chunks[j][0], "text": chunks[j][1]}
            for r, j in enumerate(order)
        ]
        for statement in (st for sentence in sentences(text) for st in statements(sentence)):
            if statement.startswith(("#", "-")) or statement in seen:
                continue
            if len(_content(statement)) < 4 or not statement.endswith((".", ":", ")")):
                continue
            seen.add(statement)
            changes = [
                *[("number", s) for s in change_numbers(statement)],
                *[("name", s) for s in change_names(statement, text, pool)],
                *[("name", s) for s in change_terms(statement)],
                *[("negation", s) for s in change_negation(statement)],
            ]
            for kind, changed in changes:
                rows.append(
                    {
                        "pair": len(rows),
                        "kind": kind,
                        "question": f"About {title}",
                        "supported": statement,
                        "unsupported": changed,
                        "passages": passages,
                    }
                )
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("number", "name", "negation")}
    print(f"{len(rows)} pairs written to {OUT.relative_to(ROOT)}: {kinds}")


if __name__ == "__main__":
    main()
