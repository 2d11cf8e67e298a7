"""Replay jobs are gone: every replay is an experiment (experiments 0002 moved the old
ones over, keeping their ids), so the ReplayJob table and `Turn.replay_job` (NULL on every
turn since then) are dropped."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0010_question_uid_not_unique"),
        ("experiments", "0002_replays_become_experiments"),  # reads ReplayJob: runs first
    ]

    operations = [
        migrations.RemoveIndex(model_name="turn", name="turn_replay_job_set"),
        migrations.RemoveField(model_name="turn", name="replay_job"),
        migrations.DeleteModel(name="ReplayJob"),
    ]
