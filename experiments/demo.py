"""Demo experiment: "Did grounding help?", the article's first question. The answers users
rated down against the offline model answering them again with grounding on, scored by the
built-in checks: the experiments page opens on results rather than an empty list. Made and
run through the real experiment path (here rather than on the worker, so `make run` shows it
at once; the offline model needs no key)."""

from __future__ import annotations

from django.contrib.auth.models import User

from chat import llm
from experiments import services
from experiments.models import Arm, Experiment

NAME = "Did grounding help?"


def seed(stdout) -> None:
    lead = User.objects.get(username="demo_lead")
    if Experiment.objects.filter(name=NAME).exists():
        return
    filters = {"rating": "down"}
    questions = services.questions_from_filter(filters, limit=50)
    if not questions:
        return
    experiment = services.experiment_create(
        user=lead,
        name=NAME,
        description="The answers users rated down, against the same questions answered again "
        "with grounding on.",
        arms=[
            services.ArmSpec(label="logged answers", kind=Arm.Kind.LOGGED),
            services.ArmSpec(
                label="offline + grounding",
                model_key=f"offline:{llm.OFFLINE_MODEL}",
                grounded=True,
            ),
        ],
        question_ids=questions,
        source=Experiment.Source.FILTER,
        filters=filters,
        enqueue=False,
    )
    experiment = services.experiment_run(experiment_id=experiment.id)
    stdout.write(f"experiments: “{NAME}” over {len(questions)} questions, {experiment.status}\n")
