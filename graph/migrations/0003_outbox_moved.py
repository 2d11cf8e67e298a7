# OutboxEntry now belongs to the outbox app (outbox.0001), same table and rows:
# drop it from the graph app's state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("graph", "0002_outbox_claim"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxEntry")],
            database_operations=[],
        ),
    ]
