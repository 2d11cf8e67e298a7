"""Export throughput to OpenAI chat JSONL, and peak RSS, at 10k and 100k examples; the
Hugging Face dataset format's build time at 100k.

Own database: a temp SQLite file (never the dev DB). One subprocess migrates and bulk-
inserts the data (two built releases: 10k and 100k items snapshotted from 100k examples);
then each size is exported (3 times, best time kept) in a FRESH subprocess —
`datasets.exports.write_files` fed by `datasets.services.iter_rows` (the same path a build
and `export_release` take: stream from the database, serialise, write, read back to
validate and hash, move into place) — reporting its wall time and `ru_maxrss`.

The Hugging Face figure is the whole format as a build makes it: Parquet for both configs
(every fifth item is corrected, so a preference pair), read back and validated, then the
card's facts (topics, rubric, agreement) from the database, the card and the zip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 100_000)
RUNS = 3

SETUP = r"""
import sys, uuid, json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from chat.models import Conversation, Turn
from annotations.models import Example
from datasets.models import Release, ReleaseItem
sizes = [int(x) for x in sys.argv[1:]]
n = max(sizes)
user = User.objects.create_user("bench")
conv = Conversation.objects.create(user=user)
now = timezone.now()
system = "You are the support assistant. Answer only from the context.\n\nContext:\n" + \
    "[1] Snapshots\nOpen the snapshot page, choose the snapshot and press Restore. " * 4
B = 5000
with transaction.atomic():
    for start in range(0, n, B):
        turns = [Turn(conversation=conv, user=user, question=f"q{i}", answer="a",
                      created_at=now) for i in range(start, min(n, start + B))]
        Turn.objects.bulk_create(turns)
        exs = [Example(turn=t, question=f"How do I restore snapshot {i}?",
                       messages=[{"role": "system", "content": system},
                                 {"role": "user", "content": f"How do I restore snapshot {i}?"}],
                       answer=f"Open snapshot {i} and press Restore; it takes a few minutes.",
                       original_answer="Press restore.", approved_at=now)
               for i, t in zip(range(start, min(n, start + B)), turns)]
        Example.objects.bulk_create(exs)
ids = list(Example.objects.order_by("id").values_list("id", "question", "messages", "answer"))
out = {}
for size in sizes:
    r = Release.objects.create(name=f"bench{size}", version=1, formats=["openai_chat"],
                               state="built")
    with transaction.atomic():
        for start in range(0, size, B):
            ReleaseItem.objects.bulk_create([
                ReleaseItem(release=r, example_id=eid, position=p,
                            split="validation" if p % 10 == 0 else "train",
                            messages=m, question=q, answer=a,
                            original_answer="Press restore." if p % 5 == 0 else a,
                            corrected=p % 5 == 0)
                for p, (eid, q, m, a) in enumerate(ids[start:start + B], start=start)])
    out[size] = str(r.id)
print(json.dumps(out))
"""

EXPORT = r"""
import sys, time, json, resource
import django
django.setup()
from pathlib import Path
from datasets import exports, services
from datasets.models import Release
release = Release.objects.get(id=sys.argv[1])
fmt = sys.argv[3]
folder = Path(sys.argv[2])
start = time.perf_counter()
result = exports.write_files(folder=folder, formats=[fmt], rows=services.iter_rows(release))
if fmt == "hf_dataset":
    from datasets import hf
    report = {"files": [f.as_dict() for f in result.files], "card": hf.card_facts(release, result)}
    hf.write_card(folder=folder, release=release, report=report)
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
lines = result.lines(fmt)
print(json.dumps({"lines": lines, "seconds": elapsed, "rss_mb": usage.ru_maxrss / 1024,
                  "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def _env(tmp: Path) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "EXPORT_DIR": str(tmp / "exports"),
        "REVIEWHUB_VAR_DIR": str(tmp / "var"),
        "DJANGO_SETTINGS_MODULE": "reviewhub.settings",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
    }


def _py(code: str, args: list[str], env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        env = _env(tmp)
        releases = _py(SETUP, [str(s) for s in SIZES], env)
        figures, hf_figures = {}, {}
        for fmt, into in (("openai_chat", figures), ("hf_dataset", hf_figures)):
            for size in SIZES:
                # Best of RUNS (the machine is shared: the fastest run is the least
                # disturbed); peak RSS is the largest seen.
                runs = [
                    _py(EXPORT, [releases[str(size)], str(tmp / f"{fmt}{size}-{i}"), fmt], env)
                    for i in range(RUNS)
                ]
                assert all(r["lines"] == size for r in runs), runs
                best = min(runs, key=lambda r: r["seconds"])
                into[size] = {
                    "lines": size,
                    "seconds": best["seconds"],
                    "cpu_s": best["cpu_s"],
                    "rss_mb": max(r["rss_mb"] for r in runs),
                }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    big, small = figures[100_000], figures[10_000]
    hf_big, hf_small = hf_figures[100_000], hf_figures[10_000]
    return {
        "export_openai_per_s_100k": {
            "value": round(big["lines"] / big["seconds"], 1),
            "unit": "examples/s",
            "target": ">= 50000",
            "n": 100_000,
            "cpu_s": round(big["cpu_s"], 2),
        },
        "export_peak_rss_mb_10k": {
            "value": round(small["rss_mb"], 1),
            "unit": "MB",
            "target": "baseline",
            "n": 10_000,
        },
        "export_peak_rss_mb_100k": {
            "value": round(big["rss_mb"], 1),
            "unit": "MB",
            "target": "<= 1.2 x the 10k figure",
            "n": 100_000,
            "ratio": round(big["rss_mb"] / small["rss_mb"], 3),
        },
        # The Hugging Face format as a build makes it: Parquet for both configs, read
        # back and checked, the card's facts from the database, the card and the zip.
        "export_hf_dataset_seconds_100k": {
            "value": round(hf_big["seconds"], 2),
            "unit": "s",
            "target": "report",
            "n": 100_000,
            "cpu_s": round(hf_big["cpu_s"], 2),
            "per_s": round(100_000 / hf_big["seconds"], 1),
        },
        "export_hf_dataset_peak_rss_mb_100k": {
            "value": round(hf_big["rss_mb"], 1),
            "unit": "MB",
            "target": "<= 1.2 x the 10k figure",
            "n": 100_000,
            "ratio": round(hf_big["rss_mb"] / hf_small["rss_mb"], 3),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
