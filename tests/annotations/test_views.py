import re

import pytest
from django.urls import reverse

from annotations import services
from annotations.models import Example, QueueItem, Review
from tests.factories import GOOD, make_rubric, make_turn

pytestmark = pytest.mark.django_db


def post_review(client, item, **data):
    payload = {
        "score_correctness": "5",
        "score_groundedness": "4",
        "score_helpfulness": "4",
        "verdict": "approve",
        "corrected_answer": item.turn.answer,
        "notes": "",
    } | data
    return client.post(reverse("annotations:submit", args=[item.pk]), payload)


@pytest.mark.parametrize("name", ["home", "queue", "agreement", "adjudication"])
def test_end_users_and_accounts_without_a_role_get_403(client_for, end_user, outsider, name):
    for user in (end_user, outsider):
        assert client_for(user).get(reverse(f"annotations:{name}")).status_code == 403
    assert client_for(end_user).post(reverse("annotations:next")).status_code == 403


@pytest.mark.parametrize("name", ["queue", "agreement", "adjudication"])
def test_only_leads_see_the_queue_list_agreement_and_adjudication(client_for, expert, lead, name):
    assert client_for(expert).get(reverse(f"annotations:{name}")).status_code == 403
    assert client_for(lead).get(reverse(f"annotations:{name}")).status_code == 200


def test_an_expert_cannot_open_items_they_do_not_hold_or_their_own_turns(
    client_for, end_user, expert, expert2
):
    item = services.queue_claim_next(expert=expert2, filters=None) if make_turn(end_user) else None
    own = QueueItem.objects.get(turn=make_turn(expert))
    client = client_for(expert)
    assert client.get(reverse("annotations:item", args=[item.pk])).status_code == 404
    assert client.get(reverse("annotations:item", args=[own.pk])).status_code == 404
    assert client.post(reverse("annotations:skip", args=[item.pk])).status_code == 302
    item.refresh_from_db()
    assert item.holder == expert2  # someone else's lease is untouched
    assert post_review(client, item).status_code == 404
    assert not Review.objects.exists()


def test_the_review_screen_shows_everything_and_renders_untrusted_text_safely(
    client_for, end_user, expert
):
    make_rubric()
    earlier = make_turn(end_user, question="First <i>question</i>", refresh=False)
    turn = make_turn(
        end_user,
        conversation=earlier.conversation,
        position=1,
        question="<script>alert('q')</script> What port?",
        feedback="down",
        answer="Use **7687**. <img src=x onerror=alert(1)>",
    )
    client = client_for(expert)
    response = client.post(reverse("annotations:next"))
    item = QueueItem.objects.get(turn=turn)
    assert response["Location"] == reverse("annotations:item", args=[item.pk])
    html = client.get(response["Location"]).content.decode()
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt; What port?" in html
    assert "First &lt;i&gt;question&lt;/i&gt;" in html  # the conversation before it
    assert "<strong>7687</strong>" in html and "onerror=alert(1)>" not in html  # handler dropped
    # the exact text a training file carries is shown too, escaped (inert)
    raw = html[html.index('<pre id="answer-raw">') : html.index("</pre>", html.index("answer-raw"))]
    assert "Use **7687**. &lt;img src=x onerror=alert(1)&gt;" in raw
    assert "Bolt docs" in html and "0.900" in html  # context with its score
    assert "not helpful" in html  # the user's feedback
    assert "<strong>correct</strong>" in html and "alert(1)</script>" not in html  # guidelines
    for key in ("<kbd>n</kbd>", "<kbd>a</kbd>", "<kbd>r</kbd>", "<kbd>s</kbd>", "<kbd>e</kbd>"):
        assert key in html
    assert 'data-criterion="score_correctness"' in html


def test_an_invalid_review_shows_per_field_errors_and_stores_nothing(client_for, end_user, expert):
    make_rubric()
    make_turn(end_user)
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    item = QueueItem.objects.get()
    response = post_review(client, item, score_correctness="9", score_groundedness="", verdict="")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html and "Rate Groundedness" in html
    assert "Choose a verdict" in html
    assert not Review.objects.exists()


def test_approving_through_the_page_creates_the_example_and_shows_history(
    client_for, end_user, expert
):
    make_rubric()
    turn = make_turn(end_user, answer="Port 7474.")
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    item = QueueItem.objects.get()
    response = post_review(client, item, corrected_answer="Port 7687.", tags=["outdated"])
    assert response.status_code == 302
    example = Example.objects.get(turn=turn)
    assert example.answer == "Port 7687." and example.tags == ["outdated"]
    html = client.get(response["Location"]).content.decode()
    assert "Approved" in html and "Withdraw approval" in html
    # withdrawing asks first (app.js reads data-confirm before the form is sent)
    withdraw = html[: html.index("Withdraw approval")].rsplit("<form", 1)[1]
    assert 'data-confirm="Withdraw the approval?' in withdraw
    for action in ("Claimed", "Rated", "Corrected"):
        assert action in html


