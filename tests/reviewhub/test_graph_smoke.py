"""The real neomodel/Bolt path against the embedded graph server."""

import pytest

from graph.schema import install_schema


def test_neomodel_writes_and_reads_nodes_on_the_graph_server(graph):
    from graph.nodes import User

    install_schema()
    User(uid="u-1", username="alice").save()
    User(uid="u-2", username="bob").save()
    found = User.nodes.get(uid="u-1")
    assert found.username == "alice"
    assert sorted(u.username for u in User.nodes.all()) == ["alice", "bob"]


def test_uniqueness_constraint_is_enforced(graph):
    from neomodel.exceptions import ConstraintValidationFailed

    from graph.nodes import User

    install_schema()
    User(uid="dup", username="one").save()
    with pytest.raises(ConstraintValidationFailed):
        User(uid="dup", username="two").save()


def test_graph_install_twice_changes_nothing_and_keeps_constraints(graph):
    from django.core.management import call_command
    from neomodel import db

    call_command("graph_install")
    call_command("graph_install")
    constraints, _ = db.cypher_query("SHOW CONSTRAINTS")
    names = [row[1] for row in constraints]
    assert "unique_User_uid" in names and len(names) == len(set(names))
