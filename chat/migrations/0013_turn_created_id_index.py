"""One index for a turn's time, (created_at, id), on both databases (issue #17).

PostgreSQL had two: `created_at`'s own (db_index) and workspace 0003's (created_at, id), made
for the explorer's keyset pages, which serves every query the first did. Each turn logged
paid for both: dropping the first saves ~3.5 ms of the database server's ~64 ms of CPU a
500-interaction ingestion request (measured in process, 24 batches, this machine).
SQLite had only the first; it now has (created_at, id) in its place, the same index the
explorer's pages walk on PostgreSQL.

State and database are changed apart: an AlterField would make Django rebuild chat_turn on
SQLite, which drops the search triggers (see workspace 0007).
"""

from django.db import migrations, models

OLD = "chat_turn_created_at_329daab0"  # Django's name for created_at's db_index


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":  # PostgreSQL has it (workspace 0003)
        schema_editor.execute("CREATE INDEX turn_created_id ON chat_turn (created_at, id)")
    schema_editor.execute(f"DROP INDEX {OLD}")


def backward(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX {OLD} ON chat_turn (created_at)")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute("DROP INDEX turn_created_id")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0012_ingest_batch"),
        ("workspace", "0003_stored_search_document"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="turn",
                    name="created_at",
                    field=models.DateTimeField(),
                ),
                migrations.AddIndex(
                    model_name="turn",
                    index=models.Index(fields=["created_at", "id"], name="turn_created_id"),
                ),
            ],
        )
    ]
