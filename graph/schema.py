"""The graph's schema, described once, and its constraints.

`ENTITIES`: the outbox entities the graph projects, in dependency order (nodes that others
point at are written first); the outbox accepts exactly these (graph.apps registers them).
`LABELS`: each node label, the SQL model whose rows are its nodes, the columns that hold
their uids and the outbox entity whose writer (graph/projection.py) owns them.
`RELS`: each relationship type, its end labels, its owner, and for the edges lineage answers
with, the Cypher that lists them so reconcile can compare them edge by edge.

reconcile (expected ids, what to re-sync for a difference, rebuild order) reads these
tables; graph/nodes.py declares the same labels and relationships as neomodel classes and
a test holds the two together. Constraints and indexes below come from those classes.

Installing: neomodel's `install_all_labels()` decides what exists by its own bookkeeping,
and on the embedded server a second run fails creating a constraint that is already there.
Both servers accept `CREATE CONSTRAINT/INDEX … IF NOT EXISTS`, so we issue that directly
from the node classes' declared `unique_index` / `index` properties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

if TYPE_CHECKING:  # neomodel (with the neo4j driver, ~30 MB) is imported where the graph is
    # used: graph.apps reads ENTITIES here in every Django process
    from neomodel import StructuredNode

ENTITIES = (
    "user",
    "topic",
    "document",
    "conversation",
    "turn",
    "feedback",
    "score",
    "review",
    "example",
    "release",
    "experiment",
)


@dataclass(frozen=True)
class Label:
    name: str  # the node label (a class of graph/nodes.py)
    entity: str  # the outbox entity whose writer writes these nodes
    model: str  # "app_label.Model" whose rows are the nodes
    uid_fields: tuple[str, ...] = ("pk",)  # the columns whose values are node uids
    owner_field: str = "pk"  # the column holding the id of the `entity` to re-sync
    scope: Callable[[QuerySet], QuerySet] | None = None  # which rows are nodes
    order: tuple[str, ...] = ("pk",)  # rebuild order (turns: conversation by conversation)

    def queryset(self) -> QuerySet:
        qs = apps.get_model(self.model).objects.all()
        return self.scope(qs) if self.scope else qs

    def owner_ids(self, uids: set[str]) -> set[str]:
        """The `entity` ids to re-sync so these nodes are written (read from SQL)."""
        model = apps.get_model(self.model)
        match = Q(pk__in=[])
        for name in self.uid_fields:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            match |= Q(**{f"{name}__in": _valid(field, uids)})
        owners = self.queryset().filter(match).values_list(self.owner_field, flat=True)
        return {str(pk) for pk in owners}


def _valid(field, values: set[str]) -> list:
    """The values the column can hold ("ext-…" uids are no UUIDs, for one)."""
    out = []
    for value in sorted(values):
        try:
            out.append(field.to_python(value))
        except (ValidationError, TypeError, ValueError):
            pass
    return out


LABELS = (
    # Only people who chatted belong in the graph (accounts alone say nothing about usage).
    Label(
        "User",
        "user",
        "auth.User",
        scope=lambda qs: qs.filter(conversations__isnull=False).distinct(),
    ),
    Label("Topic", "topic", "chat.Topic"),
    # Documents and chunks also come from context passages without a knowledge-base chunk
    # ("ext-" uids, graph.projection.external_ids): their owner is the turn.
    Label("Document", "document", "knowledge.Document"),
    Label("Chunk", "document", "knowledge.Chunk", owner_field="document_id"),
    Label("Conversation", "conversation", "chat.Conversation"),
    # A turn is two messages: the question (Turn.question_uid) and the answer (Turn.id).
    Label(
        "Message",
        "turn",
        "chat.Turn",
        uid_fields=("id", "question_uid"),
        order=("conversation_id", "position", "id"),
    ),
    Label("Feedback", "feedback", "chat.Feedback"),
    # Evaluator scores: one node per turn × evaluator version × criterion.
    Label("Score", "score", "evaluation.Score"),
    Label("Review", "review", "annotations.Review"),
    # A review with a corrected answer has a Correction node with the review's uid.
    Label(
        "Correction",
        "review",
        "annotations.Review",
        scope=lambda qs: qs.exclude(corrected_answer__regex=r"^\s*$"),
    ),
    Label("Example", "example", "annotations.Example"),
    Label("Release", "release", "datasets.Release"),
    # An experiment and its arms (the answers are Messages its arms PRODUCED).
    Label("Experiment", "experiment", "experiments.Experiment"),
    Label("Arm", "experiment", "experiments.Arm", owner_field="experiment_id"),
)
LABEL = {label.name: label for label in LABELS}
# The label whose nodes are the entity's own rows (its ids are the entity's ids).
ENTITY_LABEL = {
    entity: next(x for x in LABELS if x.entity == entity and x.owner_field == "pk")
    for entity in ENTITIES
}


@dataclass(frozen=True)
class Rel:
    type: str
    start: str  # label
    end: str  # label
    owner: str  # the outbox entity whose writer writes it (re-synced to repair it)
    # For the edges lineage answers with ("which context produced this answer", "what was
    # it rated"): Cypher returning one tuple per edge, the uid of the start node first;
    # reconcile compares these with the same tuples read from SQL.
    edges: str = ""


RELS = (
    Rel("STARTED", "User", "Conversation", "conversation"),
    Rel("FIRST", "Conversation", "Message", "turn"),
    Rel("NEXT", "Message", "Message", "turn"),
    Rel(
        "HAS_CONTEXT",
        "Message",
        "Chunk",
        "turn",
        "MATCH (a:Message)-[r:HAS_CONTEXT]->(c:Chunk) RETURN a.uid, c.uid, r.rank",
    ),
    Rel("HAS_CHUNK", "Document", "Chunk", "document"),
    Rel(
        "ABOUT",
        "Message",
        "Topic",
        "turn",
        "MATCH (q:Message)-[r:ABOUT]->(t:Topic) RETURN q.uid, t.uid, r.method, r.score",
    ),
    Rel("REPLAY_OF", "Message", "Message", "turn"),
    Rel(
        "RATES",
        "Feedback",
        "Message",
        "feedback",
        "MATCH (f:Feedback)-[:RATES]->(a:Message) RETURN f.uid, a.uid, f.rating",
    ),
    Rel(
        "SCORES",
        "Score",
        "Message",
        "score",
        "MATCH (s:Score)-[:SCORES]->(a:Message) RETURN s.uid, a.uid, s.criterion, s.value",
    ),
    Rel("REVIEWS", "Review", "Message", "review"),
    Rel("CORRECTS_WITH", "Review", "Correction", "review"),
    Rel(
        "FROM",
        "Example",
        "Message",
        "example",
        "MATCH (e:Example)-[:FROM]->(a:Message) RETURN e.uid, a.uid",
    ),
    Rel("INCLUDES", "Release", "Example", "release"),
    Rel("HAS_ARM", "Experiment", "Arm", "experiment"),
    # An arm's answers: its own (replays of the questions) or, for "the logged answers",
    # the original answers themselves.
    Rel(
        "PRODUCED",
        "Arm",
        "Message",
        "experiment",
        "MATCH (r:Arm)-[:PRODUCED]->(a:Message) RETURN r.uid, a.uid",
    ),
)
REL = {rel.type: rel for rel in RELS}


# --- constraints and indexes, from graph/nodes.py ----------------------------------------


def node_classes() -> list[type[StructuredNode]]:
    from neomodel import StructuredNode

    import graph.nodes as nodes

    return [
        obj
        for obj in vars(nodes).values()
        if isinstance(obj, type)
        and issubclass(obj, StructuredNode)
        and obj is not StructuredNode
        and obj.__module__ == nodes.__name__
    ]


def schema_statements() -> list[str]:
    statements = []
    for cls in node_classes():
        label = cls.__label__
        for name, prop in cls.defined_properties(aliases=False, rels=False).items():
            db_name = getattr(prop, "db_property", None) or name
            if getattr(prop, "unique_index", False):
                statements.append(
                    f"CREATE CONSTRAINT unique_{label}_{db_name} IF NOT EXISTS "
                    f"FOR (n:`{label}`) REQUIRE n.`{db_name}` IS UNIQUE"
                )
            elif getattr(prop, "index", False):
                statements.append(
                    f"CREATE INDEX index_{label}_{db_name} IF NOT EXISTS "
                    f"FOR (n:`{label}`) ON (n.`{db_name}`)"
                )
    return statements


def install_schema() -> list[str]:
    from neomodel import db

    statements = schema_statements()
    for statement in statements:
        db.cypher_query(statement)
    return statements
