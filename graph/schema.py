"""Install the graph's constraints and indexes, idempotently, on Neo4j 5 and the embedded server.

neomodel's `install_all_labels()` decides what exists by its own bookkeeping, and on the
embedded server a second run fails creating a constraint that is already there. Both
servers accept `CREATE CONSTRAINT/INDEX … IF NOT EXISTS`, so we issue that directly from
the node classes' declared `unique_index` / `index` properties.
"""

from __future__ import annotations

from neomodel import StructuredNode, db


def node_classes() -> list[type[StructuredNode]]:
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
    statements = schema_statements()
    for statement in statements:
        db.cypher_query(statement)
    return statements
