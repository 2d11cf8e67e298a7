from __future__ import annotations

import pytest

from tests.chat.conftest import ask, kb, llm_server, seeded_db  # noqa: F401  (shared fixtures)

BACKUPS = (
    "Every paid instance takes a daily snapshot that is kept for seven days. Professional "
    "instances also keep hourly snapshots for 24 hours. Restoring cannot be undone."
)
PRICING = "Invoices are issued on the first day of each month. You can pay by card."


@pytest.fixture
def log_turn(end_user):
    """log_turn(question, answer, passages=[...], user=end_user, model="m") -> a Turn, logged
    through the real ingestion service (as POST /api/v1/interactions does)."""
    from django.db import transaction

    from chat.models import Turn
    from chat.services import interactions_ingest

    def _log(question, answer, passages=(BACKUPS, PRICING), user=None, model="gpt-test", **extra):
        item = {
            "question": question,
            "answer": answer,
            "model": model,
            "context": [
                {"text": t, "title": f"doc {i}", "score": 0.5} for i, t in enumerate(passages)
            ],
            **extra,
        }
        with transaction.atomic():
            ((_, turn_id, _),) = interactions_ingest(user=user or end_user, items=[item])
        return Turn.objects.get(pk=turn_id)

    return _log
