"""The forms get the API's limits (reviewhub/validation.py): a huge integer, a score of 400
digits, text with unpaired surrogates or a date in year 1 is a message, never a database error."""

import pytest
from django.urls import reverse

from annotations.forms import QueueFilterForm
from chat.forms import TokenForm
from datasets.models import Release


@pytest.mark.django_db
def test_a_release_version_of_400_digits_is_a_form_error_not_a_crash(client_for, lead):
    response = client_for(lead).post(
        reverse("datasets:new"),
        {
            "name": "big",
            "version": "9" * 400,
            "validation_fraction": "0.1",
            "seed": "0",
            "min_scores": "accuracy>=" + "9" * 400,
            "formats": ["openai_chat"],
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["version"] == ["Ensure this value is less than or equal to 2147483647."]
    assert errors["min_scores"]  # 400 digits are infinity: out of every criterion's range
    assert not Release.objects.exists()


def test_text_with_an_unpaired_surrogate_or_nul_is_refused():
    form = TokenForm(data={"name": "ci \ud800"})
    assert form.errors["name"] == ["Must not contain unpaired surrogate characters."]
    assert not TokenForm(data={"name": "a\x00"}).is_valid()


@pytest.mark.django_db
def test_a_filter_date_in_year_1_is_refused():
    form = QueueFilterForm(data={"date_from": "0001-01-01"})
    assert form.errors["date_from"] == ["Must be between 2000-01-01 and 2999-12-31."]
    assert QueueFilterForm(data={"date_from": "2026-01-01"}).is_valid()
