"""Leads edit the rubric and the guidelines in the app; an edit to a rubric in use makes a
new version and reviews keep the one they were made with."""

import pytest
from django.urls import reverse

from annotations.models import Guideline, QueueItem, Review, Rubric
from tests.annotations.test_views import post_review
from tests.factories import make_rubric, make_turn

pytestmark = pytest.mark.django_db

URL = "/review/rubric/"


def rubric_post(criteria: list[dict], *, tags: str = "outdated tone", **extra) -> dict:
    """The form as a browser sends it: a row per existing criterion (removed ones ticked
    DELETE), then the empty row left untouched."""
    data = {
        "description": "How we judge answers",
        "tags": tags,
        "criteria-TOTAL_FORMS": str(len(criteria) + 1),
        "criteria-INITIAL_FORMS": str(len(criteria)),
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
        **extra,
    }
    rows = [*criteria, {}]  # the extra row keeps its defaults: unchanged, so ignored
    for i, row in enumerate(rows):
        row = {"scale_min": 1, "scale_max": 5, "required": "on"} | row
        for field, value in row.items():
            if value is not None:
                data[f"criteria-{i}-{field}"] = str(value)
    return data


THREE = [
    {"key": "correctness", "label": "Correctness"},
    {"key": "groundedness", "label": "Groundedness"},
    {"key": "helpfulness", "label": "Helpfulness", "required": None},
]


def test_only_leads_reach_the_rubric_and_guideline_pages(client_for, end_user, expert, lead):
    make_rubric()
    guideline = Guideline.objects.get()
    for url in (URL, "/review/guidelines/new/", f"/review/guidelines/{guideline.pk}/"):
        for user in (end_user, expert):
            assert client_for(user).get(url).status_code == 403
            assert client_for(user).post(url, {}).status_code == 403
        assert client_for(lead).get(url).status_code == 200


def test_a_rubric_no_review_used_is_edited_in_place(client_for, lead):
    rubric = make_rubric()
    rows = [*THREE, {"key": "tone", "label": "Tone", "scale_min": 0, "scale_max": 2}]
    response = client_for(lead).post(URL, rubric_post(rows))
    assert response.status_code == 302
    assert Rubric.objects.get() == rubric  # still one version
    keys = list(rubric.criteria.values_list("key", "scale_min", "scale_max"))
    assert keys[-1] == ("tone", 0, 2) and len(keys) == 4


def test_editing_a_rubric_in_use_makes_a_new_version_and_reviews_keep_theirs(
    client_for, end_user, expert, lead
):
    v1 = make_rubric()
    make_turn(end_user)
    reviewer = client_for(expert)
    reviewer.post(reverse("annotations:next"))
    post_review(reviewer, QueueItem.objects.get())
    review = Review.objects.get()

    rows = [
        THREE[0],
        {"key": "groundedness", "label": "Grounded", "scale_max": 3},
        {**THREE[2], "DELETE": "on"},
    ]
    response = client_for(lead).post(URL, rubric_post(rows, tags="outdated"))
    assert response.status_code == 302
    v2 = Rubric.objects.get(is_active=True)
    assert (v2.name, v2.version, v2.previous) == (v1.name, 2, v1)
    assert list(v2.criteria.values_list("key", "scale_max")) == [
        ("correctness", 5),
        ("groundedness", 3),
    ]
    review.refresh_from_db()
    assert review.rubric == v1 and v1.criteria.count() == 3  # untouched
    page = client_for(lead).get(URL).content.decode()
    assert "Saved as version 2" in page and "Reviews made with version 1 keep it" in page

    # The next reviewer scores against version 2: helpfulness is gone, grounded is 1–3.
    make_turn(end_user, question="second")
    reviewer.post(reverse("annotations:next"))
    item = QueueItem.objects.get(turn__question="second")
    html = reviewer.get(reverse("annotations:item", args=[item.pk])).content.decode()
    assert "Grounded" in html and "Helpfulness" not in html
    response = post_review(reviewer, item, score_groundedness="3", score_helpfulness="")
    assert response.status_code == 302
    assert Review.objects.get(item=item).rubric == v2


@pytest.mark.parametrize(
    "rows, message",
    [
        ([*THREE[:2], {"key": "correctness", "label": "Again"}], "its own key: correctness"),
        ([*THREE[:2], {"key": "tone", "label": "T", "scale_min": 5, "scale_max": 1}], "above"),
        ([*THREE[:2], {"key": "tone", "label": "T", "scale_min": 0, "scale_max": 50}], "At most"),
        ([*THREE[:2], {"key": "not a slug", "label": "Tone"}], "slug"),
        ([{**row, "DELETE": "on"} for row in THREE], "at least one criterion"),
    ],
)
def test_a_bad_rubric_is_refused_with_the_reason_and_nothing_changes(
    client_for, lead, rows, message
):
    rubric = make_rubric()
    response = client_for(lead).post(URL, rubric_post(rows))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Rubric.objects.get() == rubric and rubric.criteria.count() == 3


def test_bad_tags_are_refused(client_for, lead):
    make_rubric()
    response = client_for(lead).post(URL, rubric_post(THREE, tags="fine, not<ok>"))
    assert response.status_code == 400
    assert "Not a tag" in response.content.decode()


def test_a_lead_creates_the_first_rubric_and_reviewers_can_use_it(client_for, lead, expert):
    response = client_for(lead).post(URL, rubric_post(THREE))
    assert response.status_code == 400 and "Name the rubric" in response.content.decode()
    response = client_for(lead).post(URL, rubric_post(THREE, name="House rubric"))
    assert response.status_code == 302
    rubric = Rubric.objects.get()
    assert (rubric.name, rubric.version, rubric.is_active) == ("House rubric", 1, True)
    assert sorted(rubric.tags.values_list("name", flat=True)) == ["outdated", "tone"]


def test_a_lead_writes_a_guideline_that_reviewers_see(client_for, end_user, expert, lead):
    make_rubric()
    response = client_for(lead).post(
        "/review/guidelines/new/",
        {
            "title": "Cite sources",
            "body": "Say **where** it came from.",
            "position": 1,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    make_turn(end_user)
    reviewer = client_for(expert)
    reviewer.post(reverse("annotations:next"))
    item = QueueItem.objects.get()
    html = reviewer.get(reverse("annotations:item", args=[item.pk])).content.decode()
    assert "Cite sources" in html and "<strong>where</strong>" in html

    guideline = Guideline.objects.get(title="Cite sources")
    bad = client_for(lead).post(f"/review/guidelines/{guideline.pk}/", {"title": "", "body": ""})
    assert bad.status_code == 400
    guideline.refresh_from_db()
    assert guideline.title == "Cite sources"


def test_the_admin_cannot_change_a_rubric_version_reviews_were_made_with(
    admin_client, end_user, expert, client_for
):
    rubric = make_rubric()
    url = f"/admin/annotations/rubric/{rubric.pk}/change/"
    assert admin_client.get(url).status_code == 200  # editable while unused
    make_turn(end_user)
    reviewer = client_for(expert)
    reviewer.post(reverse("annotations:next"))
    post_review(reviewer, QueueItem.objects.get())
    response = admin_client.post(url, {"name": "renamed", "description": ""})
    assert response.status_code == 403
    rubric.refresh_from_db()
    assert rubric.name != "renamed"
