"""Demo evaluators: the four built-in offline checks score every demo answer (so the review
screen, queue, alignment and analytics have scores to show), and an LLM judge whose criteria
match the demo rubric's — active only when an OpenAI key is configured."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from chat.models import Turn
from evaluation import services


def seed(stdout) -> None:
    with transaction.atomic():
        builtins = services.builtin_evaluators_ensure()
        lead = User.objects.filter(username="demo_lead").first()
        if not services.Evaluator.objects.filter(name="Demo judge").exists():
            services.evaluator_create(
                name="Demo judge",
                created_by=lead,
                description="Correctness and groundedness, on the review rubric's 1–5 scale.",
                sampling_rate=0.5,
                hourly_cap=200,
                is_active=bool(settings.OPENAI_API_KEY),
            )
        ids = list(Turn.objects.filter(status=Turn.Status.OK).values_list("id", flat=True))
        for evaluator in builtins:
            services.score_turns(version=evaluator.current, turn_ids=ids)
    stdout.write(f"evaluators: {len(builtins)} offline checks scored {len(ids)} answers\n")
