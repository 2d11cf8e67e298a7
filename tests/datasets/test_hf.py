"""The Hugging Face dataset format (Parquet + card + zip) and the TRL preference JSONL.

The folder is loaded with the real `datasets` library in a subprocess: our Django app is
also called `datasets`, so the library cannot be imported in the test process itself.
Hub access is switched off (HF_HUB_OFFLINE, HF_DATASETS_OFFLINE) and HF_HOME is a temp
folder, so nothing is fetched and no cache outside the test is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

from annotations.models import Example
from datasets import exports, hf, selectors, services
from datasets.models import Release
from tests.datasets.test_build import built_release, read_lines
from tests.factories import make_example, make_examples

HF_FORMATS = ["openai_chat", "openai_dpo", "trl_preference", "hf_dataset"]
EARLIER = [
    {"role": "system", "content": "System prompt.\n\nContext:\n[1] Bolt"},
    {"role": "user", "content": "What is Bolt?"},
    {"role": "assistant", "content": "A protocol."},
    {"role": "user", "content": "And the port?"},
]


@pytest.fixture
def release(lead):
    # Example ids (so splits) are random: 30 pairs at a 0.3 fraction leave a split of
    # pairs empty with probability 0.7**30 (2e-5).
    make_examples(lead, 13)
    make_examples(lead, 30, corrected=True)
    make_example(lead, question="And the port?", answer="7687.", messages=EARLIER)
    built = built_release(lead, formats=HF_FORMATS, fraction=0.3)
    assert built.state == Release.State.BUILT, built.error
    return built


def folder_of(release) -> Path:
    return selectors.release_folder(release)


def parquet_rows(release, config: str, split: str) -> list[dict]:
    path = folder_of(release) / hf.parquet_name(config, split)
    return pq.read_table(path).to_pylist() if path.exists() else []


def card_of(release) -> tuple[dict, str]:
    text = (folder_of(release) / hf.CARD).read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): exports.sha256_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


LOAD = r"""
import json, sys
from datasets import load_dataset
folder = sys.argv[1]
out = {}
for config in sys.argv[2:]:
    ds = load_dataset(folder, config)
    out[config] = {
        split: {"rows": d.num_rows, "columns": d.column_names, "first": d[0],
                "features": str(d.features)}
        for split, d in ds.items()
    }
