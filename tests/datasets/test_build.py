"""Building a release: snapshot, dedup, PII, split, files, manifest."""

from __future__ import annotations

import orjson
import pytest

from datasets import selectors, services
from datasets.exports import sha256_of
from datasets.models import Release
from tests.factories import make_examples

ALL_FORMATS = ["openai_chat", "openai_dpo", "vertex_gemini"]


def built_release(
    user, *, name="r", version=1, filters=None, seed=7, fraction=0.2, formats=ALL_FORMATS
) -> Release:
    release = services.release_create(
        user=user,
        name=name,
        version=version,
        filters=filters or {},
        validation_fraction=fraction,
        seed=seed,
        formats=formats,
    )
    services.release_request_build(release=release, user=user)
    services.release_build(release_id=release.id)
    release.refresh_from_db()
    return release


def read_lines(release, name):
    """Lines of one file; a split with no lines has no file (ids, so splits, are random)."""
    path = selectors.release_folder(release) / name
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.django_db
def test_build_writes_each_format_per_split(lead):
    make_examples(lead, 14)
    make_examples(lead, 12, corrected=True)
    release = built_release(lead)
    assert release.state == "built", release.error
    names = {f["name"] for f in release.manifest["files"]}
    assert {f"train.{f}.jsonl" for f in ALL_FORMATS} <= names
    assert names <= {f"{s}.{f}.jsonl" for s in ("train", "validation") for f in ALL_FORMATS}
    assert release.progress_percent == 100
    for f in release.manifest["files"]:
        assert sha256_of(selectors.release_folder(release) / f["name"]) == f["sha256"]
    total = sum(len(read_lines(release, f"{s}.openai_chat.jsonl")) for s in ("train", "validation"))
    assert total == 26
    dpo = sum(len(read_lines(release, f"{s}.openai_dpo.jsonl")) for s in ("train", "validation"))
    assert dpo == 12
