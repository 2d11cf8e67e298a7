"""Every example's prompt whole in `messages` (issue #17: each text stored once).

Examples approved before issue #17 whose turn had no logged messages kept their prompt as
`system_prompt` + `rendered_context` + `question`, rebuilt at each export. Here they get
those messages stored, by the same rule the exports used (chat.prompts.production_messages
with no logged messages, which is chat.prompt_storage.production_default). That function
takes plain strings and imports no models, so it is imported rather than copied: a copy
would be a second place for the rule to drift. 0010 then drops the two columns.
"""

from django.db import migrations

from chat.prompt_storage import production_default

BATCH = 1000


def messages_from_columns(apps, schema_editor):
    Example = apps.get_model("annotations", "Example")
    todo = Example.objects.filter(messages=[]).only(
        "pk", "system_prompt", "rendered_context", "question"
    )
    # Keyset batches rather than one iterator(): the rows are updated while they are read,
    # and SQLite gives a cursor no isolation from writes to the table it is reading.
    last = None
    while True:
        batch = list((todo if last is None else todo.filter(pk__gt=last)).order_by("pk")[:BATCH])
        if not batch:
            return
        for example in batch:
            example.messages = production_default(
                system_prompt=example.system_prompt,
                rendered_context=example.rendered_context,
                question=example.question,
            )
        Example.objects.bulk_update(batch, ["messages"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0008_pairwise_items"),
    ]

    operations = [
        # Going back needs nothing: 0010's reverse brings the columns back empty, which is
        # what every example approved since issue #17 has, and `messages` stay whole.
        migrations.RunPython(messages_from_columns, migrations.RunPython.noop),
    ]
