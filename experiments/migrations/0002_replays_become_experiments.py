"""Every replay becomes an experiment: the logged answers against one new arm.

A replay's answers already are what an arm's answers are (turns in the replay's own
conversation, each with `replay_of` = its question), so the arm takes over that
conversation and nothing is copied. The experiment keeps the replay's id, so an old replay
URL redirects to it, and an outbox row brings it into the graph. A replay still queued or running becomes an experiment waiting for a
worker: the job sweeper hands it to one, and the run answers only what is unanswered.
"""

from django.db import migrations

STATUS = {"queued": "queued", "running": "queued", "done": "done", "failed": "failed"}


def replays_to_experiments(apps, schema_editor=None) -> int:
    ReplayJob = apps.get_model("chat", "ReplayJob")
    Experiment = apps.get_model("experiments", "Experiment")
    Arm = apps.get_model("experiments", "Arm")
    Evaluator = apps.get_model("evaluation", "Evaluator")
    OutboxEntry = apps.get_model("outbox", "OutboxEntry")
    # what a new experiment is scored by: the offline checks (no key needed)
    offline = sorted(Evaluator.objects.filter(kind="offline").values_list("name", flat=True))
    moved = 0
    for job in ReplayJob.objects.all().iterator():
        if Experiment.objects.filter(pk=job.pk).exists():
            continue
        questions = [str(t) for t in job.turn_ids]
        experiment = Experiment.objects.create(
            id=job.pk,
            name=f"Replay of {len(questions)} question{'s' if len(questions) != 1 else ''}",
            source="filter" if job.filters else "list",
            filters=job.filters or {},
            question_ids=questions,
            question_hash=_hash(questions),
            evaluators=offline,
            status=STATUS.get(job.status, "failed"),
            total=job.total,
            done=job.done,
            failed=job.failed,
            error=job.error,
            created_by_id=job.created_by_id,
            finished_at=job.finished_at,
            attempts=job.attempts,
        )
        Experiment.objects.filter(pk=experiment.pk).update(created_at=job.created_at)
        Arm.objects.create(experiment=experiment, position=0, label="logged answers", kind="logged")
        Arm.objects.create(
            experiment=experiment,
            position=1,
            label=f"{job.model_key.split(':', 1)[-1]}{' + grounding' if job.grounded else ''}",
            kind="model",
            model_key=job.model_key,
            prompt_template_id=job.prompt_template_id,
            grounded=job.grounded,
            conversation_id=job.conversation_id,
        )
        job.delete()
        # the graph shows it (experiment, arms, their answers) once the outbox is drained
        OutboxEntry.objects.create(entity="experiment", entity_id=str(experiment.pk))
        moved += 1
    return moved


def _hash(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0001_initial"),
        ("chat", "0007_topic_discovery"),
        ("evaluation", "0001_initial"),
        ("outbox", "0002_quarantine"),
    ]

    operations = [migrations.RunPython(replays_to_experiments, migrations.RunPython.noop)]
