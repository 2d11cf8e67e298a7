# The outbox moved from the graph app to its own app. The table keeps its name
# (graph_outboxentry) and its rows: on an existing database this migration only moves
# the model in Django's state; on a new one graph.0001/0002 have just created the table.

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Keep admin permissions given on the outbox: its content type changes app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="outbox", model="outboxentry").exists():
        ContentType.objects.filter(app_label="graph", model="outboxentry").update(
            app_label="outbox"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("graph", "0002_outbox_claim"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("entity", models.CharField(max_length=30)),
                        ("entity_id", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("last_error", models.TextField(blank=True)),
                        ("synced_at", models.DateTimeField(blank=True, null=True)),
                        ("claim", models.CharField(blank=True, default="", max_length=32)),
                        ("claimed_until", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "graph_outboxentry",
                        "verbose_name_plural": "outbox entries",
                        "indexes": [models.Index(fields=["synced_at", "id"], name="graph_outbo_synced__e94dc3_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, migrations.RunPython.noop),
    ]
