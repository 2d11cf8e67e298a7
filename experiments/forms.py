from __future__ import annotations

import re
import uuid

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from chat.forms import _model_choices
from chat.models import PromptTemplate, Topic
from experiments.models import Arm, Experiment

ARM_SLOTS = 4
# an arm's fields in the table's column order, with the column headers the template shows
ARM_COLUMNS = {
    "kind": "answers from",
    "label": "label",
    "model": "model",
    "template": "prompt",
    "grounded": "grounding",
    "k": "passages",
}
_ID = re.compile(r"[0-9a-fA-F-]{32,36}")


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    source = forms.ChoiceField(choices=Experiment.Source.choices, widget=forms.RadioSelect)
    # source = filter
    rating = forms.ChoiceField(
        required=False,
        choices=[
            ("", "any rating"),
            ("down", "thumbs down"),
            ("up", "thumbs up"),
            ("none", "unrated"),
        ],
    )
    was_grounded = forms.ChoiceField(
        required=False,
        choices=[("", "grounded or not"), ("yes", "grounded"), ("no", "not grounded")],
    )
    model = forms.CharField(required=False, max_length=120, label="Logged with model")
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("method", "name"),
        required=False,
        help_text="Questions in any of these topics: keyword, discovered or chosen by an expert",
    )
    score = forms.CharField(
        required=False,
        max_length=100,
        help_text="An evaluator score filter, e.g. groundedness < 0.5",
    )
    limit = forms.IntegerField(min_value=1, initial=200)
    # source = list
    question_ids = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Logged turn ids"
    )
    # source = release
    release = forms.ModelChoiceField(queryset=None, required=False)
    evaluators = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, **kwargs):
        from datasets.models import Release
        from evaluation.models import Evaluator

        super().__init__(*args, **kwargs)
        self.fields["limit"].validators.append(MaxValueValidator(settings.EXPERIMENT_MAX_QUESTIONS))
        self.fields["release"].queryset = Release.objects.filter(
            state__in=["built", "approved", "published"]
        ).order_by("name", "-version")
        names = Evaluator.objects.order_by("name").values_list("name", flat=True)
        self.fields["evaluators"].choices = [(n, n) for n in names]
        self.fields["topics"].label_from_instance = _topic_label
        models = _model_choices()
        templates = PromptTemplate.objects.order_by("name", "-version")
        for i in range(ARM_SLOTS):
            self.fields[f"arm{i}_kind"] = forms.ChoiceField(
                required=False,
                choices=[("", "— not used —"), *Arm.Kind.choices],
                label=f"Arm {chr(65 + i)}",
            )
            self.fields[f"arm{i}_label"] = forms.CharField(required=False, max_length=80)
            self.fields[f"arm{i}_model"] = forms.ChoiceField(required=False, choices=models)
            self.fields[f"arm{i}_template"] = forms.ModelChoiceField(
                queryset=templates, required=False, empty_label="active template"
            )
            self.fields[f"arm{i}_grounded"] = forms.BooleanField(required=False, initial=True)
            self.fields[f"arm{i}_k"] = forms.IntegerField(
                required=False, min_value=1, max_value=20, initial=4
            )
            # a table row an arm, the column headers its only visible labels
            for column in ARM_COLUMNS:
                self.fields[f"arm{i}_{column}"].widget.attrs["aria-label"] = (
                    f"Arm {chr(65 + i)}: {ARM_COLUMNS[column]}"
                )

    def arm_rows(self) -> list[list]:
        return [[self[f"arm{i}_{column}"] for column in ARM_COLUMNS] for i in range(ARM_SLOTS)]

    def clean_question_ids(self) -> list[str]:
        raw = self.cleaned_data["question_ids"]
        ids = re.split(r"[\s,]+", raw.strip()) if raw.strip() else []
        bad = [i for i in ids if not _ID.fullmatch(i)]
        if bad:
            raise forms.ValidationError(f"Not a turn id: {bad[0][:40]}")
        return [str(uuid.UUID(i)) for i in ids]

    def clean(self):
        data = super().clean()
        source = data.get("source")
        if source == Experiment.Source.LIST and not data.get("question_ids"):
            self.add_error("question_ids", "List at least one logged turn id.")
        if source == Experiment.Source.RELEASE and not data.get("release"):
            self.add_error("release", "Choose a built release.")
        arms = []
        for i in range(ARM_SLOTS):
            kind = data.get(f"arm{i}_kind")
            if not kind:
                continue
            if kind == Arm.Kind.MODEL and not data.get(f"arm{i}_model"):
                self.add_error(f"arm{i}_model", "Choose the model this arm asks.")
            arms.append(i)
        if len(arms) < 2:
            raise forms.ValidationError(
                "Compare at least two arms (e.g. the logged answers and a model)."
            )
        return data

    def arm_specs(self) -> list:
        from experiments.services import ArmSpec

        d = self.cleaned_data
        specs = []
        for i in range(ARM_SLOTS):
            kind = d.get(f"arm{i}_kind")
            if not kind:
                continue
            grounded = d.get(f"arm{i}_grounded", False)
            model = d.get(f"arm{i}_model") or ""
            label = d.get(f"arm{i}_label") or (
                "logged answers"
                if kind == Arm.Kind.LOGGED
                else f"{model.split(':', 1)[-1]}{' + grounding' if grounded else ''}"
            )
            specs.append(
                ArmSpec(
                    label=label,
                    kind=kind,
                    model_key=model,
                    template=d.get(f"arm{i}_template"),
                    grounded=grounded,
                    k=d.get(f"arm{i}_k") or 4,
                )
            )
        return specs

    def filters(self) -> dict:
        d = self.cleaned_data
        out = {
            "rating": d.get("rating") or "",
            "grounded": d.get("was_grounded") or "",
            "model": d.get("model") or "",
            "topics": sorted(str(t.id) for t in d.get("topics") or ()),
            "score": d.get("score") or "",
        }
        return {k: v for k, v in out.items() if v}


def _topic_label(topic: Topic) -> str:
    return f"{topic.name} ({topic.get_method_display().lower()})"


class SendPairsForm(forms.Form):
    """Which arm's answers go to the experts against the baseline's, and how many."""

    arm = forms.TypedChoiceField(coerce=int, choices=())
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        help_text="Empty: every question",
        widget=forms.NumberInput(attrs={"placeholder": "every question"}),
    )

    def __init__(self, *args, arms, **kwargs):
        super().__init__(*args, **kwargs)
        arms = sorted(arms, key=lambda a: a.position)
        self.fields["arm"].choices = [(a.position, a.label) for a in arms[1:]]
