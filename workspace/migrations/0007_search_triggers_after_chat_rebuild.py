"""SQLite: the search triggers again, after chat 0011 rebuilt chat_turn.

Dropping `Turn.replay_job` (a foreign key) makes Django rebuild chat_turn on SQLite (a new
table, the rows copied, renamed), and a rebuilt table has none of the old one's triggers:
turns logged after it would never reach the search index. The index itself is intact (the
copy fires no trigger and the rows keep their ids), so only the triggers are made again, as
0006 wrote them. PostgreSQL alters in place: nothing to do there.
"""

import importlib

from django.db import migrations

SEARCH_0006 = importlib.import_module("workspace.migrations.0006_search_index_without_text_copies")
TRIGGERS = [s for s in SEARCH_0006.FORWARD if s.startswith(("DROP TRIGGER", "CREATE TRIGGER"))]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in TRIGGERS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("workspace", "0006_search_index_without_text_copies"),
        ("chat", "0011_remove_replay_jobs"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
