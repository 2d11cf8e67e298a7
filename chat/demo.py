"""Demo conversations. (Issue #6 replaces this with turns logged through the chat path.)"""

from django.contrib.auth.models import User
from django.utils import timezone

from chat.models import Conversation, Turn

DEMO_QUESTIONS = [
    ("How do I restore a snapshot?", "Open the snapshot and choose Restore."),
    ("What port does Bolt use?", "Bolt uses port 7687 with TLS."),
    ("How much is the Professional plan?", "It starts at $65 per month for 1 GB."),
]


def seed(stdout) -> None:
    user = User.objects.get(username="demo_user")
    conversation = Conversation.objects.create(user=user, title="Demo questions")
    for position, (question, answer) in enumerate(DEMO_QUESTIONS):
        Turn.objects.create(conversation=conversation, user=user, position=position,
                            question=question, answer=answer, provider="offline",
                            model="offline-extractive", created_at=timezone.now())
    stdout.write("demo conversations loaded")
