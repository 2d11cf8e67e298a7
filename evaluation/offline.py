"""Built-in offline evaluators: deterministic, no key, no model weights, no downloads.

Every check works on the text the model was given (the passages as sent, with their ranks)
and the answer it returned; all values are 0–1, higher is better.

**groundedness** — the answer is split into sentences (the "Sources: …" trailer and
markdown are dropped). Each sentence is compared with every passage sentence and every pair of
adjacent passage sentences (an answer sentence often merges two):

* coverage: the share of the sentence's content words (lower-cased, stopwords removed, light
  plural strip — `knowledge.embedding.tokenize`, the tokenizer retrieval uses) found in the
  passage span;
* numbers must match, with their units: a number in the sentence (digits, or number words up
  to twenty), or a number with the word after it ("seven days"), that the span does not
  contain multiplies the support by 0.25;
* negation must match: each "not / no / never / cannot / …n't / without" is attached to the
  content word after it; a word negated in the sentence but not in the span, or negated in the
  span but used plainly in the sentence, multiplies the support by 0.25;
* a name the passages never mention (a capitalised word that is not the first word) multiplies
  it by 0.5.

A sentence's support is its best span's; it counts as supported at ≥ `SUPPORTED_AT` (0.7),
and the passage holding the best span is reported as its support. The value is the mean
support over sentences (1.0: every sentence fully supported; it equals the share of supported
sentences when supports are 0 or 1). Measured on the labelled set in bench/data (true KB
statements vs the same with a number, name or negation changed): AUROC in bench/results.json
(`eval_groundedness_auroc`).

An answer given no passages gets no groundedness score: it had nothing to be grounded in, and
a 0 would count every ungrounded answer wrong, whatever it said (kb_support scores it).

Limits: lexical, so a faithful paraphrase with different words scores low and a sentence that
reuses the passage's words in a different relation (swapped subject and object) scores high;
"not" far from the claim it negates, and numbers written as "a dozen", are missed; it knows
nothing beyond the passages (a true fact not in them is "unsupported", which is the point).

**citation_validity** — every `[n]` in the answer must name a passage that was given (rank n)
and that supports the sentence carrying it (support ≥ `SUPPORTED_AT` from that passage alone).
Value: valid citations / citations. An answer without citations gets no score (not applicable).
Limits: as groundedness; a citation on the "Sources:" line is checked for existence only.

**context_relevance** — a passage is about the question when it contains at least half of the
question's content words (`RELEVANT_AT`); value: the share of passages that are, with each
passage's overlap in the details. No passages: no score. Limits: lexical; a passage that
answers with synonyms of the question's words is judged off-topic.

**kb_support** — the answer against the knowledge base as it is now, not against the passages
the model was given, so an answer given without grounding is scored on the same yardstick as a
grounded one (replays and experiments compare the two). The passages are the top
`KB_PASSAGES` of a lexical (BM25) search of the knowledge base for the question and the answer
together (`knowledge.retrieval.ranked_ids(lexical_only=True)`: no key, no call out). When none of
them is about the question (`RELEVANT_AT` of its content words) the knowledge base cannot say,
and there is no score. Otherwise a refusal scores 0 (the knowledge base had something to say),
and any other answer its mean sentence support, as groundedness measures it. Limits: those of
groundedness and of lexical search (a passage worded unlike the question is not found); a
refusal is counted wrong whenever a passage shares half the question's words, even when that
passage does not answer it; a score is as of the knowledge base at scoring time.

**refusal** — "I don't know"-style answers (`REFUSAL_PATTERNS`: don't/do not know, cannot
answer, not covered, no information, not enough information, …) score 1.0, others 0.0. A
refusal is not scored for groundedness or citations, so "I don't know" is never counted wrong.
Limits: English phrasings only; a refusal worded unlike the patterns is not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from knowledge.embedding import STOPWORDS, normalise_token, tokenize

SUPPORTED_AT = 0.7
RELEVANT_AT = 0.5
NUMBER_PENALTY = 0.25
NEGATION_PENALTY = 0.25
UNKNOWN_NAME_PENALTY = 0.5

NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
NEGATIONS = frozenset({"not", "no", "never", "cannot", "without", "none", "nor", "neither"})
REFUSAL_PATTERNS = [
    r"\bi (?:do not|don't|dont) know\b",
    r"\bi(?: am|'m) not sure\b",
    r"\b(?:i )?(?:cannot|can't|can not|am unable to|am not able to) (?:answer|help with|tell)\b",
    r"\bi have nothing reliable\b",
    r"\bdoes(?: not|n't) (?:seem to )?cover\b",
    r"\bnot (?:enough|sufficient) (?:information|context)\b",
    r"\bno (?:relevant )?information (?:about|on)\b",
    r"\bi can only answer from\b",
    r"\bdoes(?: not|n't) answer the question\b",
]
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[*\"'`(])|\n+")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_MARKUP = re.compile(r"[*_`#>]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_SOURCES = re.compile(r"^\s*sources?\s*:.*$", re.IGNORECASE | re.MULTILINE)
CRITERIA = ("groundedness", "citation_validity", "context_relevance", "refusal")
KB_PASSAGES = 6


@dataclass(frozen=True)
class Passage:
    rank: int
    text: str
    title: str = ""


@dataclass(frozen=True)
class TurnInput:
    question: str
    answer: str
    passages: tuple[Passage, ...] = ()


@dataclass
class Result:
    criterion: str
    value: float
    reason: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Span:
    rank: int
    words: frozenset[str]
    numbers: frozenset[str]
    negated: frozenset[str]


@dataclass(frozen=True)
class _Claim:
    text: str
    words: frozenset[str]
    numbers: frozenset[str]
    negated: frozenset[str]
    names: frozenset[str]
    citations: tuple[int, ...]


_BE = frozenset({"be", "been", "being", "a", "an", "the", "any", "to", "yet", "always"})
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,'’][a-z0-9]+)*")


@dataclass(frozen=True)
class _Facts:
    words: frozenset[str]  # content words
    numbers: frozenset[str]  # "7" and "7 day"
    negated: frozenset[str]  # the words negations apply to


@lru_cache(maxsize=100_000)
def _analyse(text: str) -> _Facts:
    """One pass over a sentence (cached: the same passages come back turn after turn).

    Content words as `knowledge.embedding.tokenize` makes them (stopwords out, light plural
    strip) minus negations and numbers; numbers (digits or number words), each also with its
    unit when a content word follows ("kept for seven days" → {"7", "7 day"}), so "seven weeks"
    does not match "seven days"; and the word each "not / no / never / cannot / …n't" applies
    to: the first word after it that is not a form of "be" or an article ("cannot be undone" →
    {"undone"}, "have no snapshots" → {"snapshot"})."""
    tokens = _TOKEN.findall(text.lower())
    words, numbers, negated = set(), set(), set()
    for i, token in enumerate(tokens):
        if token.endswith(("n't", "n’t")) or token in NEGATIONS:
            following = next((t for t in tokens[i + 1 : i + 5] if t not in _BE), ".")
            negated.add(following if following in STOPWORDS else normalise_token(following))
            continue
        value = token.replace(",", "") if token[0].isdigit() else NUMBER_WORDS.get(token)
        if value is not None:
            numbers.add(value)
            unit = tokens[i + 1] if i + 1 < len(tokens) else ""
            if unit and unit[0].isalpha() and unit not in STOPWORDS and unit not in NUMBER_WORDS:
                numbers.add(f"{value} {normalise_token(unit.split(chr(39))[0])}")
            continue
        base = re.split(r"['’]", token, maxsplit=1)[0]
        if base not in STOPWORDS and base[0].isalpha():
            words.add(normalise_token(base))
    return _Facts(frozenset(words), frozenset(numbers), frozenset(negated))


def _content(text: str) -> frozenset[str]:
    return _analyse(text).words


def sentences(text: str) -> list[str]:
    text = _SOURCES.sub("", text)
    return [s.strip() for s in _SENTENCE.split(text) if s and len(_content(s)) > 0]


def _clean(text: str) -> str:
    return _MARKUP.sub("", _CITATION.sub("", text))


def _claim(sentence: str) -> _Claim:
    clean = _clean(sentence)
    facts = _analyse(clean)
    words = _WORD.findall(clean)
    names = frozenset(w.lower() for w in words[1:] if w[0].isupper() and w.lower() not in NEGATIONS)
    return _Claim(
        text=sentence.strip(),
        words=facts.words,
        numbers=facts.numbers,
        negated=facts.negated,
        names=frozenset(tokenize(" ".join(names))),
        citations=tuple(int(n) for n in _CITATION.findall(sentence)),
    )


@lru_cache(maxsize=20_000)
def _passage_spans(rank: int, text: str) -> tuple[_Span, ...]:
    """Each sentence, and each pair of adjacent sentences, of a passage."""
    facts = [_analyse(_clean(s)) for s in _SENTENCE.split(text) if s.strip()]
    spans = [_Span(rank, f.words, f.numbers, f.negated) for f in facts]
    for a, b in zip(facts, facts[1:], strict=False):
        spans.append(_Span(rank, a.words | b.words, a.numbers | b.numbers, a.negated | b.negated))
    return tuple(spans)


class Evidence:
    """The passages of one turn, split and analysed once for all checks."""

    def __init__(self, passages: Iterable[Passage]):
        self.passages = list(passages)
        self.ranks = {p.rank for p in self.passages}
        self.spans: list[_Span] = []
        self.words: dict[int, set[str]] = {}
        for p in self.passages:
            spans = _passage_spans(p.rank, p.text)
            self.spans.extend(spans)
            self.words.setdefault(p.rank, set()).update(*(span.words for span in spans))
        self.vocabulary: set[str] = set().union(*self.words.values())

    def support(self, claim: _Claim, rank: int | None = None) -> tuple[float, int | None]:
        """(best support 0–1, the rank of the passage that gives it)."""
        if not claim.words:
            return 1.0, None
        unknown_names = len(claim.names - self.vocabulary)
        best, best_rank = 0.0, None
        for span in self.spans:
            if rank is not None and span.rank != rank:
                continue
            score = len(claim.words & span.words) / len(claim.words)
            if claim.numbers - span.numbers:
                score *= NUMBER_PENALTY
            # the claim negates what the span does not, or uses un-negated a word the span negates
            if claim.negated - span.negated or (span.negated & claim.words) - claim.negated:
                score *= NEGATION_PENALTY
            if score > best:
                best, best_rank = score, span.rank
        return best * UNKNOWN_NAME_PENALTY**unknown_names, best_rank


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.search(answer))


def groundedness(turn: TurnInput, evidence: Evidence | None = None) -> Result | None:
    if is_refusal(turn.answer):
        return None
    evidence = evidence or Evidence(turn.passages)
    if not evidence.spans:  # given nothing to be grounded in: not applicable (kb_support is)
        return None
    claims = [_claim(s) for s in sentences(turn.answer)]
    if not claims:
        return None
    rows = []
    for claim in claims:
        support, rank = evidence.support(claim)
        rows.append(
            {
                "sentence": claim.text[:300],
                "support": round(support, 3),
                "supported": support >= SUPPORTED_AT,
                "passage": rank if support >= SUPPORTED_AT else None,
            }
        )
    value = sum(r["support"] for r in rows) / len(rows)
    supported = sum(r["supported"] for r in rows)
    reason = f"{supported} of {len(rows)} sentences supported by the passages"
    return Result("groundedness", round(value, 4), reason, {"sentences": rows})


def citation_validity(turn: TurnInput, evidence: Evidence | None = None) -> Result | None:
    if is_refusal(turn.answer):
        return None
    evidence = evidence or Evidence(turn.passages)
    body = _SOURCES.sub("", turn.answer)
    checks = []
    for sentence in sentences(body):
        claim = _claim(sentence)
        for n in claim.citations:
            if n not in evidence.ranks:
                checks.append({"citation": n, "valid": False, "why": "no such passage"})
                continue
            support, _ = evidence.support(claim, rank=n)
            ok = support >= SUPPORTED_AT
            checks.append(
                {"citation": n, "valid": ok, "why": "supports" if ok else "does not support"}
            )
    sources = [int(n) for m in _SOURCES.findall(turn.answer) for n in _CITATION.findall(m)]
    for n in sources:
        if n not in evidence.ranks:
            checks.append({"citation": n, "valid": False, "why": "no such passage"})
    if not checks:
        return None
    valid = sum(c["valid"] for c in checks)
    bad = sorted({c["citation"] for c in checks if not c["valid"]})
    reason = f"{valid} of {len(checks)} citations name a given passage that supports the sentence"
    if bad:
        reason += f"; not valid: {', '.join(f'[{n}]' for n in bad)}"
    return Result("citation_validity", round(valid / len(checks), 4), reason, {"checks": checks})


def context_relevance(turn: TurnInput, evidence: Evidence | None = None) -> Result | None:
    if not turn.passages:
        return None
    wanted = _content(turn.question)
    if not wanted:
        return None
    evidence = evidence or Evidence(turn.passages)
    rows = []
    for p in turn.passages:
        overlap = _overlap(wanted, evidence, p.rank)
        rows.append(
            {"passage": p.rank, "overlap": round(overlap, 3), "relevant": overlap >= RELEVANT_AT}
        )
    relevant = sum(r["relevant"] for r in rows)
    reason = f"{relevant} of {len(rows)} passages are about the question"
    return Result("context_relevance", round(relevant / len(rows), 4), reason, {"passages": rows})


def kb_support(turn: TurnInput, knowledge: Iterable[Passage]) -> Result | None:
    """The answer against passages of the knowledge base (see the module's docstring); the
    caller finds them (`evaluation.services.knowledge_passages`)."""
    knowledge = tuple(knowledge)
    wanted = _content(turn.question)
    if not knowledge or not wanted:
        return None
    evidence = Evidence(knowledge)
    about = [p.rank for p in knowledge if _overlap(wanted, evidence, p.rank) >= RELEVANT_AT]
    if not about:
        return None
    found = [{"rank": p.rank, "title": p.title} for p in knowledge]
    if is_refusal(turn.answer):
        titles = ", ".join(sorted({p.title for p in knowledge if p.rank in about}))
        reason = f"the answer declined, but the knowledge base has passages about it ({titles})"
        return Result("kb_support", 0.0, reason, {"about": about, "knowledge": found})
    grounded = groundedness(TurnInput(turn.question, turn.answer, knowledge), evidence)
    if grounded is None:
        return None
    supported = sum(r["supported"] for r in grounded.details["sentences"])
    total = len(grounded.details["sentences"])
    reason = f"{supported} of {total} sentences supported by the knowledge base"
    details = {**grounded.details, "about": about, "knowledge": found}
    return Result("kb_support", grounded.value, reason, details)


def _overlap(wanted: frozenset[str], evidence: Evidence, rank: int) -> float:
    """The share of the question's content words a passage contains (context_relevance's
    measure, and kb_support's test of a passage being about the question)."""
    return len(wanted & evidence.words[rank]) / len(wanted)


def refusal(turn: TurnInput, evidence: Evidence | None = None) -> Result:
    if is_refusal(turn.answer):
        return Result("refusal", 1.0, "the answer declines to answer (not scored as wrong)")
    return Result("refusal", 0.0, "the answer does not decline")


CHECKS = {
    "groundedness": groundedness,
    "citation_validity": citation_validity,
    "context_relevance": context_relevance,
    "refusal": refusal,
}


def evaluate(turn: TurnInput, checks: Iterable[str] = CRITERIA) -> list[Result]:
    """Run the named checks on one turn; checks that do not apply return nothing."""
    evidence = Evidence(turn.passages)
    results = [CHECKS[name](turn, evidence) for name in checks]
    return [r for r in results if r is not None]
