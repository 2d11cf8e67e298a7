from __future__ import annotations

import json
import re

from django import forms

from chat import llm
from chat.models import ModelEndpoint, PromptTemplate, Topic
from chat.selectors import logged_models
from chat.services import MAX_QUESTION_CHARS
from reviewhub.validation import FormLimits


def _model_choices() -> list[tuple[str, str]]:
    return [(m.key, m.label) for m in llm.available_models()]


class AskForm(FormLimits, forms.Form):
    question = forms.CharField(
        max_length=MAX_QUESTION_CHARS,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Ask a question…", "aria-label": "Your question"}
        ),
        error_messages={"required": "Please type a question."},
    )
    grounded = forms.BooleanField(
        required=False, label="Grounding", help_text="Answer from the knowledge base"
    )
    model = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = _model_choices()
        if not self.is_bound and self.initial.get("model") not in dict(
            self.fields["model"].choices
        ):
            self.initial["model"] = self.fields["model"].choices[0][0]


class RenameForm(FormLimits, forms.Form):
    title = forms.CharField(
        max_length=200,
        strip=True,
        error_messages={"required": "Give the conversation a title."},
    )


class TokenForm(FormLimits, forms.Form):
    name = forms.CharField(
        max_length=100,
        initial="My LLM app",
        help_text="What the token is for, to tell tokens apart",
    )


class ReplayForm(FormLimits, forms.Form):
    RATING = [
        ("", "any rating"),
        ("down", "thumbs down"),
        ("up", "thumbs up"),
        ("none", "not rated"),
    ]
    GROUNDED = [("", "grounded or not"), ("no", "not grounded"), ("yes", "grounded")]

    rating = forms.ChoiceField(choices=RATING, required=False)
    was_grounded = forms.ChoiceField(choices=GROUNDED, required=False, label="Originally")
    original_model = forms.ChoiceField(choices=(), required=False, label="Original model")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grounded = forms.BooleanField(required=False, initial=True, label="Replay with grounding")
    model = forms.ChoiceField(choices=(), label="Replay with model")
    prompt_template = forms.ModelChoiceField(
        queryset=PromptTemplate.objects.all(),
        required=False,
        empty_label="active version",
        label="Prompt version",
    )
    limit = forms.IntegerField(
        min_value=1, max_value=500, initial=50, label="At most this many questions"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = _model_choices()
        self.fields["original_model"].choices = [("", "any model")] + [
            (m, m) for m in logged_models()
        ]

    def filters(self) -> dict:
        d = self.cleaned_data
        return {
            "rating": d["rating"],
            "grounded": d["was_grounded"],
            "model": d["original_model"],
            "date_from": d["date_from"],
            "date_to": d["date_to"],
        }

    def filters_json(self) -> dict:
        return {
            k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in self.filters().items()
        }


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAM_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "max_tokens": (1, 100_000)}


class ModelEndpointForm(FormLimits, forms.ModelForm):
    """Register a model; the key stays in the environment, named by `api_key_env`."""

    base_url = forms.URLField(
        required=False,
        max_length=300,
        assume_scheme="https",
        help_text="OpenAI-compatible base URL, e.g. http://localhost:8001/v1; blank: OpenAI's",
    )
    params = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON, e.g. {"temperature": 0.2, "max_tokens": 600}',
    )

    class Meta:
        model = ModelEndpoint
        fields = [
            "name",
            "base_url",
            "api_key_env",
            "model",
            "params",
            "in_chat",
            "fine_tuned_from",
            "fine_tune_job",
            "fine_tune_status",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["params"] = json.dumps(self.instance.params or {})

    def clean_api_key_env(self) -> str:
        name = self.cleaned_data["api_key_env"].strip()
        if name.startswith(("sk-", "sk_")) or (name and not _ENV_NAME.match(name)):
            raise forms.ValidationError(
                "Give the NAME of the environment variable that holds the key (e.g. "
                "TOGETHER_API_KEY), never the key itself."
            )
        return name

    def clean_params(self) -> dict:
        raw = (self.cleaned_data["params"] or "").strip() or "{}"
        try:
            params = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Parameters must be a JSON object.") from None
        if not isinstance(params, dict):
            raise forms.ValidationError("Parameters must be a JSON object.")
        for key, value in params.items():
            if key not in PARAM_RANGES:
                known = ", ".join(PARAM_RANGES)
                raise forms.ValidationError(f"Unknown parameter “{key}” (known: {known}).")
            low, high = PARAM_RANGES[key]
            kind = int if isinstance(low, int) else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
                raise forms.ValidationError(f"{key} must be a number from {low} to {high}.")
        return params


class TopicForm(forms.Form):
    topic = forms.ModelChoiceField(
        queryset=Topic.objects.all(), required=False, empty_label="(no topic)"
    )
