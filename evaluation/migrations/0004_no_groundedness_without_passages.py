"""Groundedness no longer scores an answer given no passages (it had nothing to be grounded in;
the 0 it got counted every ungrounded answer wrong). Scores stored before say so in their
reason: deleted here, and the graph told through the outbox (its Score nodes go with the next
drain), as a re-run of the check would now leave them."""

from django.db import migrations
from django.utils import timezone

OLD_REASON = "no passages were given, so nothing in the answer is supported"


def forwards(apps, schema_editor):
    Score = apps.get_model("evaluation", "Score")
    OutboxEntry = apps.get_model("outbox", "OutboxEntry")
    old = Score.objects.filter(criterion="groundedness", reason=OLD_REASON)
    ids = [str(pk) for pk in old.values_list("pk", flat=True)]
    if not ids:
        return
    now = timezone.now()
    OutboxEntry.objects.bulk_create(
        [OutboxEntry(entity="score", entity_id=pk, created_at=now) for pk in ids],
        batch_size=1000,
    )
    old.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0003_kb_support_builtin"),
        ("outbox", "0002_quarantine"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
