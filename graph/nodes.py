"""neomodel node classes: one label per class (the embedded server stores one type per
vertex, so no label inheritance). Ids (`uid`) are the relational ids as strings.

The schema (DESIGN.md):

    (:User)-[:STARTED]->(:Conversation)-[:FIRST]->(:Message)-[:NEXT]->(:Message)
    (:Message {role:'assistant'})-[:HAS_CONTEXT {rank, score}]->(:Chunk)<-[:HAS_CHUNK]-(:Document)
    (:Feedback)-[:RATES]->(:Message)          (:Review)-[:REVIEWS]->(:Message)
    (:Review)-[:CORRECTS_WITH]->(:Correction) (:Example)-[:FROM]->(:Message)
    (:Release)-[:INCLUDES]->(:Example)        (:Message)-[:REPLAY_OF]->(:Message)
    (:Message {role:'user'})-[:ABOUT]->(:Topic)  (:Score)-[:SCORES]->(:Message)
    (:Experiment)-[:HAS_ARM]->(:Arm)-[:PRODUCED]->(:Message)

A turn is two messages: the question (uid = Turn.question_uid, role 'user') and the
answer (uid = Turn.id, role 'assistant'). Both carry `turn_uid` and `conversation_uid`
so a deleted turn or conversation can be removed without its SQL row. Those two (and
`Chunk.document_uid`) are deliberately not indexed: every index slows the hot write path
(measured ~2× on message upserts), while the lookups they would serve are rare deletes
that go through `uid` and relationships instead.

Context passages that came through the ingestion API without a knowledge-base chunk
become `Chunk {external: true}` nodes keyed by a hash of source + text, under a
`Document {external: true}` keyed by a hash of the source (see `graph.projection.external_ids`).

Bulk writes go through `graph.projection` (UNWIND … MERGE). graph/schema.py describes the
labels and relationships once (LABELS, RELS: SQL source, owner, compared edges); these
classes declare the same ones for neomodel (tests/graph/test_schema.py holds them together),
drive the constraints (`graph.schema.install_schema`) and serve single edits and the benchmark.
"""

from neomodel import (
    BooleanProperty,
    DateTimeNeo4jFormatProperty,
    FloatProperty,
    IntegerProperty,
    JSONProperty,
    RelationshipTo,
    StringProperty,
    StructuredNode,
    StructuredRel,
)


class ContextRel(StructuredRel):
    rank = IntegerProperty()
    score = FloatProperty()


class AboutRel(StructuredRel):
    method = StringProperty()  # keyword | discovered | manual (chat.TopicMembership)
    score = FloatProperty()


class User(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    username = StringProperty()

    started = RelationshipTo("Conversation", "STARTED")


class Conversation(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    title = StringProperty()
    source = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()

    first_message = RelationshipTo("Message", "FIRST")


class Topic(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    name = StringProperty()
    keywords = JSONProperty()
    method = StringProperty()  # keyword | discovered
    pinned = BooleanProperty(default=False)
    terms = JSONProperty()


class Document(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    title = StringProperty()
    source = StringProperty()
    checksum = StringProperty()
    external = BooleanProperty(default=False)
    created_at = DateTimeNeo4jFormatProperty()

    chunks = RelationshipTo("Chunk", "HAS_CHUNK")


class Chunk(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    document_uid = StringProperty()
    index = IntegerProperty()
    text = StringProperty()
    external = BooleanProperty(default=False)


class Message(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    role = StringProperty(choices={"user": "user", "assistant": "assistant"})
    turn_uid = StringProperty()
    conversation_uid = StringProperty()
    position = IntegerProperty()
    text = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()
    # assistant messages only
    status = StringProperty()
    grounded = BooleanProperty()
    model = StringProperty()
    provider = StringProperty()
    max_context_score = FloatProperty()

    next = RelationshipTo("Message", "NEXT")
    context = RelationshipTo("Chunk", "HAS_CONTEXT", model=ContextRel)
    about = RelationshipTo("Topic", "ABOUT", model=AboutRel)
    replay_of = RelationshipTo("Message", "REPLAY_OF")


class Feedback(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    rating = StringProperty()
    comment = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()

    rates = RelationshipTo("Message", "RATES")


class Score(StructuredNode):
    """An evaluator's score of an answer on one criterion (evaluation.Score)."""

    uid = StringProperty(unique_index=True, required=True)
    evaluator = StringProperty()
    version = IntegerProperty()
    kind = StringProperty()
    criterion = StringProperty(index=True)
    value = FloatProperty()
    normalized = FloatProperty()
    reason = StringProperty()
    error = StringProperty()
    source = StringProperty()
    updated_at = DateTimeNeo4jFormatProperty()

    scores = RelationshipTo("Message", "SCORES")


class Experiment(StructuredNode):
    """A question set answered by two or more arms (experiments.Experiment)."""

    uid = StringProperty(unique_index=True, required=True)
    name = StringProperty()
    status = StringProperty()
    source = StringProperty()
    question_hash = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()

    has_arm = RelationshipTo("Arm", "HAS_ARM")


class Arm(StructuredNode):
    """One set-up of an experiment: model × prompt × grounding, or the logged answers."""

    uid = StringProperty(unique_index=True, required=True)
    label = StringProperty()
    kind = StringProperty()
    position = IntegerProperty()
    model_key = StringProperty()
    grounded = BooleanProperty()
    k = IntegerProperty()

    produced = RelationshipTo("Message", "PRODUCED")


class Correction(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    text = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()


class Review(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    verdict = StringProperty()
    scores = JSONProperty()
    reviewer = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()

    reviews = RelationshipTo("Message", "REVIEWS")
    corrects_with = RelationshipTo("Correction", "CORRECTS_WITH")


class Example(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    status = StringProperty()
    corrected = BooleanProperty()
    grounded = BooleanProperty()
    model = StringProperty()
    approved_at = DateTimeNeo4jFormatProperty()

    source = RelationshipTo("Message", "FROM")


class Release(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    name = StringProperty()
    status = StringProperty()
    created_at = DateTimeNeo4jFormatProperty()

    includes = RelationshipTo("Example", "INCLUDES")
