"""Turn prompts stored packed, each text once (chat.prompt_storage, issue #17).

Existing rows are packed here, and unpacked on the way back. `pack` keeps a row literal
unless its packed form reads back byte-identical, so neither direction can lose a byte.
"""

from django.db import migrations

import chat.models
from chat import prompt_storage

BATCH = 1000


def _rows(apps):
    Turn = apps.get_model("chat", "Turn")
    TurnContext = apps.get_model("chat", "TurnContext")
    fields = ("id", "question", "system_prompt", "rendered_context", "prompt_messages")
    last = None
    while True:
        page = Turn.objects.order_by("id")
        if last is not None:
            page = page.filter(id__gt=last)
        rows = list(page.values(*fields)[:BATCH])
        if not rows:
            return
        last = rows[-1]["id"]
        passages: dict = {}
        for turn_id, rank, text in TurnContext.objects.filter(
            turn_id__in=[r["id"] for r in rows]
        ).values_list("turn_id", "rank", "text"):
            passages.setdefault(turn_id, {})[rank] = text
        yield Turn, rows, passages


def _save(Turn, changed: list[tuple]) -> None:
    for turn_id, messages, rendered in changed:
        Turn.objects.filter(pk=turn_id).update(prompt_messages=messages, rendered_context=rendered)


def pack(apps, schema_editor):
    for Turn, rows, passages in _rows(apps):
        changed = []
        for r in rows:
            if prompt_storage.is_packed(r["prompt_messages"]):
                continue
            packed = prompt_storage.pack(
                messages=r["prompt_messages"],
                system_prompt=r["system_prompt"],
                rendered_context=r["rendered_context"],
                question=r["question"],
                passages=passages.get(r["id"], {}),
            )
            if packed != prompt_storage.Packed(r["prompt_messages"], r["rendered_context"]):
                changed.append((r["id"], packed.prompt_messages, packed.rendered_context))
        _save(Turn, changed)


def unpack(apps, schema_editor):
    for Turn, rows, passages in _rows(apps):
        changed = []
        for r in rows:
            if not prompt_storage.is_packed(r["prompt_messages"]):
                continue
            messages, rendered = prompt_storage.unpack(
                prompt_messages=r["prompt_messages"],
                system_prompt=r["system_prompt"],
                rendered_context=r["rendered_context"],
                question=r["question"],
                passages=lambda r=r, p=passages: p.get(r["id"], {}),
            )
            changed.append((r["id"], messages, rendered))
        _save(Turn, changed)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_topic_discovery"),
    ]

    operations = [
        migrations.AlterField(
            model_name="turn",
            name="prompt_messages",
            field=chat.models.PromptMessagesField(
                blank=True, default=list, help_text="The exact messages sent to the model"
            ),
        ),
        migrations.AlterField(
            model_name="turn",
            name="rendered_context",
            field=chat.models.RenderedContextField(
                blank=True, help_text="The context block as sent"
            ),
        ),
        migrations.RunPython(pack, unpack),
    ]
