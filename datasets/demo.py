"""Demo release: "demo" v1 from the approved demo examples, built by demo_lead and
approved by demo_lead2, so a new user sees a finished release and its files."""

from __future__ import annotations

from django.contrib.auth.models import User

from annotations.models import Example
from datasets import services
from datasets.exports import MIN_EXAMPLES
from datasets.models import Format, Release


def seed(stdout) -> None:
    approved = Example.objects.filter(status=Example.Status.APPROVED).count()
    if approved < MIN_EXAMPLES:
        stdout.write(
            f"demo release skipped: {approved} approved examples, a release needs "
            f"at least {MIN_EXAMPLES}"
        )
        return
    if Release.objects.filter(name="demo", version=1).exists():
        stdout.write("demo release already exists")
        return
    lead = User.objects.get(username="demo_lead")
    lead2 = User.objects.get(username="demo_lead2")
    release = services.release_create(
        user=lead,
        name="demo",
        version=1,
        filters={},
        validation_fraction=0.2,
        seed=42,
        formats=list(Format.values),
        description="Every approved demo example.",
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    services.release_build(release_id=release.id)  # synchronously, not via the queue
    release.refresh_from_db()
    if release.state != Release.State.BUILT:
        stdout.write(f"demo release failed to build: {release.error}")
        return
    services.release_approve(release=release, user=lead2)
    stdout.write(
        f"demo release {release} built by demo_lead and approved by demo_lead2 "
        f"({release.report['counts']['examples']} examples)"
    )
