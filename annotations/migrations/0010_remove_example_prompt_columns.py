# Separate from 0009: on PostgreSQL, altering a table in the transaction that just updated
# its rows can fail with "pending trigger events" (its foreign keys are deferred).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0009_example_messages_whole"),
    ]

    operations = [
        migrations.RemoveField(model_name="example", name="system_prompt"),
        migrations.RemoveField(model_name="example", name="rendered_context"),
    ]
