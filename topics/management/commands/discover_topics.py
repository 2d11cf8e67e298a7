from django.core.management.base import BaseCommand

from topics.services import topics_discover


class Command(BaseCommand):
    help = (
        "Discover topics over all logged questions now (topics/discovery.py), keeping the "
        "ids, names and pins of topics that persist. The topics page queues the same as a job."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, seed: int, **options):
        def report(fraction: float, stage: str, questions: int | None = None) -> None:
            self.stdout.write(f"{int(fraction * 100):3d}% {stage}")

        found, kept = topics_discover(seed=seed, progress=report)
        self.stdout.write(f"{found} topic(s), {kept} kept from the previous run")
