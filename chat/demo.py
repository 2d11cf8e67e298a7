"""Demo conversations, logged through the real chat path (offline provider, real retrieval).

demo_user and demo_user2 ask about the Acme Graph Cloud docs in demo/kb over the last few days,
some questions with grounding and some without (the same question both ways, so replay and the
review queue have something to compare), and rate many answers: thumbs up, and thumbs down
with the comments a real user would leave.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from chat import services
from chat.models import Feedback

# (user, conversation title, [(question, grounded, rating or None, comment)], days ago)
DEMO = [
    (
        "demo_user",
        "Backups and restores",
        4,
        [
            ("How do I restore a snapshot?", True, "up", ""),
            (
                "How long does a restore of a 10 GB instance take?",
                True,
                "up",
                "Exactly what I needed.",
            ),
            (
                "Are snapshots available on free instances?",
                True,
                "down",
                "Right answer, but the sentence about single sign-on has nothing to do with it.",
            ),
        ],
    ),
    (
        "demo_user",
        "Connecting from Python",
        3,
        [
            (
                "What port does Bolt use?",
                False,
                "down",
                "Didn't answer at all. It's 7687 with TLS.",
            ),
            ("What port does Bolt use?", True, "up", ""),
            ("I lost my instance password, what can I do?", True, "up", ""),
            (
                "Why does my driver say the URI scheme is unsupported?",
                True,
                "down",
                "Half right: it should tell me to use neo4j+s:// and upgrade old drivers.",
            ),
        ],
    ),
    (
        "demo_user",
        "Plans",
        2,
        [
            ("How much does the Professional plan cost?", False, "down", "No price given."),
            (
                "How much does the Professional plan cost?",
                True,
                "down",
                "Still no price. It's $65 per month for 1 GB.",
            ),
            ("Can I pay by bank transfer?", True, "up", ""),
            ("Can I downgrade from Professional to Free?", True, None, ""),
        ],
    ),
    (
        "demo_user2",
        "Vector search for our RAG app",
        1,
        [
            ("Which version do I need for vector indexes?", True, "up", ""),
            (
                "How many dimensions should the index have for text-embedding-3-small?",
                True,
                "up",
                "Good, 1536.",
            ),
            (
                "How should I store document chunks for GraphRAG?",
                False,
                "down",
                "Generic non-answer; the docs describe chunk nodes with HAS_CHUNK.",
            ),
            ("How should I store document chunks for GraphRAG?", True, "up", ""),
        ],
    ),
    (
        "demo_user2",
        "Enterprise questions",
        0,
        [
            ("Does Enterprise support single sign-on?", True, "up", ""),
            (
                "What is the support response time for critical issues?",
                True,
                "down",
                "Too much about invoices; the answer is one hour on Enterprise.",
            ),
            ("How do I import a large CSV file?", True, "up", ""),
            (
                "What happens to a free instance nobody uses?",
                False,
                "down",
                "Should say it pauses after three days.",
            ),
            ("Can I export metrics to Prometheus?", True, None, ""),
        ],
    ),
]


def seed(stdout) -> None:
    now = timezone.now()
    logged = rated = 0
    for username, title, days_ago, questions in DEMO:
        user = User.objects.get(username=username)
        conversation = services.conversation_create(user=user, title=title)
        for i, (question, grounded, rating, comment) in enumerate(questions):
            prepared = services.turn_prepare(
                conversation=conversation, user=user, question=question, grounded=grounded
            )
            prepared.created_at = now - timedelta(days=days_ago, minutes=(len(questions) - i) * 3)
            turn = services.turn_answer(prepared=prepared)
            logged += 1
            if rating:
                feedback = services.feedback_set(
                    turn=turn, user=user, rating=rating, comment=comment
                )
                # rated a minute after the answer, so ratings over time spread over the days
                # (the graph reads the row when its outbox entry is drained, after this)
                rated_at = prepared.created_at + timedelta(minutes=1)
                Feedback.objects.filter(pk=feedback.pk).update(
                    created_at=rated_at, updated_at=rated_at
                )
                rated += 1
    stdout.write(f"demo conversations loaded ({logged} turns, {rated} rated)")
