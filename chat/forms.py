from __future__ import annotations

from django import forms

from chat import llm
from chat.models import PromptTemplate
from chat.selectors import logged_models
from chat.services import MAX_QUESTION_CHARS


def _model_choices() -> list[tuple[str, str]]:
    return [(m.key, m.label) for m in llm.available_models()]


class AskForm(forms.Form):
    question = forms.CharField(
        max_length=MAX_QUESTION_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Ask a question…"}),
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


class RenameForm(forms.Form):
    title = forms.CharField(
        max_length=200,
        strip=True,
        error_messages={"required": "Give the conversation a title."},
    )


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        initial="My LLM app",
        help_text="What the token is for, to tell tokens apart",
    )


class ReplayForm(forms.Form):
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
