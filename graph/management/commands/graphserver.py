from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from graph.server import serve


class Command(BaseCommand):
    help = "Run the embedded Bolt graph server (ArcadeDB) until Ctrl-C."
    requires_system_checks = []  # the server needs no URLs or models checked

    def add_arguments(self, parser):
        parser.add_argument("--bolt-port", type=int, default=settings.GRAPH_BOLT_PORT)
        parser.add_argument("--http-port", type=int, default=settings.GRAPH_HTTP_PORT)
        parser.add_argument("--data-dir", default=str(settings.GRAPH_DATA_DIR))

    def handle(self, *args, bolt_port, http_port, data_dir, **options):
        serve(
            data_dir=Path(data_dir).resolve(),
            bolt_port=bolt_port,
            http_port=http_port,
            password=settings.GRAPH_PASSWORD,
            database=settings.GRAPH_DATABASE,
            heap=settings.GRAPH_HEAP,
            jvm_args=settings.GRAPH_JVM_ARGS,
            page_cache_mb=settings.GRAPH_PAGE_CACHE_MB,
            ready=lambda msg: self.stdout.write(msg, ending="\n") or self.stdout.flush(),
        )
