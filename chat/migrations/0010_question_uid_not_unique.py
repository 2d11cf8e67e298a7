"""Turn.question_uid without a unique index (issue #17): it is a random uuid4 made on logging,
never a client's value and never looked up; the unique index cost ~45 B and an index write
per logged turn. On SQLite this rebuilds chat_turn, which drops the triggers on it:
workspace 0006 (which depends on this) creates the search triggers afresh."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0009_compact_turn_storage"),
    ]

    operations = [
        migrations.AlterField(
            model_name="turn",
            name="question_uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
    ]