def test_the_diff_endpoint_returns_an_escaped_word_diff(client_for, end_user, expert):
    make_turn(end_user, answer="Port 7474.")
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    item = QueueItem.objects.get()
    response = client.post(
        reverse("annotations:diff", args=[item.pk]),
        {"corrected_answer": "Port <b>7687</b>."},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<del>7474</del>" in html and "<ins>&lt;b&gt;7687&lt;/b&gt;</ins>" in html
    assert "<html" not in html  # a partial, not the page


def test_the_diff_keeps_the_spaces_between_rewritten_words(client_for, end_user, expert):
    original = "Restore it from the Snapshots tab today."
    corrected = "Open the backup page and pick a snapshot."
    make_turn(end_user, answer=original)
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    item = QueueItem.objects.get()
    html = client.post(
        reverse("annotations:diff", args=[item.pk]),
        {"corrected_answer": corrected},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    body = html[html.index('<div id="diff"') : html.index("</div>")]
    body = body[body.index(">") + 1 :].split("<p ")[0]
    # reading the diff without deletions gives the correction, without insertions the original,
    # exactly: the box keeps white space, so none may come from the template around the words
    kept_new = re.sub(r"<del>.*?</del>|<[^>]+>", "", body)
    kept_old = re.sub(r"<ins>.*?</ins>|<[^>]+>", "", body)
    assert kept_new == corrected and kept_old == original
    make_rubric()  # the review form, with its diff box, shows under a rubric
    page = client.get(reverse("annotations:item", args=[item.pk])).content.decode()
    # unchanged yet: the box says so rather than repeating the answer the editor shows
    assert '<p id="diff" class="muted small" aria-live="polite">No change' in page
    assert '<div id="diff"' not in page
    html = client.post(
        reverse("annotations:diff", args=[item.pk]),
        {"corrected_answer": original},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert html.strip().startswith('<p id="diff"') and "No change" in html  # edited back


def test_put_down_releases_the_item_without_claiming_another(client_for, end_user, expert):
    make_turn(end_user, feedback="down")
    make_turn(end_user)
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    held = QueueItem.objects.get(holder=expert)
    response = client.post(reverse("annotations:skip", args=[held.pk]), {"then": "queue"})
    assert response["Location"] == reverse("annotations:home")
    assert not QueueItem.objects.filter(holder=expert).exists()
    held.refresh_from_db()
    assert held.state == QueueItem.State.PENDING and held.holder_id is None


def test_skip_releases_the_item_and_moves_on(client_for, end_user, expert):
    make_turn(end_user, feedback="down")
    second = make_turn(end_user)
    client = client_for(expert)
    client.post(reverse("annotations:next"))
    first = QueueItem.objects.get(holder=expert)
    response = client.post(reverse("annotations:skip", args=[first.pk]))
    assert response["Location"] == reverse("annotations:item", args=[second.queue_item.pk])
    first.refresh_from_db()
    assert first.holder is None


def test_reviewers_do_not_see_each_others_ratings_before_submitting(
    client_for, end_user, expert, expert2, settings
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    turn = make_turn(end_user)
    item = services.queue_claim_next(expert=expert)
    services.review_submit(
        item_id=item.pk,
        reviewer=expert,
        scores=GOOD,
        tags=[],
        verdict="approve",
        notes="secret-note-from-erin",
    )
    client = client_for(expert2)
    client.post(reverse("annotations:next"))
    html = client.get(reverse("annotations:item", args=[turn.queue_item.pk])).content.decode()
    assert "secret-note-from-erin" not in html
    post_review(client, QueueItem.objects.get(pk=item.pk))
    html = client.get(reverse("annotations:item", args=[item.pk])).content.decode()
    assert "secret-note-from-erin" in html


def test_the_lead_queue_list_pages_by_keyset_with_a_fixed_number_of_queries(
    client_for, end_user, expert, lead, settings, django_assert_max_num_queries
):
    for i in range(7):
        make_turn(end_user, grounded=i % 2 == 0, age_minutes=i)
    services.queue_claim_next(expert=expert)
    client = client_for(lead)
    expected = list(
        QueueItem.objects.order_by("-priority", "turn_created_at", "id").values_list(
            "pk", flat=True
        )
    )
    for size in (2, 50):
        settings.REVIEW_QUEUE_PAGE_SIZE = size
        seen, url = [], reverse("annotations:queue")
        while url:
            # session, user, 2 × permissions, 2 × depth, leases, ≤ 2 × rows, the inbox
            # count in the navigation (+1 slack)
            with django_assert_max_num_queries(11) as queries:
                response = client.get(url)
            # keyset paging: no page is found by counting rows off the top
            assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)
            assert response.status_code == 200
            seen += [row.pk for row in response.context["rows"]]
            cursor = response.context["next_cursor"]
            url = f"{reverse('annotations:queue')}?state=pending&after={cursor}" if cursor else ""
        assert seen == expected
    html = response.content.decode()
    assert "erin" in html and "Who holds what" in html


def test_a_lead_adjudicates_a_disputed_item_and_an_expert_cannot(
    client_for, end_user, expert, expert2, lead, settings
):
    settings.REVIEWS_REQUIRED = 2
    make_rubric()
    turn = make_turn(end_user)
    for reviewer, verdict in ((expert, "approve"), (expert2, "reject")):
        item = services.queue_claim_next(expert=reviewer)
        services.review_submit(
            item_id=item.pk, reviewer=reviewer, scores=GOOD, tags=[], verdict=verdict
        )
    item = QueueItem.objects.get(turn=turn)
    assert item.state == "disputed"
    url = reverse("annotations:adjudicate", args=[item.pk])
    assert client_for(expert).post(url, {"verdict": "approve"}).status_code == 403
    client = client_for(lead)
    assert "verdicts differ" in client.get(url).content.decode()
    assert client.post(url, {"verdict": ""}).status_code == 400
    response = client.post(url, {"verdict": "approve", "corrected_answer": turn.answer})
    assert response.status_code == 302
    assert Example.objects.get(turn=turn).approved_by == lead
    assert client.get(reverse("annotations:agreement")).status_code == 200


def test_only_the_approver_or_a_lead_withdraws(client_for, end_user, expert, expert2):
    make_rubric()
    turn = make_turn(end_user)
    item = services.queue_claim_next(expert=expert)
    services.review_submit(
        item_id=item.pk, reviewer=expert, scores=GOOD, tags=[], verdict="approve"
    )
    example = Example.objects.get(turn=turn)
    url = reverse("annotations:withdraw", args=[example.pk])
    assert client_for(expert2).post(url).status_code == 404
    assert client_for(expert).post(url).status_code == 302
    example.refresh_from_db()
    assert example.status == "withdrawn"


def test_filters_posted_with_next_narrow_the_claim_and_stick_for_the_session(
    client_for, end_user, expert
):
    from chat.models import Topic

    topic = Topic.objects.create(name="billing")
    make_turn(end_user, feedback="down")  # top priority, but not in the topic
    wanted = make_turn(end_user, topic=topic, model="m-x")
    client = client_for(expert)
    response = client.post(reverse("annotations:next"), {"topic": str(topic.pk), "model": "m-x"})
    assert response["Location"] == reverse("annotations:item", args=[wanted.queue_item.pk])
    assert client.get(reverse("annotations:home")).context["filter_form"]["topic"].value() == str(
        topic.pk
    )
    bad = client.post(reverse("annotations:next"), {"topic": "not-a-uuid"})
    assert bad.status_code == 302 and bad["Location"] == reverse("annotations:home")


@pytest.mark.parametrize(
    "model", ["rubric", "guideline", "review", "example", "auditevent", "queueitem"]
)
def test_admin_lists_and_forms_for_review_models(client, end_user, expert, model):
    from django.contrib.auth.models import User

    make_rubric()
    item = services.queue_claim_next(expert=expert) if make_turn(end_user) else None
    services.review_submit(
        item_id=item.pk, reviewer=expert, scores=GOOD, tags=[], verdict="approve"
    )
    admin = User.objects.create_superuser("root", password="pw-root")
    client.force_login(admin)
    assert client.get(f"/admin/annotations/{model}/").status_code == 200
    obj = {
        "rubric": "annotations.Rubric",
        "guideline": "annotations.Guideline",
        "review": "annotations.Review",
        "example": "annotations.Example",
        "auditevent": "annotations.AuditEvent",
        "queueitem": "annotations.QueueItem",
    }[model]
    from django.apps import apps

    pk = apps.get_model(obj).objects.first().pk
    assert client.get(f"/admin/annotations/{model}/{pk}/change/").status_code == 200
