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


# --- the rubric (leads) ---------------------------------------------------------------

SCALE_LIMIT, SCALE_POINTS = 100, 11  # a scale shows as radio buttons: keep it short


class RubricForm(FormLimits, forms.Form):
    name = forms.CharField(max_length=120, required=False, help_text="Only for a new rubric.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Words reviewers may tick, separated by spaces or commas (letters, digits, - _).",
    )

    def __init__(self, *args, creating: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.creating = creating
        if not creating:
            del self.fields["name"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.creating and not name:
            raise forms.ValidationError("Name the rubric.")
        return name

    def clean_tags(self) -> list[str]:
        words = [w for w in self.cleaned_data["tags"].replace(",", " ").split() if w]
        slug = forms.SlugField(max_length=50)
        bad = [w for w in words if not _valid(slug, w)]
        if bad:
            raise forms.ValidationError(
                "Not a tag (letters, digits, - and _ only): " + ", ".join(bad)
            )
        return sorted(set(words))


def _valid(field: forms.Field, value) -> bool:
    try:
        field.clean(value)
    except forms.ValidationError:
        return False
    return True


class CriterionForm(FormLimits, forms.Form):
    key = forms.SlugField(max_length=50, help_text="Stable name in scores, e.g. correctness")
    label = forms.CharField(max_length=120)
    help_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1}))
    scale_min = forms.IntegerField(min_value=-SCALE_LIMIT, max_value=SCALE_LIMIT, initial=1)
    scale_max = forms.IntegerField(min_value=-SCALE_LIMIT, max_value=SCALE_LIMIT, initial=5)
    required = forms.BooleanField(required=False, initial=True)

    def clean(self):
        data = super().clean()
        low, high = data.get("scale_min"), data.get("scale_max")
        if low is not None and high is not None:
            if high <= low:
                self.add_error("scale_max", "The top of the scale must be above its bottom.")
            elif high - low + 1 > SCALE_POINTS:
                self.add_error("scale_max", f"At most {SCALE_POINTS} points on a scale.")
        return data


class BaseCriterionFormSet(forms.BaseFormSet):
    def _construct_form(self, i, **kwargs):
        # one table row a criterion, its column headers the only visible labels: each input
        # names its row and column for screen readers
        form = super()._construct_form(i, **kwargs)
        for name, field in form.fields.items():
            column = "Remove" if name == "DELETE" else field.label or name.replace("_", " ")
            field.widget.attrs["aria-label"] = f"Criterion {i + 1}: {column}"
        return form

    def clean(self) -> None:
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not self._should_delete_form(f)]
        if not kept:
            raise forms.ValidationError("A rubric needs at least one criterion.")
        keys = [f.cleaned_data["key"] for f in kept]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise forms.ValidationError("Each criterion needs its own key: " + ", ".join(repeated))

    def criteria(self) -> list[dict]:
        """The kept criteria in the order shown."""
        return [
            f.cleaned_data for f in self.forms if f.cleaned_data and not self._should_delete_form(f)
        ]


CriterionFormSet = forms.formset_factory(
    CriterionForm,
    formset=BaseCriterionFormSet,
    extra=1,
    can_delete=True,
    max_num=30,
    validate_max=True,
)


def criterion_initial(rubric: Rubric | None) -> list[dict]:
    if rubric is None:
        return []
    return [
        {
            f: getattr(c, f)
            for f in ("key", "label", "help_text", "scale_min", "scale_max", "required")
        }
        for c in rubric.criteria.all()
    ]


class GuidelineForm(FormLimits, forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 10}), help_text="Markdown")
    position = forms.IntegerField(min_value=0, max_value=1000, initial=0)
    is_active = forms.BooleanField(required=False, initial=True, label="Shown to reviewers")
