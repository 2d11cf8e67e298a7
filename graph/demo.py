"""Demo topics for the demo knowledge base, assigned by the keyword method (chat.topics)."""

from django.db import transaction

from chat.models import Topic
from chat.topics import assign_topics
from outbox.services import record

DEMO_TOPICS = {
    "Backups": ["backup", "backups", "snapshot", "snapshots", "restore"],
    "Billing and plans": [
        "plan",
        "plans",
        "price",
        "pricing",
        "invoice",
        "pay",
        "professional",
        "enterprise",
        "cost",
    ],
    "Connecting": [
        "connect",
        "connecting",
        "connection",
        "bolt",
        "port",
        "driver",
        "python",
        "uri",
        "tls",
    ],
    "Vector search": ["vector", "embedding", "embeddings", "graphrag", "similarity", "index"],
    "Security": ["password", "sso", "single sign-on", "access", "credentials", "security"],
    "Monitoring": ["monitoring", "metrics", "alert", "alerts", "prometheus", "memory"],
    "Importing data": ["import", "csv", "load", "export"],
}


def seed(stdout) -> None:
    with transaction.atomic():
        topics = [
            Topic.objects.get_or_create(name=name, defaults={"keywords": keywords})[0]
            for name, keywords in DEMO_TOPICS.items()
        ]
        record("topic", [topic.id for topic in topics])
    changed = assign_topics()
    stdout.write(f"demo topics assigned to {changed} questions")
