from __future__ import annotations

import uuid

from django import forms

from annotations.models import QueueItem, Review, Rubric
from annotations.selectors import QueueFilters
from annotations.services import rubric_errors
from reviewhub.validation import FormLimits


class QueueFilterForm(FormLimits, forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.CharField(required=False, max_length=120)
    grounded = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("yes", "Grounded"), ("no", "Not grounded")]
    )
    # A plain choice list (one query) rather than a ModelChoiceField, whose iterator uses a
    # server-side cursor: three round trips on every queue page.
    topic = forms.TypedChoiceField(required=False, coerce=uuid.UUID, empty_value=None)
    feedback = forms.ChoiceField(
        required=False, choices=[("", "Any feedback"), *QueueItem.FeedbackSignal.choices]
    )
    max_eval_score = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Evaluator score ≤",
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "0–1"}),
        help_text="Answers whose lowest evaluator score is at most this.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from chat.models import Topic

        self.fields["topic"].choices = [
            ("", "Any topic"),
            *(
                (str(pk), name)
                for pk, name in Topic.objects.order_by("name").values_list("id", "name")
            ),
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> QueueFilters:
        """Only valid fields count; call after is_valid()."""
        d = getattr(self, "cleaned_data", {})
        grounded = {"yes": True, "no": False}.get(d.get("grounded") or "")
        return QueueFilters(
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            model=d.get("model") or "",
            grounded=grounded,
            topic_id=d.get("topic"),
            feedback=d.get("feedback") or "",
            max_eval_score=d.get("max_eval_score"),
        )


class ReviewForm(FormLimits, forms.Form):
    """Scores per rubric criterion (radio 1–5), tags, verdict, notes and a correction."""

    verdict = forms.ChoiceField(
        choices=Review.Verdict.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a verdict."},
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    corrected_answer = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "id": "corrected-answer"}),
    )

    def __init__(self, *args, rubric: Rubric, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rubric = rubric
        self.criteria = list(rubric.criteria.all())
        for c in self.criteria:
            self.fields[f"score_{c.key}"] = forms.TypedChoiceField(
                label=c.label,
                required=c.required,
                coerce=int,
                empty_value=None,
                choices=[(n, str(n)) for n in c.scale],
                widget=forms.RadioSelect,
                help_text=c.help_text,
                error_messages={"required": f"Rate {c.label} ({c.scale_min}–{c.scale_max})."},
            )
        self.fields["tags"] = forms.MultipleChoiceField(
            required=False,
            widget=forms.CheckboxSelectMultiple,
            choices=[(t.name, t.name) for t in rubric.tags.all()],
        )

    def score_fields(self) -> list:
        return [self[f"score_{c.key}"] for c in self.criteria]

    def scores(self) -> dict[str, int]:
        return {
            c.key: self.cleaned_data[f"score_{c.key}"]
            for c in self.criteria
            if self.cleaned_data.get(f"score_{c.key}") is not None
        }

    def clean(self):
        data = super().clean()
        if not self.errors:
            for field, message in rubric_errors(
                self.rubric, scores=self.scores(), tags=data.get("tags") or []
            ).items():
                self.add_error(field if field in self.fields else None, message)
        return data


class AdjudicationForm(FormLimits, forms.Form):
    verdict = forms.ChoiceField(
        choices=[
            (Review.Verdict.APPROVE, "Approve as training example"),
            (Review.Verdict.REJECT, "Reject"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose approve or reject."},
    )
    corrected_answer = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Final answer (leave as is to keep the original)",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
