"""Approve/reject/publish, four eyes, roles, immutability, reproducibility, pages."""

from __future__ import annotations

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from datasets import selectors, services
from datasets.exports import sha256_of
from datasets.models import Release
from outbox.models import OutboxEntry
from tests.datasets.test_build import ALL_FORMATS, built_release
from tests.factories import make_example, make_examples


@pytest.fixture
def built(lead):
    make_examples(lead, 14)
    make_examples(lead, 10, corrected=True)
    release = built_release(lead)
    assert release.state == "built", release.error
    return release


@pytest.mark.django_db
def test_builder_cannot_approve_own_release(built, lead):
    with pytest.raises(services.ReleaseError, match="Four eyes"):
        services.release_approve(release=built, user=lead)
    built.refresh_from_db()
    assert built.state == "built"


@pytest.mark.django_db
def test_four_eyes_setting_relaxes_it(built, lead, settings):
    settings.RELEASE_FOUR_EYES = False
    assert services.release_approve(release=built, user=lead).state == "approved"


@pytest.mark.django_db
def test_another_lead_approves_and_publishes(built, lead2):
    approved = services.release_approve(release=built, user=lead2)
    assert approved.manifest["approved_by"] == "leo"
    assert approved.manifest["built_by"] == "lena"
    assert approved.manifest["approved_at"]
    published = services.release_publish(release=approved, user=lead2)
    assert published.state == "published"
    assert OutboxEntry.objects.filter(entity="release", entity_id=str(built.id)).count() == 3


@pytest.mark.django_db
def test_expert_cannot_approve_release(built, expert):
    with pytest.raises(services.ReleaseError, match="Only a lead"):
        services.release_approve(release=built, user=expert)


@pytest.mark.django_db
def test_only_built_releases_are_approved_and_approved_ones_published(built, lead2):
    services.release_reject(release=built, user=lead2)
    # the rejection reaches the graph like every other transition (build + reject)
    assert OutboxEntry.objects.filter(entity="release", entity_id=str(built.id)).count() == 2
    with pytest.raises(services.ReleaseError):
        services.release_approve(release=built, user=lead2)
    with pytest.raises(services.ReleaseError):
        services.release_publish(release=built, user=lead2)


@pytest.mark.django_db
def test_approved_release_is_immutable(built, lead, lead2):
    approved = services.release_approve(release=built, user=lead2)
    with pytest.raises(services.ReleaseError, match="new version"):
        services.release_update(release=approved, seed=99)
    with pytest.raises(services.ReleaseError):
        services.release_request_build(release=approved, user=lead)
    with pytest.raises(services.ReleaseError, match="already exists"):
        services.release_create(
            user=lead, name=built.name, version=built.version, filters={}, formats=["openai_chat"]
        )
    approved.refresh_from_db()
    assert approved.seed == 7 and approved.state == "approved"


@pytest.mark.django_db
def test_example_in_approved_release_is_locked(built, lead2):
    item = built.items.first()
    assert not selectors.example_is_locked(item.example)
    services.release_approve(release=built, user=lead2)
    assert selectors.example_is_locked(item.example)


@pytest.mark.django_db
def test_rebuild_of_approved_definition_is_byte_identical(built, lead, lead2, tmp_path):
    approved = services.release_approve(release=built, user=lead2)
    again = services.release_new_version(release=approved, user=lead)
    assert again.version == 2 and again.filters == approved.filters
    services.release_request_build(release=again, user=lead)
    services.release_build(release_id=again.id)
    again.refresh_from_db()
    assert again.state == "built"
    old = {f["name"]: f["sha256"] for f in approved.manifest["files"]}
    new = {f["name"]: f["sha256"] for f in again.manifest["files"]}
    assert old == new and len(old) >= 3
    for name in old:
        assert (selectors.release_folder(again) / name).read_bytes() == (
            selectors.release_folder(approved) / name
        ).read_bytes()
    diff = selectors.release_diff(again, approved)
    assert diff["added_count"] == diff["removed_count"] == 0


@pytest.mark.django_db
def test_export_release_command_writes_the_same_files(built, tmp_path):
    call_command("export_release", str(built.id), "--out", str(tmp_path))
    for f in built.manifest["files"]:
        assert sha256_of(tmp_path / f["name"]) == f["sha256"]
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["release"]["id"] == str(built.id)
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.django_db
def test_export_release_refuses_unbuilt_release(lead, tmp_path):
    release = services.release_create(
        user=lead, name="d", version=1, filters={}, formats=["openai_chat"]
    )
    with pytest.raises(CommandError, match="only a built release"):
        call_command("export_release", str(release.id), "--out", str(tmp_path))
    with pytest.raises(CommandError, match="No release"):
        call_command("export_release", "not-a-uuid", "--out", str(tmp_path))


