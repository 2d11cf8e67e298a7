"""A failed or killed build never exposes a partial file, and never says "built"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from datasets import exports, selectors, services
from datasets.models import Release
from reviewhub.jobs import job_sweep
from tests.conftest import ROOT, wait_until
from tests.factories import make_examples


def _rows(n: int, fail_after: int):
    for i in range(n):
        if i == fail_after:
            raise OSError("disk went away mid-file")
        yield exports.Row(
            f"id-{i}", "train", [{"role": "user", "content": f"q{i}"}], f"a{i}", f"a{i}", False
        )


def test_writer_failing_mid_file_leaves_no_file(tmp_path):
    with pytest.raises(OSError, match="mid-file"):
        exports.write_files(
            folder=tmp_path,
            formats=["openai_chat", "vertex_gemini"],
            rows=_rows(5000, fail_after=3000),
            progress_every=100,
        )
    assert list(tmp_path.iterdir()) == []  # no final file, temp files removed


def test_writer_without_failure_moves_files_into_place(tmp_path):
    result = exports.write_files(
        folder=tmp_path, formats=["openai_chat"], rows=_rows(50, fail_after=-1)
    )
    assert [f.name for f in result.files] == ["train.openai_chat.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.openai_chat.jsonl"]


def _db_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    )


# The build runs in its own process. os.replace (the moment a finished file goes into
# place) is wrapped so the second file's move blocks: the process is then SIGKILLed there,
# as a worker killed mid-build would be.
KILLED_BUILD = textwrap.dedent("""
    import os, sys, time
    import django
    django.setup()
    real_replace = os.replace
    calls = []
    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            open(sys.argv[2], "w").write(str(dst))
            time.sleep(600)
        return real_replace(src, dst)
    os.replace = replace
    from datasets.services import release_build
    release_build(release_id=sys.argv[1])
""")


@pytest.mark.django_db(transaction=True)
def test_killed_build_never_exposes_a_partial_file(lead, client_for, tmp_path):
    make_examples(lead, 30)
    release = services.release_create(
        user=lead, name="k", version=1, filters={}, formats=["openai_chat", "vertex_gemini"], seed=1
    )
    services.release_request_build(release=release, user=lead, enqueue=False)
    marker = tmp_path / "blocked"
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(),
        "EXPORT_DIR": str(settings.EXPORT_DIR),
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(release.id), str(marker)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_until(lambda: marker.exists() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, "the build process exited before it was killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    release.refresh_from_db()
    assert release.state == "building"  # never "built"
    folder = selectors.release_folder(release)
    finals = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    blocked = Path(marker.read_text()).name
    assert blocked not in finals  # the file being moved in is still under its temp name
    assert any(p.name.startswith(f".{blocked}.") for p in folder.iterdir())
    client = client_for(lead)
    for name in finals + [blocked]:
        url = reverse("datasets:file", args=[release.id, name])
        assert client.get(url).status_code == 404  # nothing downloadable from a dead build

    # the dead build stops sending heartbeats: the sweeper removes its temporary files
    # and re-queues it …
    Release.objects.filter(id=release.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.JOB_LEASE_S + 60)
    )
    dead = {p.name for p in folder.iterdir() if p.name.startswith(".")}
    report = job_sweep()
    assert report["requeued"] == 1 and report["temp_files_removed"] >= 1
    # the dead run's temporary files are gone (a worker of the test session that the
    # sweeper's message reached may already be writing its own, under other names)
    assert not dead & set(os.listdir(folder) if folder.exists() else ())
    release.refresh_from_db()
    assert release.state == "building" and "stopped responding" in release.job_note

    # … and the next run starts from scratch: complete files, no leftovers (run here, or by
    # a worker of the test session that the sweeper's message reached first)
    services.release_build(release_id=release.id)
    wait_until(lambda: Release.objects.get(id=release.id).state == "built", timeout=90)
    release.refresh_from_db()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f["name"] for f in release.manifest["files"]
    )
