"""The release definition form: every field validated, with a message per field."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.models import User

from annotations.models import Criterion, Example
from chat.models import Topic
from datasets.models import Format, License, Release
from evaluation.selectors import ScoreFilterError, score_filter_q
from reviewhub.validation import FormLimits

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SCORE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:>=|=|:)\s*(-?\d+(?:\.\d+)?)\s*$")


class ReleaseForm(FormLimits, forms.Form):
    name = forms.CharField(max_length=100, help_text="Letters, digits, dot, dash, underscore.")
    version = forms.IntegerField(min_value=1, initial=1)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    date_from = forms.DateField(
        required=False, label="Approved from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="Approved until", widget=forms.DateInput(attrs={"type": "date"})
    )
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    tags = forms.CharField(required=False, help_text="Comma-separated; any of them matches.")
    min_scores = forms.CharField(
        required=False,
        label="Minimum rubric scores",
        help_text="Comma-separated criterion>=score.",
    )
    eval_scores = forms.CharField(
        required=False,
        label="Evaluator scores",
        help_text="Comma-separated criterion op value on the 0–1 scale, e.g. groundedness >= 0.8",
    )
    grounded_only = forms.BooleanField(required=False, label="Grounded answers only")
    reviewers = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only examples reviewed by any of these.",
    )
    validation_fraction = forms.FloatField(min_value=0, max_value=0.5, initial=0.1)
    seed = forms.IntegerField(initial=0, min_value=-(2**31), max_value=2**31 - 1)
    formats = forms.MultipleChoiceField(
        choices=Format.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(Format.values),
    )
    license = forms.ChoiceField(
        choices=License.choices,
        initial=License.OTHER,
        required=False,  # left out: other/proprietary, the safe default
        label="Licence",
        help_text="Named in the Hugging Face dataset card.",
    )
    language = forms.CharField(
        required=False,
        max_length=20,
        help_text="Language of the examples as a BCP 47 code (en, de, pt-BR), if known.",
    )

    def __init__(self, *args, check_unique: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_unique = check_unique
        reviewer_ids = Example.reviewers.through.objects.values("user_id")
        self.fields["reviewers"].queryset = User.objects.filter(id__in=reviewer_ids).order_by(
            "username"
        )
        self.criteria = score_criteria()
        if self.criteria:
            names = list(self.criteria)
            example = ", ".join(f"{k}>={self.criteria[k][1] - 1}" for k in names[:2])
            self.fields[
                "min_scores"
            ].help_text = (
                f"Comma-separated criterion>=score, e.g. {example}. Criteria: {', '.join(names)}."
            )
        else:
            self.fields["min_scores"].help_text = "No rubric has criteria yet."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not _NAME.match(name):
            raise forms.ValidationError("Use letters, digits, dot, dash or underscore only.")
        return name

    def clean_license(self) -> str:
        return self.cleaned_data["license"] or License.OTHER

    def clean_language(self) -> str:
        language = self.cleaned_data["language"].strip()
        if language and not _LANGUAGE.match(language):
            raise forms.ValidationError("Use a language code such as en, de or pt-BR.")
        return language

    def clean_tags(self) -> list[str]:
        return sorted({t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()})

    def clean_min_scores(self) -> dict[str, float]:
        scores: dict[str, float] = {}
        for part in filter(str.strip, self.cleaned_data["min_scores"].split(",")):
            match = _SCORE.match(part)
            if not match:
                raise forms.ValidationError(
                    f"“{part.strip()}” is not criterion>=number (e.g. correctness>=4)."
                )
            name, value = match.group(1), float(match.group(2))
            if name not in self.criteria:
                known = ", ".join(self.criteria) or "none yet"
                raise forms.ValidationError(
                    f"“{name}” is not a rubric criterion (criteria: {known})."
                )
            low, high = self.criteria[name]
            if not low <= value <= high:
                raise forms.ValidationError(f"{name} is scored from {low} to {high}.")
            scores[name] = value
        return scores

    def clean_eval_scores(self) -> str:
        expression = self.cleaned_data["eval_scores"].strip()
        try:
            score_filter_q(expression)  # a bad criterion name is an error, not an empty result
        except ScoreFilterError as exc:
            raise forms.ValidationError(str(exc)) from None
        return expression

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        if (
            self.check_unique
            and data.get("name")
            and data.get("version")
            and Release.objects.filter(name=data["name"], version=data["version"]).exists()
        ):
            self.add_error("version", f"{data['name']} v{data['version']} already exists.")
        return data

    def filters(self) -> dict:
        d = self.cleaned_data
        return {
            "date_from": d.get("date_from") and d["date_from"].isoformat(),
            "date_to": d.get("date_to") and d["date_to"].isoformat(),
            "topics": [str(t.id) for t in d.get("topics") or []],
            "tags": d.get("tags") or [],
            "min_scores": d.get("min_scores") or {},
            "eval_scores": d.get("eval_scores") or "",
            "grounded_only": d.get("grounded_only", False),
            "reviewers": [u.id for u in d.get("reviewers") or []],
        }

    def definition(self) -> dict:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "version": d["version"],
            "description": d["description"],
            "filters": self.filters(),
            "validation_fraction": d["validation_fraction"],
            "seed": d["seed"],
            "formats": d["formats"],
            "license": d["license"],
            "language": d["language"],
        }


def score_criteria() -> dict[str, tuple[int, int]]:
    """Rubric criteria a release may filter on, with their scale: {key: (min, max)}."""
    criteria: dict[str, tuple[int, int]] = {}
    rows = Criterion.objects.order_by("position", "key").values_list(
        "key", "scale_min", "scale_max"
    )
    for key, low, high in rows:
        low_seen, high_seen = criteria.get(key, (low, high))
        criteria[key] = (min(low, low_seen), max(high, high_seen))
    return criteria


def initial_from(release: Release, version: int) -> dict:
    """Form values copying a release's definition (the "new version from this" action)."""
    f = release.filters
    return {
        "name": release.name,
        "version": version,
        "description": release.description,
        "date_from": f.get("date_from"),
        "date_to": f.get("date_to"),
        "topics": f.get("topics", []),
        "tags": ", ".join(f.get("tags", [])),
        "min_scores": ", ".join(f"{k}>={v:g}" for k, v in f.get("min_scores", {}).items()),
        "eval_scores": f.get("eval_scores", ""),
        "grounded_only": f.get("grounded_only", False),
        "reviewers": f.get("reviewers", []),
        "validation_fraction": release.validation_fraction,
        "seed": release.seed,
        "formats": release.formats,
        "license": release.license,
        "language": release.language,
    }