@pytest.mark.django_db
def test_manifest_has_counts_hashes_and_provenance(built):
    m = built.manifest
    assert m["definition"]["seed"] == 7 and m["definition"]["formats"] == ALL_FORMATS
    assert m["counts"]["examples"] == 24
    assert sum(m["counts"]["splits"].values()) == 24
    assert set(m["counts"]["files"]) == set(ALL_FORMATS)
    assert all(len(f["sha256"]) == 64 for f in m["files"])
    assert set(m["pii"]) >= {"email", "phone", "card", "ip", "secret"}
    assert "exact" in m["dedup"] and "near" in m["dedup"]
    assert m["built_by"] == "lena" and m["built_at"]
    assert m["code_version"]


@pytest.mark.django_db
def test_diff_against_previous_version(lead, lead2, client_for):
    examples = make_examples(lead, 12)
    v1 = built_release(lead, name="d", version=1, formats=["openai_chat"])
    make_example(lead, question="A brand new question about restores?")
    from annotations.models import Example

    Example.objects.filter(id=examples[0].id).update(status="withdrawn")
    v2 = built_release(lead, name="d", version=2, formats=["openai_chat"])
    assert selectors.previous_release(v2) == v1
    diff = selectors.release_diff(v2, v1)
    assert diff["added_count"] == 1 and diff["removed_count"] == 1
    assert diff["removed"][0][0] == examples[0].id
    page = client_for(lead2).get(reverse("datasets:diff", args=[v2.id])).content.decode()
    assert "<strong>1</strong> added, <strong>1</strong> removed" in page
    assert "A brand new question about restores?" in page


# --- pages -------------------------------------------------------------------------------

