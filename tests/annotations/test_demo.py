import io

import pytest
from django.contrib.auth.models import User

from accounts import demo as accounts_demo
from annotations import demo
from annotations.models import Example, QueueItem, Rubric
from tests.factories import make_turn


@pytest.mark.django_db
def test_demo_approves_all_but_three_turns_through_the_real_services():
    accounts_demo.seed(stdout=io.StringIO())
    users = list(User.objects.filter(username__in=["demo_user", "demo_user2"]))
    for i in range(15):
        make_turn(users[i % 2], refresh=False, feedback="down" if i % 4 == 0 else None)
    out = io.StringIO()
    demo.seed(stdout=out)
    assert Rubric.objects.get(name="Default rubric").criteria.count() == 3
    assert Example.objects.filter(status="approved").count() == 12
    assert Example.objects.filter(corrected=True).exists()
    assert set(Example.objects.values_list("approved_by__username", flat=True)) == {"demo_expert"}
    assert QueueItem.objects.filter(state="pending").count() == 3
    assert "12 approved" in out.getvalue()
