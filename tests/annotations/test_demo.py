import io

import pytest
from django.contrib.auth.models import User

from accounts import demo as accounts_demo
from annotations import demo
from annotations.models import Example, QueueItem, Rubric
from tests.factories import make_turn


@pytest.mark.django_db
def test_demo_reviews_some_turns_and_approves_the_rest_but_three_in_bulk():
    accounts_demo.seed(stdout=io.StringIO())
    users = list(User.objects.filter(username__in=["demo_user", "demo_user2"]))
    for i in range(15):
        make_turn(users[i % 2], refresh=False, feedback="down" if i % 4 == 0 else None)
    out = io.StringIO()
    demo.seed(stdout=out)
    assert Rubric.objects.get(name="Default rubric").criteria.count() == 3
    assert Example.objects.filter(status="approved").count() == 12
    assert Example.objects.filter(corrected=True).exists()
    reviewed = Example.objects.filter(approved_by__username="demo_expert")
    assert reviewed.count() == 6 and not reviewed.exclude(approval_reason="").exists()
    in_bulk = Example.objects.filter(approved_by__username="demo_lead")
    assert in_bulk.count() == 6 and not in_bulk.filter(approval_reason="").exists()
    assert QueueItem.objects.filter(state="pending").count() == 3
    assert "12 approved" in out.getvalue() and "6 in bulk" in out.getvalue()