PAGES = ["datasets:list", "datasets:new"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["end_user", "expert", "outsider"])
def test_non_leads_get_403_everywhere(request, built, who, client_for):
    client = client_for(request.getfixturevalue(who))
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 403
    for name in ("detail", "diff", "manifest", "progress"):
        assert client.get(reverse(f"datasets:{name}", args=[built.id])).status_code == 403
    for name in ("approve", "reject", "publish", "build"):
        assert client.post(reverse(f"datasets:{name}", args=[built.id])).status_code == 403
    url = reverse("datasets:file", args=[built.id, "train.openai_chat.jsonl"])
    assert client.get(url).status_code == 403
    built.refresh_from_db()
    assert built.state == "built"


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client, built):
    response = client.get(reverse("datasets:detail", args=[built.id]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_list_page_empty_state(client_for, lead):
    response = client_for(lead).get(reverse("datasets:list"))
    assert response.status_code == 200
    assert "No releases yet" in response.content.decode()


@pytest.mark.django_db
def test_list_page_query_count_is_flat(client_for, lead, django_assert_max_num_queries):
    make_examples(lead, 12)
    for version in range(1, 6):
        built_release(lead, name="q", version=version, formats=["openai_chat"])
    client = client_for(lead)
    with django_assert_max_num_queries(9):  # 8 + the inbox count in the navigation
        response = client.get(reverse("datasets:list"))
    assert response.content.decode().count("badge state-built") == 5


@pytest.mark.django_db
def test_detail_shows_reports_and_downloads_stream(client_for, built, lead2):
    client = client_for(lead2)
    page = client.get(reverse("datasets:detail", args=[built.id])).content.decode()
    for text in (
        "PII scrubbed",
        "Duplicates dropped",
        "Validation",
        "train.openai_chat.jsonl",
        "Approve",
        "OpenAI recommends",
    ):
        assert text in page
    response = client.get(reverse("datasets:file", args=[built.id, "train.openai_chat.jsonl"]))
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert body == (selectors.release_folder(built) / "train.openai_chat.jsonl").read_bytes()
    assert "attachment" in response["Content-Disposition"]
    manifest = client.get(reverse("datasets:manifest", args=[built.id]))
    assert orjson.loads(manifest.content)["release"]["name"] == built.name


@pytest.mark.django_db
def test_download_refuses_names_outside_the_manifest(client_for, built):
    client = client_for(built.built_by)
    for name in ("manifest.json", "..%2Fsecret", ".train.openai_chat.jsonl.x.tmp"):
        url = reverse("datasets:detail", args=[built.id]) + "files/" + name
        assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_approve_through_the_page_enforces_four_eyes(client_for, built, lead, lead2):
    url = reverse("datasets:approve", args=[built.id])
    response = client_for(lead).post(url, follow=True)
    assert "Four eyes" in response.content.decode()
    built.refresh_from_db()
    assert built.state == "built"
    client_for(lead2).post(url)
    built.refresh_from_db()
    assert built.state == "approved" and built.approved_by == lead2


@pytest.mark.django_db
def test_define_form_validates_each_field_and_stores_nothing(client_for, lead):
    make_examples(lead, 12)
    response = client_for(lead).post(
        reverse("datasets:new"),
        {
            "name": "bad name!",
            "version": "0",
            "validation_fraction": "0.9",
            "seed": "x",
            "min_scores": "accuracy>>4",
            "date_from": "2026-02-01",
            "date_to": "2026-01-01",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {
        "name",
        "version",
        "validation_fraction",
        "seed",
        "min_scores",
        "formats",
        "date_to",
    }
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_define_form_refuses_fewer_than_ten(client_for, lead):
    make_examples(lead, 5)
    response = client_for(lead).post(
        reverse("datasets:new"),
        {
            "name": "small",
            "version": "1",
            "validation_fraction": "0.1",
            "seed": "0",
            "formats": ["openai_chat"],
        },
    )
    assert response.status_code == 400
    assert "at least 10" in response.content.decode()
    assert not Release.objects.exists()


@pytest.mark.django_db
def _rubric_with_accuracy():
    from annotations.models import Criterion, Rubric

    rubric = Rubric.objects.create(name="r")
    Criterion.objects.create(rubric=rubric, key="accuracy", label="Accuracy")


@pytest.mark.django_db
def test_define_form_names_real_criteria_and_refuses_unknown_ones(client_for, lead):
    _rubric_with_accuracy()
    client = client_for(lead)
    form = {"name": "s", "version": "1", "validation_fraction": "0.1", "seed": "0"}
    form["formats"] = ["openai_chat"]
    page = client.get(reverse("datasets:new")).content.decode()
    assert "e.g. accuracy&gt;=4. Criteria: accuracy." in page  # the hint names real criteria
    for bad, message in [
        ("vibes>=3", "“vibes” is not a rubric criterion (criteria: accuracy)."),
        ("accuracy>=9", "accuracy is scored from 1 to 5."),
    ]:
        response = client.post(reverse("datasets:new"), {**form, "min_scores": bad})
        assert response.status_code == 400 and message in response.content.decode()
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_define_form_creates_and_queues_the_build(client_for, lead):
    _rubric_with_accuracy()
    make_examples(lead, 12, tags=["x"])
    response = client_for(lead).post(
        reverse("datasets:new"),
        {
            "name": "ok",
            "version": "1",
            "validation_fraction": "0.1",
            "seed": "3",
            "formats": ["openai_chat", "vertex_gemini"],
            "tags": "x, y",
            "min_scores": "accuracy>=3",
        },
    )
    release = Release.objects.get()
    assert response.status_code == 302
    assert release.state == "building" and release.built_by == lead
    assert release.filters == {"tags": ["x", "y"], "min_scores": {"accuracy": 3.0}}


@pytest.mark.django_db
def test_preview_counts_update_from_the_form(client_for, lead):
    make_examples(lead, 12, grounded=False)
    make_examples(lead, 3)
    client = client_for(lead)
    response = client.get(
        reverse("datasets:preview"),
        {
            "name": "p",
            "version": "1",
            "validation_fraction": "0",
            "seed": "0",
            "formats": ["openai_chat"],
            "grounded_only": "on",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "<strong>3</strong> examples selected" in body
    assert "at least 10" in body
    assert "<html" not in body


@pytest.mark.django_db
def test_new_version_form_copies_the_definition(client_for, built, lead):
    response = client_for(lead).get(reverse("datasets:new") + f"?from={built.id}")
    form = response.context["form"]
    assert form.initial["version"] == 2 and form.initial["seed"] == 7
    assert form.initial["name"] == built.name


@pytest.mark.django_db
def test_detail_names_the_reviewers_a_definition_filters_on(client_for, lead, lead2, expert):
    make_examples(lead, 12, reviewers=[expert])
    release = services.release_create(
        user=lead,
        name="by-erin",
        version=1,
        filters={"reviewers": [expert.id]},
        formats=["openai_chat"],
    )
    page = client_for(lead2).get(reverse("datasets:detail", args=[release.id])).content.decode()
    assert "<strong>reviewers</strong>: erin" in page
    assert f"[{expert.id}]" not in page


@pytest.mark.django_db
def test_manifest_and_page_show_topic_balance_beside_real_traffic(lead, lead2, client_for):
    """Each release reports its topic shares next to traffic's, as traffic was at build."""
    from tests import factories as f

    billing, backups = f.topic("Billing", ["invoice"]), f.topic("Backups", ["snapshot"])
    make_examples(lead, 9, topic=billing)
    make_examples(lead, 3, topic=backups)
    for _ in range(8):  # traffic that never became examples: mostly about backups
        f.turn(user=lead, question="Is my snapshot kept?", topic=backups)
    release = built_release(lead, formats=["openai_chat"])
    balance = release.manifest["topic_balance"]
    shares = {t["topic"]: (t["examples"], t["share"], t["traffic"]) for t in balance["topics"]}
    assert shares == {"Billing": (9, 0.75, 9), "Backups": (3, 0.25, 11)}
    billing_row = balance["topics"][0]
    assert billing_row["traffic_share"] == 0.45 and billing_row["gap"] == 0.3
    assert balance["examples"] == 12 and balance["traffic"] == 20

    for _ in range(5):  # later traffic does not rewrite a built release's balance
        f.turn(user=lead, question="Another invoice?", topic=billing)
    approved = services.release_approve(release=release, user=lead2)
    assert approved.manifest["topic_balance"] == balance
    page = client_for(lead).get(reverse("datasets:detail", args=[release.id])).content.decode()
    assert 'data-testid="topic-balance"' in page and "+30 pts" in page and "75%" in page
