"""Evaluator forms: every field validated, with a message per field."""

from __future__ import annotations

import re

from django import forms

from chat.llm import resolve_model
from chat.models import Conversation, Topic
from evaluation.models import Evaluator

_CRITERION = re.compile(
    r"^\s*([A-Za-z0-9_]+)\s*(?::\s*(.*?))?\s*\(\s*(-?\d+)\s*(?:-|–|to)\s*(-?\d+)\s*\)\s*$"
)


def criteria_text(criteria: list[dict]) -> str:
    return "\n".join(
        f"{c['key']}: {c.get('label', c['key'])} ({c['scale_min']}-{c['scale_max']})"
        for c in criteria
    )


class EvaluatorSettingsForm(forms.Form):
    """What every evaluator has: sampling, filters and the cost guard."""

    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(required=False, initial=True, label="Score new turns")
    sampling_rate = forms.FloatField(
        min_value=0, max_value=1, initial=1.0, help_text="Share of new turns scored (0–1)."
    )
    filter_sources = forms.MultipleChoiceField(
        choices=Conversation.Source.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only turns from",
        help_text="None ticked: every source.",
    )
    filter_models = forms.CharField(
        required=False, label="Only models", help_text="Comma-separated; empty: every model."
    )
    filter_topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only topics",
    )
    hourly_cap = forms.IntegerField(
        min_value=0, initial=100, label="Judge calls per hour", help_text="0: no cap."
    )

    def settings(self) -> dict:
        d = self.cleaned_data
        return {
            "description": d["description"],
            "is_active": d["is_active"],
            "sampling_rate": d["sampling_rate"],
            "filter_sources": list(d["filter_sources"]),
            "filter_models": [m.strip() for m in d["filter_models"].split(",") if m.strip()],
            "filter_topics": [str(t.id) for t in d["filter_topics"]],
            "hourly_cap": d["hourly_cap"],
        }


class JudgeForm(EvaluatorSettingsForm):
    name = forms.CharField(max_length=100)
    criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: key: label (min-max), e.g. correctness: Factually correct (1-5). "
        "Keys that match the review rubric's are compared with the experts.",
    )
    prompt_template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Placeholders: {question} {passages} {answer} {reference} {criteria}.",
    )
    model = forms.CharField(
        max_length=120,
        required=False,
        help_text="A model id on the OpenAI settings (empty: EVAL_JUDGE_MODEL), or "
        "endpoint:<name> for a registered model.",
    )
    field_order = ["name", "criteria", "prompt_template", "model"]

    def __init__(self, *args, evaluator: Evaluator | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.evaluator = evaluator
        if evaluator is not None:
            self.fields["name"].disabled = True

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Evaluator.objects.filter(name=name)
        if self.evaluator is not None:
            taken = taken.exclude(pk=self.evaluator.pk)
        if taken.exists():
            raise forms.ValidationError("An evaluator with this name exists.")
        return name

    def clean_criteria(self) -> list[dict]:
        out = []
        for n, line in enumerate(self.cleaned_data["criteria"].splitlines(), start=1):
            if not line.strip():
                continue
            match = _CRITERION.match(line)
            if not match:
                raise forms.ValidationError(
                    f"Line {n}: write key: label (min-max), e.g. correctness: Correct (1-5)."
                )
            key, label, low, high = match.groups()
            out.append(
                {"key": key, "label": label or key, "scale_min": int(low), "scale_max": int(high)}
            )
        return out

    def clean_model(self) -> str:
        model = self.cleaned_data["model"].strip()
        if model.startswith("endpoint:"):
            try:
                resolve_model(model)
            except ValueError:
                raise forms.ValidationError(
                    f"No registered model is called {model[9:]!r}."
                ) from None
        return model

    def clean_prompt_template(self) -> str:
        template = self.cleaned_data["prompt_template"]
        if "{answer}" not in template:
            raise forms.ValidationError("The template must contain {answer}.")
        return template


class BackfillForm(forms.Form):
    since = forms.DateTimeField(
        required=False,
        label="Turns logged since",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: every turn.",
    )
    rescore = forms.BooleanField(required=False, label="Replace existing scores of this version")
