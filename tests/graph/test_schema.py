"""The schema is described once (graph.schema) and the rest agrees with it."""

from __future__ import annotations

import pytest

from graph.projection import SYNCERS
from graph.schema import ENTITIES, LABELS, RELS, node_classes
from outbox import registry
from outbox.models import OutboxEntry
from outbox.services import record


def test_the_node_classes_declare_exactly_the_labels_and_relationships_of_the_schema():
    classes = {cls.__label__: cls for cls in node_classes()}
    assert set(classes) == {label.name for label in LABELS}
    declared = {
        (rel.definition["relation_type"], name, rel._raw_class)
        for name, cls in classes.items()
        for rel in cls.defined_properties(aliases=False, properties=False).values()
    }
    assert declared == {(rel.type, rel.start, rel.end) for rel in RELS}


def test_every_entity_has_a_writer_and_is_accepted_by_the_outbox():
    assert set(SYNCERS) == set(ENTITIES)
    assert registry.entities() == frozenset(ENTITIES)
    assert {label.entity for label in LABELS} <= set(ENTITIES)
    assert {rel.owner for rel in RELS} <= set(ENTITIES)


@pytest.mark.django_db
def test_recording_an_entity_no_projection_knows_fails_and_stores_nothing():
    with pytest.raises(ValueError, match="unknown outbox entity 'turns'"):
        record("turns", ["x"])
    assert not OutboxEntry.objects.exists()
