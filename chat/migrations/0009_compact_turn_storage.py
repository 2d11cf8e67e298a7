"""Smaller logged turns (issue #17): the foreign keys most turns leave empty (prompt
template, topic, replay of, replay job; a passage's chunk) get partial indexes
(WHERE … IS NOT NULL) instead of full ones, which held an entry per row for NULL. A lookup
by value (`topic_id = %s`, `… IN (…)`) implies NOT NULL, so it still uses them, on SQLite
and PostgreSQL alike.

Raw index statements rather than Django's AlterField(db_index=False): on SQLite that
rebuilds chat_turn, and a rebuilt table loses the triggers the workspace search keeps on it.
"""

from django.db import migrations, models

NULLABLE_FKS = ("prompt_template", "topic", "replay_of", "replay_job")


def _partial(field_name: str, name: str) -> models.Index:
    return models.Index(
        fields=[field_name], condition=models.Q(**{f"{field_name}__isnull": False}), name=name
    )


def _indexes(apps) -> list[tuple]:
    """(model, foreign key, Django's name for its full index, the partial index)."""
    Turn = apps.get_model("chat", "Turn")
    TurnContext = apps.get_model("chat", "TurnContext")
    pairs = [(Turn, name, f"turn_{name}_set") for name in NULLABLE_FKS]
    pairs.append((TurnContext, "chunk", "context_chunk_set"))
    return pairs


def _full(schema_editor, model, field_name: str):
    field = model._meta.get_field(field_name)
    name = schema_editor._create_index_name(model._meta.db_table, [field.column])
    return field, name


def forward(apps, schema_editor):
    for model, field_name, partial_name in _indexes(apps):
        _, name = _full(schema_editor, model, field_name)
        schema_editor.execute(schema_editor._delete_index_sql(model, name))
        schema_editor.add_index(model, _partial(field_name, partial_name))


def backward(apps, schema_editor):
    for model, field_name, partial_name in _indexes(apps):
        schema_editor.remove_index(model, _partial(field_name, partial_name))
        field, name = _full(schema_editor, model, field_name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], name=name))


def _fk(to: str, on_delete, related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=on_delete,
        related_name=related_name,
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0008_pack_prompts"),
        ("knowledge", "0002_chunk_embedding_model"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="turn",
                    name="prompt_template",
                    field=_fk("chat.prompttemplate", models.PROTECT, "turns"),
                ),
                migrations.AlterField(
                    model_name="turn",
                    name="replay_job",
                    field=_fk("chat.replayjob", models.SET_NULL, "turns"),
                ),
                migrations.AlterField(
                    model_name="turn",
                    name="replay_of",
                    field=_fk("chat.turn", models.SET_NULL, "replays"),
                ),
                migrations.AlterField(
                    model_name="turn",
                    name="topic",
                    field=_fk("chat.topic", models.SET_NULL, "turns"),
                ),
                migrations.AlterField(
                    model_name="turncontext",
                    name="chunk",
                    field=_fk("knowledge.chunk", models.SET_NULL, "turn_contexts"),
                ),
                *(
                    migrations.AddIndex(model_name="turn", index=_partial(name, f"turn_{name}_set"))
                    for name in NULLABLE_FKS
                ),
                migrations.AddIndex(
                    model_name="turncontext", index=_partial("chunk", "context_chunk_set")
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
