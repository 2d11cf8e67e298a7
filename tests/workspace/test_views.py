"""The explorer, bulk actions, inbox and settings pages: roles, contents, query counts."""

from __future__ import annotations

from uuid import UUID

import pytest
from django.urls import reverse

from annotations.models import AuditEvent, Example, QueueItem
from annotations.services import queue_claim_next
from chat.models import Conversation
from tests.factories import make_rubric, make_turn
from workspace.models import BulkJob
from workspace.selectors import ExplorerFilters, explorer_page

pytestmark = pytest.mark.django_db

PAGES = ["/explore/", "/explore/bulk/", "/inbox/", "/settings/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_an_account_without_a_role_is_refused_everywhere(client_for, outsider, url):
    assert client_for(outsider).get(url).status_code == 403


@pytest.mark.parametrize(("url", "status"), list(zip(PAGES, [200, 403, 200, 403], strict=True)))
def test_end_users_search_and_see_their_inbox_but_no_bulk_actions_or_settings(
    client_for, end_user, url, status
):
    assert client_for(end_user).get(url).status_code == status


@pytest.mark.parametrize(("url", "status"), list(zip(PAGES, [200, 200, 200, 403], strict=True)))
def test_experts_have_everything_but_the_settings(client_for, expert, url, status):
    assert client_for(expert).get(url).status_code == status


def test_an_end_user_sees_only_their_own_turns_and_no_review_links(
    client_for, end_user, other_user
):
    make_turn(end_user, question="my refund question")
    make_turn(other_user, question="their refund question")
    page = client_for(end_user).get("/explore/", {"q": "refund"}).content.decode()
    assert "my refund question" in page and "their refund question" not in page
    assert "/review/item/" not in page


def test_each_row_links_to_its_lineage_and_to_the_review_item_where_it_opens(
    client_for, end_user, expert, lead
):
    turn = make_turn(end_user, question="Where is the Bolt port?")
    item = QueueItem.objects.get(turn=turn)
    link = f"/review/item/{item.id}/"
    page = client_for(lead).get("/explore/").content.decode()
    assert f"/graph/lineage/{turn.id}/" in page and link in page
    # an expert opens the items the queue handed them, not any item: no link to a 404
    expert_client = client_for(expert)
    page = expert_client.get("/explore/").content.decode()
    assert f"/graph/lineage/{turn.id}/" in page and link not in page
    assert expert_client.get(link).status_code == 404
    assert queue_claim_next(expert=expert).pk == item.pk
    assert link in expert_client.get("/explore/").content.decode()
    assert expert_client.get(link).status_code == 200


def test_a_turn_outside_the_review_queue_is_listed_without_a_review_link(
    client_for, end_user, expert, lead
):
    turn = make_turn(end_user, question="A call that failed", refresh=False)
    assert not QueueItem.objects.filter(turn=turn).exists()
    for viewer in (expert, lead):
        response = client_for(viewer).get("/explore/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "A call that failed" in page and "/review/item/" not in page


def test_the_explorer_page_takes_a_fixed_number_of_queries(
    client_for, end_user, other_user, expert, django_assert_num_queries
):
    for i in range(30):
        make_turn(end_user if i % 2 else other_user, question=f"refund {i}", feedback="down")
    client = client_for(expert)
    # session, user, 2 × permissions, topics (the form), inbox count, the rows, the count and
    # the review items this viewer may open; a later page has no count (it rides in the cursor)
    search = {"q": "refund", "grounded": "yes", "rating": "down"}
    with django_assert_num_queries(9):
        response = client.get("/explore/", search)
    assert response.content.decode().count('class="explore-row"') == 30
    cursor = explorer_page(viewer=expert, filters=ExplorerFilters(q="refund"), size=10).next_cursor
    with django_assert_num_queries(8):
        response = client.get("/explore/", {**search, "cursor": cursor})
    assert response.content.decode().count('class="explore-row"') == 20


def test_empty_states_say_what_to_do(client_for, end_user, expert):
    assert "Ask your first question" in client_for(end_user).get("/explore/").content.decode()
    page = client_for(expert).get("/explore/", {"q": "zebra"}).content.decode()
    assert "Nothing matches these filters" in page


def test_bad_filters_are_explained_and_select_nothing(client_for, expert, end_user):
    make_turn(end_user)
    response = client_for(expert).get(
        "/explore/", {"date_from": "2026-05-02", "date_to": "2026-05-01", "score": "x > 1"}
    )
    page = response.content.decode()
    assert "The end date is before the start date." in page
    assert 'class="explore-row"' not in page
    bad = client_for(expert).get("/explore/", {"cursor": "not-a-cursor"}).content.decode()
    assert "start from the first page" in bad


# --- bulk actions -----------------------------------------------------------------------


def test_a_bulk_action_shows_the_count_before_anything_changes(client_for, end_user, lead):
    for _ in range(3):
        make_turn(end_user, question="refund please")
    make_turn(end_user, question="other")
    page = client_for(lead).get(
        "/explore/bulk/", {"q": "refund", "action": "queue", "priority": "700"}
    )
    assert "This will touch <b>3</b> turns" in page.content.decode()
    assert not QueueItem.objects.filter(priority=700).exists()


def test_adding_to_the_queue_with_a_priority_is_audited(client_for, end_user, expert):
    turns = [make_turn(end_user, question=f"refund {i}") for i in range(3)]
    decided = QueueItem.objects.get(turn=turns[0])
    decided.state = "approved"
    decided.save()
    response = client_for(expert).post(
        "/explore/bulk/", {"q": "refund", "action": "queue", "priority": "700"}
    )
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{job.id}/")
    assert (job.status, job.changed, job.skipped) == ("done", 2, 1)
    assert set(QueueItem.objects.filter(priority=700).values_list("turn_id", flat=True)) == {
        turns[1].id,
        turns[2].id,
    }
    events = AuditEvent.objects.filter(action="enqueue")
    assert events.count() == 2 and all(e.actor == expert for e in events)
    assert "2 changed" in client_for(expert).get(response["Location"]).content.decode()


def test_assigned_items_go_to_that_reviewer_first_and_only_to_them(
    client_for, end_user, lead, expert, expert2
):
    make_rubric()
    make_turn(end_user, question="high priority", feedback="down")
    assigned = make_turn(end_user, question="assigned low", grounded=True)
    client_for(lead).post(
        "/explore/bulk/", {"q": "assigned", "action": "assign", "reviewer": expert.username}
    )
    from annotations.services import queue_claim_next

    assert queue_claim_next(expert=expert2).turn.question == "high priority"
    assert queue_claim_next(expert=expert).turn_id == assigned.id
    assert AuditEvent.objects.filter(action="assign", details__assignee="erin").count() == 1


def test_experts_cannot_approve_delete_or_assign_in_bulk(client_for, end_user, expert):
    make_turn(end_user)
    for action in ("approve", "delete", "assign"):
        data = {"action": action, "reason": "x", "reviewer": expert.username}
        assert client_for(expert).post("/explore/bulk/", data).status_code in (400, 403)
    assert not Example.objects.exists() and not BulkJob.objects.exists()


def test_a_lead_approves_in_bulk_with_a_reason_which_is_recorded(client_for, end_user, lead):
    turns = [make_turn(end_user, question=f"good answer {i}") for i in range(3)]
    own = make_turn(lead, question="good answer of the lead")
    response = client_for(lead).post(
        "/explore/bulk/", {"q": "good", "action": "approve", "reason": "checked by hand"}
    )
    assert response.status_code == 302
    examples = Example.objects.all()
    assert {e.turn_id for e in examples} == {t.id for t in turns}  # not the lead's own
    assert all(e.approved_by == lead and e.approval_reason == "checked by hand" for e in examples)
    assert examples[0].messages[-1] == {"role": "user", "content": examples[0].question}
    assert QueueItem.objects.filter(state="approved").count() == 3
    assert QueueItem.objects.get(turn=own).state == "pending"
    event = AuditEvent.objects.filter(action="approve").first()
    assert event.details == {"bulk": True, "reason": "checked by hand"} and event.actor == lead


def test_approving_without_a_reason_is_refused(client_for, end_user, lead):
    make_turn(end_user)
    page = client_for(lead).post("/explore/bulk/", {"action": "approve", "reason": " "})
    assert "Say why" in page.content.decode()
    assert not Example.objects.exists()


def test_excluding_withdraws_examples_and_takes_items_out_of_the_queue(
    client_for, end_user, lead, expert
):
    turns = [make_turn(end_user, question=f"stale {i}") for i in range(2)]
    client_for(lead).post("/explore/bulk/", {"q": "stale", "action": "approve", "reason": "ok"})
    client_for(expert).post("/explore/bulk/", {"q": "stale", "action": "exclude"})
    assert set(Example.objects.values_list("status", flat=True)) == {"withdrawn"}
    assert set(QueueItem.objects.filter(turn__in=turns).values_list("state", flat=True)) == {
        "excluded"
    }
    from datasets.selectors import examples_matching

    assert not examples_matching({}).exists()


def test_deleting_an_ingested_batch_keeps_chat_turns_and_released_examples(
    client_for, end_user, lead
):
    from datasets.models import Release, ReleaseItem

    chat_turn = make_turn(end_user, question="batch 7 from chat")
    api_turns = [make_turn(end_user, question=f"batch 7 item {i}") for i in range(3)]
    Conversation.objects.filter(turns__in=api_turns).update(source="api")
    for t in api_turns:
        t.source = "api"
        t.save(update_fields=["source"])
    client_for(lead).post("/explore/bulk/", {"q": "batch", "action": "approve", "reason": "ok"})
    release = Release.objects.create(name="r", state="approved", formats=["openai_chat"])
    kept = Example.objects.get(turn=api_turns[0])
    ReleaseItem.objects.create(
        release=release,
        example=kept,
        position=0,
        split="train",
        question="q",
        answer="a",
        original_answer="a",
    )
    page = client_for(lead).get("/explore/bulk/", {"q": "batch", "action": "delete"})
    assert "Only turns that came in through the API are deleted" in page.content.decode()
    client_for(lead).post("/explore/bulk/", {"q": "batch", "action": "delete"})
    job = BulkJob.objects.filter(action="delete").get()
    assert (job.changed, job.skipped) == (2, 2)
    from chat.models import Turn

    assert set(Turn.objects.values_list("id", flat=True)) == {chat_turn.id, api_turns[0].id}


def test_a_turn_logged_after_the_confirmation_is_not_touched(client_for, end_user, lead):
    make_turn(end_user, question="refund one")
    page = client_for(lead).get(
        "/explore/bulk/", {"q": "refund", "action": "queue", "priority": "900"}
    )
    until = page.context["until"]
    late = make_turn(end_user, question="refund late")
    client_for(lead).post(
        "/explore/bulk/", {"q": "refund", "action": "queue", "priority": "900", "until": until}
    )
    assert QueueItem.objects.get(turn=late).priority != 900
    assert QueueItem.objects.filter(priority=900).count() == 1


def test_only_its_author_and_leads_see_a_bulk_job(client_for, end_user, expert, expert2, lead):
    make_turn(end_user, question="refund")
    client_for(expert).post("/explore/bulk/", {"action": "queue", "priority": "5"})
    url = reverse("workspace:bulk_job", args=[BulkJob.objects.get().id])
    assert client_for(expert2).get(url).status_code == 404
    assert client_for(lead).get(url).status_code == 200


def _offline_model() -> str:
    from chat import llm

    return llm.available_models()[-1].key  # the offline model, always on offer


def test_a_selection_replayed_as_an_experiment_asks_each_matching_question_once(
    client_for, end_user, expert
):
    from experiments.models import Experiment

    asked = {make_turn(end_user, question=f"refund {i}").id for i in range(3)}
    replayed = make_turn(end_user, question="refund replayed")
    replayed.source = Conversation.Source.REPLAY
    replayed.save(update_fields=["source"])
    make_turn(end_user, question="other")
    choice = {
        "q": "refund",
        "action": "experiment",
        "replay_model": _offline_model(),
        "experiment_name": "Refunds",
    }
    page = client_for(expert).get("/explore/bulk/", choice).content.decode()
    assert "This will touch <b>3</b> turns" in page and "asks these questions again" in page
    assert not Experiment.objects.exists()

    response = client_for(expert).post("/explore/bulk/", choice)
    job = BulkJob.objects.get()
    assert response.status_code == 302 and (job.status, job.changed) == ("done", 3)
    experiment = Experiment.objects.get()
    assert experiment.pk == UUID(job.params["experiment"])
    assert (experiment.name, experiment.created_by) == ("Refunds", expert)
    assert {UUID(q) for q in experiment.question_ids} == asked
    assert sorted(experiment.arms.values_list("kind", flat=True)) == ["logged", "model"]
    job_page = client_for(expert).get(response["Location"]).content.decode()
    assert reverse("experiments:detail", args=[experiment.pk]) in job_page


def test_an_experiment_over_the_question_limit_is_refused_with_the_reason(
    client_for, end_user, expert, settings
):
    from experiments.models import Experiment

    settings.EXPERIMENT_MAX_QUESTIONS = 2
    for i in range(3):
        make_turn(end_user, question=f"refund {i}")
    choice = {"q": "refund", "action": "experiment", "replay_model": _offline_model()}
    page = client_for(expert).get("/explore/bulk/", choice).content.decode()
    assert "at most 2 questions: narrow the filters" in page
    assert "bulk-confirm-button" not in page
    response = client_for(expert).post("/explore/bulk/", choice)
    assert response.status_code == 400
    assert not BulkJob.objects.exists() and not Experiment.objects.exists()


def test_an_experiment_needs_the_model_that_answers_again(client_for, end_user, expert):
    make_turn(end_user, question="refund")
    response = client_for(expert).post("/explore/bulk/", {"q": "refund", "action": "experiment"})
    assert "Choose the model" in response.content.decode()
    assert not BulkJob.objects.exists()


class WorkerDied(BaseException):
    """The process running the job stops here (nothing in the job catches it)."""


def test_a_bulk_job_whose_worker_died_is_requeued_and_goes_on_after_the_last_batch(
    end_user, expert, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from reviewhub import jobs
    from workspace import services

    turns = [make_turn(end_user, question=f"refund {i}") for i in range(5)]
    monkeypatch.setattr(services, "BATCH", 2)
    queue = services._ACTIONS[BulkJob.Action.QUEUE]
    calls = []

    def dies_on_the_second_batch(ids, actor, job):
        calls.append(list(ids))
        if len(calls) == 2:
            raise WorkerDied
        return queue(ids, actor, job)

    monkeypatch.setitem(services._ACTIONS, BulkJob.Action.QUEUE, dies_on_the_second_batch)
    job = services.bulk_job_create(
        actor=expert,
        action="queue",
        filters={"q": "refund"},
        params={"priority": 800},
        until=timezone.now(),
        confirmed_count=5,
    )
    with pytest.raises(WorkerDied):
        services.bulk_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == ("running", 2, 2)  # the first batch held

    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs.job_sweep()["requeued"] == 1
    job = services.bulk_job_run(job_id=job.pk)  # the re-queued run

    assert (job.status, job.done, job.changed, job.attempts) == ("done", 5, 5, 2)
    assert calls[2:] == [calls[1], [t.id for t in turns[:1]]]  # the rest, none twice
    assert QueueItem.objects.filter(priority=800).count() == 5
    assert AuditEvent.objects.filter(action="enqueue").count() == 5


def test_a_bulk_job_another_run_holds_is_not_run_twice(end_user, expert):
    from django.utils import timezone

    from reviewhub import jobs
    from workspace import services

    make_turn(end_user, question="refund")
    job = services.bulk_job_create(
        actor=expert,
        action="queue",
        filters={},
        params={"priority": 300},
        until=timezone.now(),
        confirmed_count=1,
    )
    assert jobs.job_claim(BulkJob, job.pk) is not None  # a live run has it
    assert services.bulk_job_run(job_id=job.pk).done == 0
    assert not QueueItem.objects.filter(priority=300).exists()
