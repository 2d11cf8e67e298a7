"""Prompt templates: which version is active, and rendering the exact messages sent to a model.

The system message is the template's system prompt followed (when grounded) by the context
block; `Turn.system_prompt`, `Turn.rendered_context` and `Turn.prompt_messages` read back
exactly that (stored packed, each text once: chat.prompt_storage), so every turn's prompt can
be reconstructed and exported as it was seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from chat import prompt_storage
from chat.models import PromptTemplate

HISTORY_TURNS = 4
_FIELD = re.compile(r"\{(rank|title|text|source|score|context)\}")


def active_template(name: str = "default") -> PromptTemplate | None:
    return PromptTemplate.objects.filter(name=name, is_active=True).order_by("-version").first()


def fill(template: str, values: dict[str, object]) -> str:
    """Replace {field} markers in one pass, so braces inside passage text are left alone."""
    return _FIELD.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


@dataclass
class RenderedPrompt:
    system_prompt: str
    rendered_context: str
    messages: list[dict]


def render(
    *,
    template: PromptTemplate | None,
    question: str,
    contexts: list[dict],
    history: list[tuple[str, str]],
) -> RenderedPrompt:
    """contexts: dicts of rank, title, text, source, score; history: earlier (question, answer)."""
    system = template.system_prompt if template else ""
    rendered_context = ""
    if contexts and template:
        block = "\n\n".join(fill(template.chunk_template, ctx) for ctx in contexts)
        rendered_context = fill(template.context_template, {"context": block})
    content = "\n\n".join(part for part in (system, rendered_context) if part)
    messages: list[dict] = [{"role": "system", "content": content}] if content else []
    for asked, answered in history[-HISTORY_TURNS:]:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    messages.append({"role": "user", "content": question})
    return RenderedPrompt(
        system_prompt=system, rendered_context=rendered_context, messages=messages
    )


def production_messages(
    *,
    prompt_messages: list[dict] | None,
    system_prompt: str,
    question: str,
    rendered_context: str = "",
) -> list[dict]:
    """The prompt a model saw for one turn, as {role, content} messages: the one rule used by
    logging, review, examples and every export.

    The logged messages when there are any (the chat path stores exactly what it sent,
    history included); otherwise (API clients that sent no messages) the system prompt with
    the rendered context appended as `render` builds it, then the question.
    """
    if prompt_messages:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt_messages]
    return prompt_storage.production_default(
        system_prompt=system_prompt, rendered_context=rendered_context, question=question
    )


def turn_production_messages(turn) -> list[dict]:
    return production_messages(
        prompt_messages=turn.prompt_messages,
        system_prompt=turn.system_prompt,
        rendered_context=turn.rendered_context,
        question=turn.question,
    )


@transaction.atomic
def prompt_template_new_version(
    *,
    base: PromptTemplate,
    system_prompt: str,
    context_template: str,
    chunk_template: str,
    user=None,
) -> PromptTemplate:
    """A change to a template is a new version; the old one stays as it was (turns point at it)."""
    latest = PromptTemplate.objects.filter(name=base.name).aggregate(v=Max("version"))["v"] or 0
    return PromptTemplate.objects.create(
        name=base.name,
        version=latest + 1,
        system_prompt=system_prompt,
        context_template=context_template,
        chunk_template=chunk_template,
        is_active=True,
        created_by=user,
    )
