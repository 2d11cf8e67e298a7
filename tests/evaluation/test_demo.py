import io

import pytest
from django.contrib.auth.models import User

from accounts import demo as accounts_demo
from annotations import demo as annotations_demo
from evaluation import demo
from evaluation.models import Evaluator, Score
from evaluation.selectors import alignment
from tests.factories import make_turn


@pytest.mark.django_db
def test_demo_scores_every_answer_offline_and_aligns_groundedness_with_the_experts(settings):
    settings.OPENAI_API_KEY = ""
    accounts_demo.seed(stdout=io.StringIO())
    user = User.objects.get(username="demo_user")
    turns = [make_turn(user, refresh=False, answer="Port 7687 is Bolt [1].") for _ in range(8)]
    annotations_demo.seed(stdout=io.StringIO())
    out = io.StringIO()
    demo.seed(stdout=out)
    assert Score.objects.filter(criterion="groundedness").count() == len(turns)
    assert not Evaluator.objects.get(name="Demo judge").is_active, "no key: the judge waits"
    assert any(row.criterion == "groundedness" for row in alignment())
    assert "scored 8 answers" in out.getvalue()
