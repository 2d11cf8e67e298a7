"""Seed version 1 of the default prompt template (only when no template exists)."""

from django.db import migrations

SYSTEM_PROMPT = (
    "You are the support assistant for Acme Graph Cloud. Answer the user's question clearly and "
    "briefly. When context passages are given, answer only from them and cite them as [n]; if they "
    "do not contain the answer, say you don't know rather than guessing."
)
CONTEXT_TEMPLATE = "Context passages from the knowledge base:\n\n{context}"
CHUNK_TEMPLATE = "[{rank}] {title}\n{text}"


def seed(apps, schema_editor):
    PromptTemplate = apps.get_model("chat", "PromptTemplate")
    if not PromptTemplate.objects.exists():
        PromptTemplate.objects.create(name="default", version=1, system_prompt=SYSTEM_PROMPT,
                                      context_template=CONTEXT_TEMPLATE,
                                      chunk_template=CHUNK_TEMPLATE, is_active=True)


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_api_tokens_replay_jobs")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
