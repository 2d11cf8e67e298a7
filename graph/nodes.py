"""neomodel node classes: one label per class (the embedded server stores one type per
vertex, so no label inheritance). Ids are the relational UUIDs."""

from neomodel import StringProperty, StructuredNode


class User(StructuredNode):
    uid = StringProperty(unique_index=True, required=True)
    username = StringProperty()