print(json.dumps(out))
"""


def load_with_datasets_library(folder: Path, tmp_path: Path, *configs: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_TOKEN")}
    env |= {
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf-home" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    # cwd outside the project, so `import datasets` finds the library, not our app
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder), *configs],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_the_datasets_library_loads_the_folder_into_its_splits_and_row_counts(release, tmp_path):
    loaded = load_with_datasets_library(
        folder_of(release) / hf.FOLDER, tmp_path, "default", "preference"
    )
    files = {(f.get("config"), f["split"]): f["lines"] for f in release.manifest["files"]}
    default, preference = loaded["default"], loaded["preference"]
    assert set(default) == {"train", "validation"} and set(preference) == {"train", "validation"}
    for split in ("train", "validation"):
        assert default[split]["rows"] == files[("default", split)]
        assert preference[split]["rows"] == files[("preference", split)]
        assert default[split]["columns"] == ["messages", "example_id"]
        assert preference[split]["columns"] == ["prompt", "chosen", "rejected", "example_id"]
    assert sum(d["rows"] for d in default.values()) == 44
    assert sum(d["rows"] for d in preference.values()) == 30
    # TRL's conversational layouts: lists of {role, content} messages
    first = default["train"]["first"]["messages"]
    assert all(set(m) == {"role", "content"} for m in first)
    assert first[-1]["role"] == "assistant"
    pair = preference["train"]["first"]
    assert pair["prompt"][-1]["role"] == "user"
    assert [m["role"] for m in pair["chosen"]] == ["assistant"]
    assert [m["role"] for m in pair["rejected"]] == ["assistant"]
    assert pair["chosen"] != pair["rejected"]


@pytest.mark.django_db
def test_parquet_rows_are_the_chat_file_lines_with_earlier_turns_as_the_model_saw_them(release):
    for split in ("train", "validation"):
        rows = parquet_rows(release, "default", split)
        lines = read_lines(release, f"{split}.openai_chat.jsonl")
        assert [r["messages"] for r in rows] == [x["messages"] for x in lines]
        assert all(exports.errors_openai_chat({"messages": r["messages"]}) == [] for r in rows)
    everything = [r for s in ("train", "validation") for r in parquet_rows(release, "default", s)]
    later = [r for r in everything if r["messages"][-2]["content"] == "And the port?"]
    assert later[0]["messages"] == [*EARLIER, {"role": "assistant", "content": "7687."}]
    example = Example.objects.get(question="And the port?")
    assert later[0]["example_id"] == str(example.id)


@pytest.mark.django_db
def test_trl_preference_file_pairs_the_correction_against_the_original(release):
    lines = [
        line
        for s in ("train", "validation")
        for line in read_lines(release, f"{s}.trl_preference.jsonl")
    ]
    assert len(lines) == 30  # corrected examples only
    for line in lines:
        assert set(line) == {"prompt", "chosen", "rejected"}
        assert line["prompt"][0]["role"] == "system" and line["prompt"][-1]["role"] == "user"
        assert line["chosen"] == [{"role": "assistant", "content": line["chosen"][0]["content"]}]
        assert line["rejected"][0]["content"].startswith("Old answer")
        assert exports.errors_trl_preference(line) == []
    # the same pairs as the OpenAI DPO file and the Parquet preference config
    for split in ("train", "validation"):
        trl = read_lines(release, f"{split}.trl_preference.jsonl")
        dpo = read_lines(release, f"{split}.openai_dpo.jsonl")
        assert [x["prompt"] for x in trl] == [x["input"]["messages"] for x in dpo]
        assert [x["chosen"] for x in trl] == [x["preferred_output"] for x in dpo]
        rows = parquet_rows(release, "preference", split)
        assert [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows] == trl


def test_trl_preference_validator_rejects_broken_pairs():
    ok = {
        "prompt": [{"role": "user", "content": "q"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    assert exports.errors_trl_preference(ok) == []
    assert exports.errors_trl_preference({**ok, "rejected": ok["chosen"]})
    assert exports.errors_trl_preference({**ok, "prompt": "q"})  # not conversational
    assert exports.errors_trl_preference({**ok, "chosen": [{"role": "user", "content": "x"}]})
    assert exports.errors_trl_preference({"prompt": ok["prompt"], "chosen": ok["chosen"]})


@pytest.mark.django_db
def test_card_yaml_parses_and_names_every_file(release):
    meta, _ = card_of(release)
    on_disk = {
        p.relative_to(folder_of(release) / hf.FOLDER).as_posix()
        for p in (folder_of(release) / hf.FOLDER).rglob("*.parquet")
    }
    named = {f["path"] for c in meta["configs"] for f in c["data_files"]}
    assert named == on_disk and len(on_disk) == 4
    assert [c["config_name"] for c in meta["configs"]] == ["default", "preference"]
    splits = {c["config_name"]: [f["split"] for f in c["data_files"]] for c in meta["configs"]}
    assert splits == {"default": ["train", "validation"], "preference": ["train", "validation"]}
    assert meta["license"] == "other" and meta["license_name"] == "proprietary"
    assert meta["annotations_creators"] == ["expert-generated"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"] == "r v1"
    assert "language" not in meta  # not known for this release
    # every file of the release, the card and the zip included, is in the manifest
    manifest_names = {f["name"] for f in release.manifest["files"]}
    assert {f"{hf.FOLDER}/{n}" for n in on_disk} | {hf.CARD, hf.ZIP} <= manifest_names


@pytest.mark.django_db
def test_card_body_states_selection_counts_cleaning_models_and_hashes(release):
    _, body = card_of(release)
    report = release.report
    assert "## How the examples were selected" in body
    assert "seed 7" in body and "`hf_dataset`" in body
    counts = report["counts"]
    assert f"{counts['selected']} approved examples matched" in body
    assert f"{counts['examples']} remain after de-duplication" in body
    assert "**1 of 44 examples are multi-turn**" in body
    assert "| (no topic) |" in body
    assert f"{report['dedup']['exact']} exact" in body
    assert f"{report['pii']['total']} in all" in body
    assert "| m-1 | 44 |" in body
    for f in report["files"]:
        if f["name"] not in (hf.CARD, hf.ZIP):
            assert f["sha256"] in body
    assert "No example in this dataset was reviewed twice" in body
    assert "## Licence" in body and "Proprietary" in body


@pytest.mark.django_db
def test_card_reports_the_rubric_and_agreement_of_a_real_two_reviewer_flow(
    end_user, expert, expert2, lead, settings
):
    from annotations import services as review
    from tests.factories import make_rubric, make_turn

    settings.REVIEWS_REQUIRED = 2
    rubric = make_rubric()
    for n in range(11):
        make_turn(end_user, question=f"Question number {n} about topic {n * 7}?")
    make_turn(end_user, question="And the port?", prompt_messages=EARLIER, model="gpt-other")
    for who, bump in ((expert, 0), (expert2, 1)):
        for n in range(12):
            item = review.queue_claim_next(expert=who)
            scores = {"correctness": 4 + (bump and n % 2), "groundedness": 3 + n % 3}
            review.review_submit(
                item_id=item.pk, reviewer=who, scores=scores, tags=[], verdict="approve"
            )
    assert Example.objects.count() == 12
    built = built_release(lead, formats=["hf_dataset"], fraction=0)
    assert built.state == "built", built.error
    _, body = card_of(built)
    assert f"Rubric **{rubric.name}**" in body
    assert "| correctness | Correctness | 1–5 |" in body
    assert "over the 12 examples reviewed by two or more of 2 reviewers" in body
    agreement = built.report["card"]["agreement"]
    assert agreement["items"] == 12 and agreement["criteria"][0]["units"] == 12
    assert "**1 of 12 examples are multi-turn**" in body
    assert "| gpt-other | 1 |" in body and "| gpt-test | 11 |" in body
    # the later turn is exported with its earlier turns, from the real approval path
    rows = parquet_rows(built, "default", "train")
    later = next(r for r in rows if r["messages"][-2]["content"] == "And the port?")
    assert later["messages"][:-1] == EARLIER


@pytest.mark.django_db
def test_rebuild_is_byte_identical(release, lead, lead2, tmp_path):
    built_files = {f["name"]: f["sha256"] for f in release.manifest["files"]}
    assert hashes(folder_of(release)) == built_files
    # the same release written again from its snapshot: every file, card and zip included
    call_command("export_release", str(release.id), "--out", str(tmp_path / "again"))
    again = hashes(tmp_path / "again")
    again.pop("manifest.json")
    assert again == built_files
    # a new version of the same definition: the same data files, byte for byte
    approved = services.release_approve(release=release, user=lead2)
    v2 = services.release_new_version(release=approved, user=lead)
    services.release_request_build(release=v2, user=lead)
    services.release_build(release_id=v2.id)
    v2.refresh_from_db()
    parquet = [n for n in built_files if n.endswith(".parquet")]
    assert parquet and all(
        (folder_of(v2) / n).read_bytes() == (folder_of(release) / n).read_bytes() for n in parquet
    )
    _, body2 = card_of(v2)
    assert "# r v2" in body2  # the card names its own release


@pytest.mark.django_db
def test_an_approved_release_files_never_change(release, lead, lead2, tmp_path):
    before = hashes(folder_of(release))
    approved = services.release_approve(release=release, user=lead2)
    published = services.release_publish(release=approved, user=lead2)
    with pytest.raises(services.ReleaseError):
        services.release_request_build(release=published, user=lead)
    with pytest.raises(services.ReleaseError):
        services.release_update(release=published, license="mit")
    # the examples change after approval; the release's files do not
    Example.objects.update(answer="Edited after approval.")
    call_command("export_release", str(release.id), "--out", str(tmp_path / "out"))
    assert hashes(folder_of(release)) == before
    written = hashes(tmp_path / "out")
    written.pop("manifest.json")
    assert written == before


@pytest.mark.django_db
def test_zip_holds_the_folder_in_fixed_order_with_fixed_dates(release):
    folder = folder_of(release)
    with zipfile.ZipFile(folder / hf.ZIP) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and "README.md" in names
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        for name in names:
            assert zf.read(name) == (folder / hf.FOLDER / name).read_bytes()


@pytest.mark.django_db
def test_language_and_licence_reach_the_card(lead):
    make_examples(lead, 12)
    release = services.release_create(
        user=lead,
        name="de-support",
        version=1,
        filters={},
        formats=["hf_dataset"],
        license="cc-by-4.0",
        language="de",
        validation_fraction=0,
    )
    services.release_request_build(release=release, user=lead)
    services.release_build(release_id=release.id)
    release.refresh_from_db()
    meta, body = card_of(release)
    assert meta["language"] == ["de"] and meta["license"] == "cc-by-4.0"
    assert "license_name" not in meta
    assert [c["config_name"] for c in meta["configs"]] == ["default"]  # nothing corrected
    assert [f["split"] for f in meta["configs"][0]["data_files"]] == ["train"]
    assert "CC BY 4.0" in body
    assert release.manifest["definition"]["license"] == "cc-by-4.0"


@pytest.mark.django_db
def test_rows_the_rules_refuse_are_left_out_of_the_parquet_and_reported(lead):
    make_examples(lead, 11)
    make_example(lead, answer="   ")
    release = built_release(lead, formats=["hf_dataset"], fraction=0)
    assert release.state == "built", release.error
    assert release.report["validation"]["excluded"]["hf_dataset"] == {"empty content": 1}
    assert len(parquet_rows(release, "default", "train")) == 11
    _, body = card_of(release)
    assert "Left out by validation: 1 (empty content)." in body


@pytest.mark.django_db
def test_define_form_takes_licence_and_language_and_refuses_a_bad_code(client_for, lead):
    make_examples(lead, 12)
    data = {
        "name": "hf",
        "version": "1",
        "validation_fraction": "0.1",
        "seed": "0",
        "formats": ["hf_dataset"],
        "license": "cc0-1.0",
        "language": "english please",
    }
    client = client_for(lead)
    response = client.post(reverse("datasets:new"), data)
    assert response.status_code == 400
    assert "language code" in response.content.decode()
    assert not Release.objects.exists()
    response = client.post(reverse("datasets:new"), {**data, "language": "pt-BR"})
    assert response.status_code == 302
    release = Release.objects.get()
    assert (release.license, release.language) == ("cc0-1.0", "pt-BR")


@pytest.mark.django_db
def test_detail_page_offers_the_zip_and_the_upload_command(client_for, release, lead2):
    client = client_for(lead2)
    page = client.get(reverse("datasets:detail", args=[release.id])).content.decode()
    assert "Hugging Face dataset" in page and "hf upload ORG/r" in page
    response = client.get(reverse("datasets:file", args=[release.id, hf.ZIP]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content) == (folder_of(release) / hf.ZIP).read_bytes()
    name = hf.parquet_name("default", "train")
    response = client.get(reverse("datasets:file", args=[release.id, name]))
    assert response.status_code == 200
    assert "r-v1-hf-data-train-00000-of-00001.parquet" in response["Content-Disposition"]
    outside = reverse("datasets:detail", args=[release.id]) + "files/hf/../../secret"
    assert client.get(outside).status_code == 404


def test_read_back_check_catches_broken_parquet_rows():
    import pyarrow as pa

    schema = hf._schemas()["default"]

    def table(*messages):
        return pa.Table.from_pylist(
            [{"messages": m, "example_id": "x"} for m in messages], schema=schema
        )

    good = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert hf._messages_errors(table(good), "messages", last="assistant") == []
    blank = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]
    assert (
        "empty content" in hf._messages_errors(table(good, blank), "messages", last="assistant")[0]
    )
    unanswered = [{"role": "user", "content": "q"}]
    assert "does not end" in hf._messages_errors(table(unanswered), "messages", last="assistant")[0]
    odd = [{"role": "tool", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert "unknown roles" in hf._messages_errors(table(odd), "messages", last="assistant")[0]
    assert hf._messages_errors(table(good), "messages", last="assistant", length=1)
    # A slice of a table (its arrays start at an offset) is checked on its own rows only.
    assert hf._messages_errors(table(blank, good).slice(1), "messages", last="assistant") == []
    assert hf._messages_errors(table(good, blank).slice(1), "messages", last="assistant")
    pair = hf._schemas()["preference"]
    same = [{"role": "assistant", "content": "a"}]
    rows = [{"prompt": unanswered, "chosen": same, "rejected": same, "example_id": "x"}]
    assert hf._table_errors("preference", pa.Table.from_pylist(rows, schema=pair)) == [
        "a row's chosen and rejected are the same"
    ]


@pytest.mark.django_db
def test_card_lists_each_rubric_version_with_its_own_criteria(end_user, expert, lead, settings):
    """Reviews made under two versions of one rubric: the card names both versions, each
    with the criteria it had (a revision added "clarity"), never the two merged."""
    from annotations import services as review
    from annotations.models import Criterion, Review, Rubric
    from tests.factories import make_rubric, make_turn

    settings.REVIEWS_REQUIRED = 1
    first = make_rubric()
    for n in range(12):
        make_turn(end_user, question=f"Question number {n} about topic {n * 7}?")
    for _ in range(12):
        item = review.queue_claim_next(expert=expert)
        review.review_submit(
            item_id=item.pk,
            reviewer=expert,
            scores={"correctness": 4, "groundedness": 4},
            tags=[],
            verdict="approve",
        )
    second = Rubric.objects.create(name=first.name, version=2, previous=first)
    for c in first.criteria.all():
        Criterion.objects.create(
            rubric=second,
            key=c.key,
            label=c.label,
            position=c.position,
            scale_min=c.scale_min,
            scale_max=c.scale_max,
        )
    Criterion.objects.create(rubric=second, key="clarity", label="Clarity", position=9)
    later = Review.objects.order_by("created_at").values_list("id", flat=True)[6:]
    Review.objects.filter(id__in=list(later)).update(rubric=second)

    built = built_release(lead, formats=["hf_dataset"], fraction=0)
    assert built.state == "built", built.error
    _, body = card_of(built)
    v1, v2 = body.index(f"Rubric **{first.name}** v1"), body.index(f"Rubric **{first.name}** v2")
    assert v1 < v2
    assert "| clarity | Clarity |" in body[v2:] and "| clarity |" not in body[v1:v2]
    assert body[v1:v2].count("| correctness |") == 1


def test_parquet_bytes_are_those_pyarrow_writes_from_the_rows_as_python_objects(tmp_path):
    """The shards parse the JSONL lines with Arrow's JSON reader; the files must be the
    bytes pyarrow writes from the same rows given as Python objects (`from_pylist`, what
    the writer did before), text that JSON escapes included."""
    import pyarrow as pa

    texts = ["plain", 'quote " and back\\slash', "tab\tnew\nline", "ünï 日本 ✓ \u2028", "\x00 nul"]
    rows = [
        exports.Row(
            f"{n:032x}",
            "train",
            [
                {"role": "system", "content": "S " + texts[n % 5]},
                {"role": "user", "content": texts[(n + 1) % 5] + " ?"},
            ],
            f"answer {n} {texts[(n + 2) % 5]}",
            f"original {n}",
            n % 3 == 0,
        )
        for n in range(2500)  # more than two row groups
    ]
    result = exports.write_files(folder=tmp_path, formats=["hf_dataset"], rows=rows)
    assert not result.errors
    schemas = hf._schemas()
    for config, build in (
        ("default", lambda r: {"messages": exports.build_openai_chat(r)["messages"]}),
        ("preference", exports.build_trl_preference),
    ):
        expected = [
            {**line, "example_id": exports.dashed_uuid(r.example_id)}
            for r in rows
            if (line := build(r)) is not None
        ]
        reference = tmp_path / f"reference-{config}.parquet"
        writer = pq.ParquetWriter(reference, schemas[config], **hf.COMPRESSION)
        for start in range(0, len(expected), hf.ROW_GROUP):
            chunk = expected[start : start + hf.ROW_GROUP]
            table = pa.Table.from_pylist(chunk, schema=schemas[config])
            writer.write_table(table, row_group_size=hf.ROW_GROUP)
        writer.close()
        written = tmp_path / hf.parquet_name(config, "train")
        assert written.read_bytes() == reference.read_bytes()
