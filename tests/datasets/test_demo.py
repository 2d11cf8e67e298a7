"""The demo release: built by demo_lead, approved by demo_lead2; skipped with a message
when there are too few approved examples."""

from __future__ import annotations

import io

import pytest

from accounts.services import user_create
from datasets import demo
from datasets.models import Release
from tests.factories import make_examples


@pytest.fixture
def demo_leads(db):
    return [
        user_create(username=n, role="lead", password="x")[0] for n in ("demo_lead", "demo_lead2")
    ]


@pytest.mark.django_db
def test_demo_builds_and_approves_a_release(demo_leads):
    make_examples(demo_leads[0], 12)
    out = io.StringIO()
    demo.seed(out)
    release = Release.objects.get(name="demo", version=1)
    assert release.state == "approved", release.error
    assert release.built_by.username == "demo_lead"
    assert release.approved_by.username == "demo_lead2"
    assert release.manifest["files"]
    assert "approved by demo_lead2" in out.getvalue()


@pytest.mark.django_db
def test_demo_skips_with_a_message_when_too_few_examples(demo_leads):
    make_examples(demo_leads[0], 4)
    out = io.StringIO()
    demo.seed(out)
    assert "skipped" in out.getvalue() and "4 approved examples" in out.getvalue()
    assert not Release.objects.exists()
