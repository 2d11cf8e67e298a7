"""Check the graph against SQL, repair what differs, rebuild it from scratch.

What the graph should hold is computed from SQL through the schema tables
(graph.schema: LABELS, RELS): node ids per label, relationship counts per type and, for
the edges lineage answers with, the edges themselves. A difference is repaired by
re-running the writer that owns the nodes or edges (graph.projection).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from neomodel import db

from graph.cypher import WRITE_BATCH, UuidText, batches, delete_nodes, delete_rels, wipe, write
from graph.drain import isolate_failures
from graph.projection import external_ids, sync
from graph.schema import ENTITIES, ENTITY_LABEL, LABEL, LABELS, REL, RELS

log = logging.getLogger(__name__)


@dataclass
class LabelDiff:
    sql: int
    graph: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


@dataclass
class Report:
    labels: dict[str, LabelDiff]
    rels: dict[str, tuple[int, int]]  # type -> (sql, graph)
    # type -> uids of the nodes whose edges of that type differ from SQL (Rel.edges)
    links: dict[str, list[str]] = field(default_factory=dict)
    sql_ids: dict[str, set[str]] = field(default_factory=dict, repr=False)
    # (entity, id, error) of what a repair could not write (a bad row: see graph.drain)
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            all(not d.missing and not d.extra for d in self.labels.values())
            and all(s == g for s, g in self.rels.values())
            and not any(self.links.values())
        )

    def differences(self) -> list[str]:
        lines = []
        for label, d in self.labels.items():
            if d.missing or d.extra:
                lines.append(
                    f"{label}: sql {d.sql}, graph {d.graph}; missing {len(d.missing)} "
                    f"{d.missing[:5]}, extra {len(d.extra)} {d.extra[:5]}"
                )
        for rel, (s, g) in self.rels.items():
            if s != g:
                lines.append(f"{rel}: sql {s}, graph {g}")
        for rel, uids in self.links.items():
            if uids:
                lines.append(f"{rel}: edges of {len(uids)} node(s) differ from SQL {uids[:5]}")
        return lines


def _external_contexts() -> list[tuple[str, int, str, str]]:
    """(turn id, rank, document uid, chunk uid) of every context passage without a
    knowledge-base chunk (see `external_ids`)."""
    from chat.models import TurnContext

    return [
        (t, rank, *external_ids(source, text))
        for t, rank, source, text in TurnContext.objects.filter(chunk=None).values_list(
            UuidText("turn_id"), "rank", "source", "text"
        )
    ]


def expected(external: list[tuple] | None = None) -> tuple[dict[str, set[str]], dict[str, int]]:
    """What the graph should hold, computed from SQL: node ids per label and
    relationship counts per type. `external`: `_external_contexts()`, if already read."""
    from chat.models import Conversation, TopicMembership, TurnContext
    from datasets.models import ReleaseItem

    message = LABEL["Message"]
    # The turns are read once, for the messages' ids and for the edges counted below.
    turns = list(
        message.queryset().values_list(*message.uid_fields, "conversation_id", "replay_of_id")
    )
    ids = {"Message": {str(uid) for t in turns for uid in t[:2]}}
    for label in LABELS:
        if label.name != "Message":
            ids[label.name] = _uids(label)
    external = _external_contexts() if external is None else external
    ids["Document"] |= {e[2] for e in external}
    ids["Chunk"] |= {e[3] for e in external}
    convs_with_turns = len({t[2] for t in turns})
    counts: dict[str, Callable[[], int]] = {
        "STARTED": Conversation.objects.count,
        "FIRST": lambda: convs_with_turns,
        "NEXT": lambda: 2 * len(turns) - convs_with_turns,
        "HAS_CONTEXT": TurnContext.objects.count,
        "HAS_CHUNK": lambda: len(ids["Chunk"]),
        "ABOUT": TopicMembership.objects.count,  # one per membership (keyword, discovered, manual)
        "REPLAY_OF": lambda: sum(1 for t in turns if t[3]),
        "RATES": lambda: len(ids["Feedback"]),
        "SCORES": lambda: len(ids["Score"]),
        "REVIEWS": lambda: len(ids["Review"]),
        "CORRECTS_WITH": lambda: len(ids["Correction"]),
        "FROM": lambda: len(ids["Example"]),
        "INCLUDES": ReleaseItem.objects.count,
        "HAS_ARM": lambda: len(ids["Arm"]),
        "PRODUCED": lambda: len(_produced()),
    }
    return ids, {rel.type: counts[rel.type]() for rel in RELS}


def _uids(label) -> set[str]:
    return {str(v) for row in label.queryset().values_list(*label.uid_fields) for v in row}


def expected_links(external: list[tuple] | None = None) -> dict[str, set[tuple]]:
    """The tuples each compared relationship's `Rel.edges` should return, from SQL.
    `external` as for `expected`."""
    from annotations.models import Example
    from chat.models import Feedback, TopicMembership, TurnContext
    from evaluation.models import Score

    contexts = {
        (t, c, rank)
        for t, c, rank in TurnContext.objects.exclude(chunk=None).values_list(
            *map(UuidText, ("turn_id", "chunk_id")), "rank"
        )
    }
    external = _external_contexts() if external is None else external
    contexts |= {(t, chunk, rank) for t, rank, _, chunk in external}
    return {
        "HAS_CONTEXT": contexts,
        "ABOUT": set(
            TopicMembership.objects.values_list(
                *map(UuidText, ("turn__question_uid", "topic_id")), "method", "score"
            )
        ),
        "RATES": set(Feedback.objects.values_list(*map(UuidText, ("id", "turn_id")), "rating")),
        "FROM": set(Example.objects.values_list(*map(UuidText, ("id", "turn_id")))),
        "PRODUCED": _produced(),
        "SCORES": {
            (str(pk), turn, criterion, value)
            for pk, turn, criterion, value in Score.objects.values_list(
                "id", UuidText("turn_id"), "criterion", "value"
            )
        },
    }


def _produced() -> set[tuple[str, str]]:
    """(arm uid, answer uid) for every experiment arm's answers, from SQL: a model arm's
    are the turns of its conversation, a logged arm's the questions' own turns."""
    from chat.models import Turn
    from experiments.models import Arm

    arm_of = {
        str(c): str(a)
        for a, c in Arm.objects.filter(kind=Arm.Kind.MODEL, conversation__isnull=False).values_list(
            "id", "conversation_id"
        )
    }
    answers = Turn.objects.filter(conversation_id__in=list(arm_of)).values_list(
        UuidText("conversation_id"), UuidText("id")
    )
    out = {(arm_of[c], t) for c, t in answers}
    logged = list(
        Arm.objects.filter(kind=Arm.Kind.LOGGED).values_list("id", "experiment__question_ids")
    )
    wanted = {q for _, questions in logged for q in questions}
    there = set(Turn.objects.filter(pk__in=wanted).values_list(UuidText("id"), flat=True))
    return out | {(str(a), q) for a, questions in logged for q in questions if q in there}


def check() -> Report:
    external = _external_contexts()  # read once for both
    want_ids, want_rels = expected(external)
    labels = {}
    for label, want in want_ids.items():
        rows, _ = db.cypher_query(f"MATCH (n:{label}) RETURN n.uid")
        have = [r[0] for r in rows]
        dupes = {u for u in have if have.count(u) > 1} if len(have) != len(set(have)) else set()
        have_set = set(have)
        labels[label] = LabelDiff(
            sql=len(want),
            graph=len(have),
            missing=sorted(want - have_set),
            extra=sorted((have_set - want) | dupes),
        )
    rows, _ = db.cypher_query("MATCH ()-[r]->() RETURN type(r), count(*)")
    have_rels = {t: c for t, c in rows}
    rels = {t: (want_rels.get(t, 0), have_rels.get(t, 0)) for t in set(want_rels) | set(have_rels)}
    links = {}
    for rel, want in expected_links(external).items():
        rows, _ = db.cypher_query(REL[rel].edges)
        links[rel] = sorted({edge[0] for edge in want ^ {tuple(r) for r in rows}})
    return Report(
        labels=dict(sorted(labels.items())),
        rels=dict(sorted(rels.items())),
        links=links,
        sql_ids=want_ids,
    )


def reconcile(*, fix: bool = True, batch_size: int = WRITE_BATCH) -> Report:
    """Compare SQL with the graph; with `fix`, repair what differs. Returns the report
    from before the repair."""
    from chat.models import TurnContext

    report = check()
    if not fix or report.ok:
        return report
    todo: dict[str, set[str]] = defaultdict(set)
    for name, diff in report.labels.items():
        if diff.extra:  # not in SQL (or duplicated): remove, then re-add what SQL has
            delete_nodes(name, diff.extra)
            missing = set(diff.missing) | (set(diff.extra) & report.sql_ids[name])
        else:
            missing = set(diff.missing)
        if not missing:
            continue
        label = LABEL[name]
        todo[label.entity] |= label.owner_ids(missing)
        if name in {"Chunk", "Document"} and any(m.startswith("ext-") for m in missing):
            # passages without a knowledge-base chunk: their turns write them
            todo["turn"] |= {
                str(t)
                for t in TurnContext.objects.filter(chunk=None).values_list("turn_id", flat=True)
            }
    for rel, (want, have) in report.rels.items():
        if want != have and rel in REL:
            # Duplicates are invisible to MERGE: drop the type and let its owner rewrite it.
            delete_rels(rel)
            todo[REL[rel].owner] |= set(all_ids(REL[rel].owner))
    for rel, uids in report.links.items():
        if not uids:
            continue
        # MERGE keeps a wrong edge beside the right one: drop these nodes' edges first.
        start = LABEL[REL[rel].start]
        write(f"UNWIND $rows AS id MATCH (n:{start.name} {{uid: id}})-[r:{rel}]->() DELETE r", uids)
        todo[REL[rel].owner] |= start.owner_ids(set(uids))  # ABOUT leaves the question
    for entity in ENTITIES:
        for part in batches(sorted(todo.get(entity, ())), batch_size):
            report.failed += _sync_isolating(entity, part)
    return report


def _sync_isolating(entity: str, ids: list[str], *, deps: bool = True) -> list[tuple]:
    """sync() that writes every id it can: a bad row is isolated (graph.drain) and
    returned as (entity, id, error) instead of stopping the repair."""
    bad = isolate_failures(ids, lambda part: sync(entity, part, deps=deps))
    for uid, exc in bad:
        log.warning("graph repair could not write %s %s: %r", entity, uid, exc)
    return [(entity, uid, repr(exc)[:500]) for uid, exc in bad]


def all_ids(entity: str) -> list[str]:
    """Every id of the entity in SQL, in rebuild order (ENTITY_LABEL's `order`)."""
    label = ENTITY_LABEL[entity]
    qs = label.queryset().order_by(*label.order)
    return [str(pk) for pk in qs.values_list("pk", flat=True)]


def rebuild(
    *,
    batch_size: int = WRITE_BATCH,
    clean: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Report | None:
    """Write everything SQL holds into the graph, entity by entity, in batches. With
    `clean` the graph is emptied first; otherwise nodes SQL no longer has are removed
    afterwards (so this doubles as a full reconcile-fix)."""
    if clean:
        wipe()
    for entity in ENTITIES:
        for part in batches(all_ids(entity), batch_size):
            _sync_isolating(entity, part, deps=False)
            if progress:
                progress(entity, len(part))
    if clean:
        return None
    return reconcile(fix=True)
