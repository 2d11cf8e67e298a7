from __future__ import annotations

import uuid
from dataclasses import replace

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from annotations.models import QueueItem
from chat import llm
from chat.models import Conversation, Topic
from workspace import selectors
from workspace.models import BulkJob
from workspace.selectors import NOT_QUEUED, ExplorerFilters
from workspace.services import LEAD_ONLY

YES_NO = [("", "any"), ("yes", "grounded"), ("no", "not grounded")]
RATINGS = [("", "any"), ("up", "👍 up"), ("down", "👎 down"), ("none", "not rated")]


class ExplorerForm(forms.Form):
    """The explorer's filters; the same form validates the API's query parameters."""

    q = forms.CharField(required=False, max_length=300, label="Search")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput({"type": "date"})
    )
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    source = forms.ChoiceField(required=False, choices=[("", "any"), *Conversation.Source.choices])
    model = forms.CharField(required=False, max_length=120)
    rating = forms.ChoiceField(required=False, choices=RATINGS)
    # A plain choice list (one query) rather than a ModelChoiceField, whose iterator uses a
    # server-side cursor on PostgreSQL: three round trips on every explorer page.
    topic = forms.TypedChoiceField(required=False, coerce=uuid.UUID, empty_value=None)
    grounded = forms.ChoiceField(required=False, choices=YES_NO)
    review = forms.ChoiceField(
        required=False,
        label="Review state",
        choices=[("", "any"), *QueueItem.State.choices, (NOT_QUEUED, "not in the queue")],
    )
    user = forms.CharField(required=False, max_length=150, label="Asked by")
    score = forms.CharField(
        required=False,
        max_length=200,
        label="Score",
        help_text="e.g. groundedness >= 0.8",
    )

    def __init__(self, *args, viewer=None, **kwargs):
        super().__init__(*args, **kwargs)
        topics = Topic.objects.order_by("name").values_list("id", "name")
        self.fields["topic"].choices = [("", "any"), *((str(pk), name) for pk, name in topics)]
        if not selectors.scores_available():
            self.fields["score"].disabled = True
            self.fields["score"].help_text = "Needs the evaluation app"
        if viewer is not None and not _sees_everyone(viewer):
            del self.fields["user"]  # end users only ever see their own turns

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        if data.get("score"):
            try:
                selectors.score_q(data["score"])
            except ValidationError as exc:
                self.add_error("score", exc.messages)
        return data

    def filters(self) -> ExplorerFilters:
        d = self.cleaned_data
        grounded = {"yes": True, "no": False}.get(d.get("grounded") or "")
        return ExplorerFilters(
            q=(d.get("q") or "").strip(),
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            source=d.get("source") or "",
            model=(d.get("model") or "").strip(),
            rating=d.get("rating") or "",
            topic_id=d.get("topic"),
            grounded=grounded,
            review=d.get("review") or "",
            username=(d.get("user") or "").strip(),
            score=(d.get("score") or "").strip(),
        )


def _sees_everyone(user) -> bool:
    from reviewhub.roles import is_expert

    return is_expert(user)


def filter_query(data: QueryDict) -> dict[str, str]:
    """The filter parameters of a request, as a plain dict (stored on bulk jobs, put back
    into links)."""
    return {k: data.get(k) for k in ExplorerForm.base_fields if data.get(k)}


def stored_filters(data: dict, *, viewer, until=None) -> ExplorerFilters:
    """Filters saved on a bulk job, read back through the same form (they were valid when
    confirmed; a topic deleted since then is a clear error, not a wider selection)."""
    form = ExplorerForm(data=data, viewer=viewer)
    if not form.is_valid():
        raise ValidationError(f"The saved filters are no longer valid: {form.errors.as_text()}")
    return replace(form.filters(), until=until)


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=BulkJob.Action.choices)
    priority = forms.IntegerField(required=False, min_value=-1000, max_value=1000, initial=500)
    reviewer = forms.ModelChoiceField(
        required=False, queryset=selectors.reviewers(), to_field_name="username"
    )
    reason = forms.CharField(required=False, max_length=500, widget=forms.TextInput)
    # (not `model`/`name`: the explorer's filters are in the same query string)
    replay_model = forms.ChoiceField(required=False, choices=(), label="Model to answer again")
    experiment_name = forms.CharField(required=False, max_length=120, label="Experiment name")

    def __init__(self, *args, lead: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].queryset = selectors.reviewers()
        self.fields["replay_model"].choices = [("", "—")] + [
            (m.key, m.label) for m in llm.available_models()
        ]
        if not lead:
            self.fields["action"].choices = [
                c for c in BulkJob.Action.choices if c[0] not in LEAD_ONLY
            ]

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == BulkJob.Action.QUEUE and data.get("priority") is None:
            self.add_error("priority", "Give the priority the items get in the queue.")
        if action == BulkJob.Action.ASSIGN and not data.get("reviewer"):
            self.add_error("reviewer", "Choose who reviews these items.")
        if action == BulkJob.Action.APPROVE and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why these answers are approved without a review.")
        if action == BulkJob.Action.EXPERIMENT and not data.get("replay_model"):
            self.add_error("replay_model", "Choose the model that answers the questions again.")
        return data

    def params(self) -> dict:
        d = self.cleaned_data
        action = d["action"]
        if action == BulkJob.Action.QUEUE:
            return {"priority": d["priority"]}
        if action == BulkJob.Action.ASSIGN:
            return {"reviewer": d["reviewer"].username}
        if action == BulkJob.Action.APPROVE:
            return {"reason": d["reason"].strip()}
        if action == BulkJob.Action.EXPERIMENT:
            return {"model": d["replay_model"], "name": d["experiment_name"].strip()}
        return {}


class SettingsForm(forms.Form):
    reviews_required = forms.IntegerField(
        min_value=1,
        max_value=5,
        label="Reviews required per item",
        help_text="Decisive reviews before an item is resolved; with 2 or more, reviews "
        "that differ go to a lead as a dispute.",
    )
    blind_review = forms.BooleanField(
        required=False,
        label="Blind review",
        help_text="Reviewers see other reviews of an item only after submitting their own.",
    )
    release_four_eyes = forms.BooleanField(
        required=False,
        label="Four eyes for releases",
        help_text="A release is approved by a lead other than the one who built it.",
    )
    daily_question_limit = forms.IntegerField(
        min_value=0,
        max_value=100_000,
        label="Daily question limit",
        help_text="Questions each person may ask on the chat page per day; 0 means no limit.",
    )

    def cleaned_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields}
