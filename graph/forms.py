from django import forms

from chat.models import Topic


class TopicForm(forms.Form):
    topic = forms.ModelChoiceField(
        queryset=Topic.objects.all(), required=False, empty_label="(no topic)"
    )
