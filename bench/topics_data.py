"""A synthetic question set with known topics, for bench_topics and the discovery tests.

Deterministic (seeded `random.Random`): 24 topics, each with its own vocabulary and 8
passages; questions are paraphrases built from shared templates and filler words that
every topic uses ("quick question", "please", "thanks", "account", …) and one question in
five borrowing a word of another topic, so text alone is not trivially separable; each
question's context is 3–5 passages, mostly from its own topic (retrieval noise: some
from other topics), and a share of questions has none.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: dict[str, list[str]] = {
    "billing": ["invoice", "billing", "charge", "payment", "card", "receipt", "vat", "overdue"],
    "refunds": ["refund", "return", "money", "reimburse", "cancelled", "chargeback", "credit"],
    "passwords": ["password", "reset", "forgot", "login", "locked", "credentials", "recover"],
    "shipping": ["shipping", "delivery", "parcel", "courier", "tracking", "dispatch", "address"],
    "mobile_app": ["iphone", "android", "app", "crash", "install", "notification", "tablet"],
    "api_keys": ["api", "key", "token", "endpoint", "rate", "limit", "webhook", "sdk"],
    "data_export": ["export", "csv", "download", "spreadsheet", "backup", "archive", "excel"],
    "privacy": ["gdpr", "privacy", "personal", "consent", "delete", "erasure", "cookies"],
    "two_factor": ["authenticator", "sms", "code", "factor", "verification", "otp", "2fa"],
    "subscriptions": ["plan", "upgrade", "downgrade", "subscription", "tier", "renewal"],
    "team_members": ["invite", "colleague", "member", "seat", "role", "admin", "permission"],
    "integrations": ["slack", "salesforce", "zapier", "integration", "connector", "sync"],
    "reports": ["report", "dashboard", "chart", "metric", "analytics", "graph", "kpi"],
    "search": ["search", "filter", "query", "results", "index", "keyword", "relevance"],
    "notifications": ["email", "digest", "alert", "unsubscribe", "newsletter", "inbox"],
    "performance": ["slow", "latency", "timeout", "loading", "speed", "lag", "freeze"],
    "security": ["breach", "phishing", "suspicious", "malware", "encryption", "audit"],
    "onboarding": ["tutorial", "getting", "started", "setup", "wizard", "walkthrough"],
    "languages": ["translation", "language", "french", "german", "locale", "spanish"],
    "accessibility": ["screen", "reader", "contrast", "keyboard", "accessibility", "font"],
    "storage": ["storage", "quota", "space", "upload", "file", "gigabyte", "attachment"],
    "calendar": ["calendar", "meeting", "schedule", "appointment", "reminder", "timezone"],
    "discounts": ["discount", "coupon", "promo", "voucher", "nonprofit", "student"],
    "contracts": ["contract", "agreement", "signature", "terms", "legal", "clause", "sla"],
}

TEMPLATES = [
    "{open} how do I {a} my {b}{close}",
    "{open} what happens to the {a} when {b} changes{close}",
    "{open} can you explain {a} and {b} for my account{close}",
    "{open} my {a} is not working with {b}{close}",
    "{open} is there a way to handle {a} {b}{close}",
    "{open} where can I find the {a} {b} settings{close}",
    "{open} why does the {a} show {b}{close}",
    "{open} help with {a}, {b} and {c}{close}",
    "{open} need info on {a} for {b}{close}",
    "{open} is {a} supported together with {b}{close}",
]
OPENERS = ["", "hi,", "hello team,", "quick question:", "urgent:", "sorry to bother,", "hey,"]
CLOSERS = ["?", " please?", " thanks!", " today?", " for our account?", " asap?", "? cheers"]
PASSAGES_PER_TOPIC = 8


@dataclass(frozen=True)
class Question:
    topic: int
    text: str
    chunks: tuple[str, ...]


def questions(per_topic: int, *, seed: int = 14, noise: float = 0.15, ungrounded: float = 0.15):
    """`per_topic` questions for each of the 24 topics, shuffled, with known topic index."""
    rng = random.Random(seed)
    names = list(TOPICS)
    out = []
    for t, name in enumerate(names):
        words = TOPICS[name]
        for _ in range(per_topic):
            a, b, c = rng.sample(words, 3)
            if rng.random() < 0.2:  # a word of another topic: topics share vocabulary too
                b = rng.choice(TOPICS[rng.choice(names)])
            text = rng.choice(TEMPLATES).format(
                open=rng.choice(OPENERS), close=rng.choice(CLOSERS), a=a, b=b, c=c
            )
            out.append(Question(t, text.strip(), _context(rng, t, len(names), noise, ungrounded)))
    rng.shuffle(out)
    return out


def _context(rng: random.Random, topic: int, topics: int, noise: float, ungrounded: float):
    if rng.random() < ungrounded:
        return ()
    chunks = []
    for _ in range(rng.randint(3, 5)):
        source = rng.randrange(topics) if rng.random() < noise else topic
        chunks.append(f"{source}-{rng.randrange(PASSAGES_PER_TOPIC)}")
    return tuple(dict.fromkeys(chunks))
