from django.core.management.base import BaseCommand, CommandError

from graph.reconcile import check, reconcile
from outbox.selectors import quarantined
from reviewhub.graphdb import configure


class Command(BaseCommand):
    help = (
        "Compare SQL (the system of record) with the graph: node ids missing/extra per "
        "label, relationship counts, and the lineage edges (contexts, topics, ratings, "
        "examples) edge by edge. Exit status 1 when they differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="repair what differs")

    def handle(self, *args, fix: bool, **options):
        configure()
        report = reconcile(fix=True) if fix else check()
        for label, d in report.labels.items():
            flag = "" if not (d.missing or d.extra) else "  <-- differs"
            self.stdout.write(
                f"{label:<13} sql {d.sql:>8}  graph {d.graph:>8}  "
                f"missing {len(d.missing):>6}  extra {len(d.extra):>6}{flag}"
            )
            for uid in d.missing[:10]:
                self.stdout.write(f"    missing {uid}")
            for uid in d.extra[:10]:
                self.stdout.write(f"    extra   {uid}")
        for rel, (want, have) in report.rels.items():
            flag = "" if want == have else "  <-- differs"
            self.stdout.write(f"{rel:<13} sql {want:>8}  graph {have:>8}{flag}")
        for rel, uids in report.links.items():
            if uids:
                self.stdout.write(f"{rel:<13} edges of {len(uids)} node(s) differ from SQL")
                for uid in uids[:10]:
                    self.stdout.write(f"    from    {uid}")
        for entity, uid, error in report.failed:
            self.stdout.write(f"could not write {entity} {uid}: {error}")
        held = list(quarantined()[:20])
        if held:
            self.stdout.write(
                f"{quarantined().count()} outbox row(s) quarantined "
                "(retry them on /graph/analytics/ after a fix):"
            )
            for row in held:
                self.stdout.write(f"    {row.entity} {row.entity_id}: {row.last_error[:300]}")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("no differences"))
        elif fix:
            after = check()
            if not after.ok:
                raise CommandError("still differs after repair:\n" + "\n".join(after.differences()))
            self.stdout.write(self.style.SUCCESS("differences repaired"))
        else:
            raise CommandError(
                f"{len(report.differences())} difference(s); run with --fix or graph_rebuild"
            )
