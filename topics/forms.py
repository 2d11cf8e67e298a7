from __future__ import annotations

from django import forms

from chat.models import Topic


class RenameForm(forms.Form):
    name = forms.CharField(max_length=120)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "rename_%s")  # the split form on the same page has a name
        super().__init__(*args, **kwargs)


class MergeForm(forms.Form):
    into = forms.ModelChoiceField(queryset=Topic.objects.all(), label="Merge into")

    def __init__(self, *args, topic: Topic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = Topic.objects.exclude(pk=topic.pk)


class SplitForm(forms.Form):
    name = forms.CharField(max_length=120, label="New topic's name")
    turns = forms.TypedMultipleChoiceField(
        choices=(), coerce=str, label="Questions to move", widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, questions: list[dict], **kwargs):
        kwargs.setdefault("auto_id", "split_%s")
        super().__init__(*args, **kwargs)
        self.fields["turns"].choices = [
            (str(q["turn_id"]), q["turn__question"][:120]) for q in questions
        ]
