"""Evaluator benchmarks (issue #12).

* eval_groundedness_auroc — the offline groundedness check's AUROC on the labelled set
  (bench/data/eval_pairs.jsonl, built by bench/make_eval_pairs.py from demo/kb: 200 pairs of a
  true KB statement and the same with a number, name or negation changed, with the passages).
* eval_kb_support_auroc — the knowledge-base support check's AUROC on the same labelled answers,
  each checked against the demo knowledge base (a lexical search for its question and answer)
  instead of the passages it came with: what kb_support is, a check of answers given no passages.
* eval_offline_turns_per_s — turns per second through the online scan (`evaluation.services.
  online_scan`: load the turns and their passages, run all five offline checks, kb_support's
  knowledge-base search included (the demo knowledge base is loaded), upsert the scores) over
  10,000 ingested turns in a temporary SQLite database; one process.
* eval_judge_concurrency — the most judge calls the local OpenAI-compatible server
  (tests/chat/llm_server.py) saw in flight at once while `judge_many` judged 64 turns, with
  `EVAL_JUDGE_CONCURRENCY` at its default (16).
* eval_judge_agreement — the judge path's agreement with the labels on the labelled set (400
  answers) against that server: score at the top of the scale = supported. The server's judge
  is a word check, not a model, so this measures the path (prompt → JSON → parse → decision),
  not a real judge's quality; with a real model set OPENAI_* and EVAL_JUDGE_MODEL.

Run: .venv/bin/python bench/run.py eval
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import common

PAIRS = common.ROOT / "bench" / "data" / "eval_pairs.jsonl"
OFFLINE_TURNS = 10_000
JUDGE_TURNS = 64


def _pairs() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]


def auroc(labels: list[int], scores: list[float]) -> float:
    """Probability that a random supported answer outscores a random unsupported one
    (ties count half) — the Mann-Whitney form of the area under the ROC curve."""
    import numpy as np

    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _labelled() -> list[tuple[int, object]]:
    from evaluation.offline import Passage, TurnInput

    out = []
    for row in _pairs():
        passages = tuple(Passage(p["rank"], p["text"], p["title"]) for p in row["passages"])
        out.append((1, TurnInput(row["question"], row["supported"], passages)))
        out.append((0, TurnInput(row["question"], row["unsupported"], passages)))
    return out


def groundedness_auroc() -> tuple[float, int]:
    from evaluation.offline import groundedness

    items = _labelled()
    scores = [groundedness(turn).value for _, turn in items]
    return auroc([label for label, _ in items], scores), len(items)


# --- child process phases (Django against a temporary database) ----------------------------


def _child_offline() -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import transaction

    from chat.services import interactions_ingest
    from evaluation import offline
    from evaluation.services import knowledge_passages, online_scan
    from knowledge.demo import seed

    seed(sys.stderr)  # the demo knowledge base: kb_support searches it
    user = User.objects.create_user("bench")
    labelled_kb = [
        (label, offline.kb_support(turn, knowledge_passages(turn))) for label, turn in _labelled()
    ]
    kb_scores = [(label, r.value) for label, r in labelled_kb if r is not None]
    items = []
    labelled = _labelled()
    for i in range(OFFLINE_TURNS):
        _, turn = labelled[i % len(labelled)]
        items.append(
            {
                "question": turn.question,
                "answer": f"{turn.answer} [{1 + i % 3}]",
                "model": "bench",
                "context": [{"text": p.text, "title": p.title} for p in turn.passages],
            }
        )
    for start in range(0, len(items), 500):
        with transaction.atomic():
            interactions_ingest(user=user, items=items[start : start + 500])
    started = time.perf_counter()
    turns = 0
    while turns < OFFLINE_TURNS:
        report = online_scan()
        if not report["turns"] or not report["offline"]:
            break
        turns += report["turns"]
    elapsed = time.perf_counter() - started
    return {
        "turns": turns,
        "rate": turns / elapsed,
        "seconds": elapsed,
        "kb_auroc": auroc([label for label, _ in kb_scores], [v for _, v in kb_scores]),
        "kb_n": len(kb_scores),
        "kb_of": len(labelled_kb),
    }


def _child_judge() -> dict:
    import django

    django.setup()
    from django.conf import settings

    from evaluation import judge
    from tests.chat.llm_server import API_KEY, LLMServer

    server = LLMServer().start()
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = API_KEY, server.base_url
    try:
        # Each call held 1 s: long enough for all 16 to be sent before the first ends on a
        # slow host (at 0.25 s a run on a loaded day saw 15 at once).
        server.judge_delay = 1.0
        item = judge.JudgeInput("How long?", "Snapshots are kept for seven days.", ((1, "", "x"),))
        judge.judge_many(
            [item] * JUDGE_TURNS, template="", criteria=judge.DEFAULT_CRITERIA, model="t"
        )
        concurrency = server.max_in_flight
        server.judge_delay = 0.0
        criteria = [{"key": "groundedness", "label": "g", "scale_min": 1, "scale_max": 5}]
        labelled = _labelled()
        inputs = [
            judge.JudgeInput(
                t.question, t.answer, tuple((p.rank, p.title, p.text) for p in t.passages)
            )
            for _, t in labelled
        ]
        outcomes = judge.judge_many(inputs, template="", criteria=criteria, model="t")
        agree = sum(
            (o.scores.get("groundedness", (0, ""))[0] >= 5) == bool(label)
            for (label, _), o in zip(labelled, outcomes, strict=True)
        )
        errors = sum(bool(o.error) for o in outcomes)
    finally:
        server.stop()
    return {
        "concurrency": concurrency,
        "setting": settings.EVAL_JUDGE_CONCURRENCY,
        "agreement": agree / len(labelled),
        "n": len(labelled),
        "errors": errors,
    }


def run() -> dict:
    value, n = groundedness_auroc()
    print(f"  groundedness AUROC {value:.3f} on {n} labelled answers", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-eval-"))
    env = common.offline_env(tmp, queue="bench-eval", EVAL_ONLINE_BATCH=str(OFFLINE_TURNS))
    try:
        common.migrate(env)
        off = common.child_json(__file__, env, "offline")
        print(
            f"  offline checks: {off['rate']:,.0f} turns/s ({off['turns']:,} turns in "
            f"{off['seconds']:.1f} s, load + 5 checks + upsert)",
            flush=True,
        )
        print(
            f"  kb_support AUROC {off['kb_auroc']:.3f} on {off['kb_n']} of {off['kb_of']} "
            "labelled answers (the others: no passage about the question found)",
            flush=True,
        )
        jd = common.child_json(__file__, env, "judge")
        print(
            f"  judge: {jd['concurrency']} calls in flight (setting {jd['setting']}); "
            f"agreement {jd['agreement']:.3f} on {jd['n']} ({jd['errors']} errors)",
            flush=True,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "eval_groundedness_auroc": {
            "value": round(value, 4),
            "unit": "",
            "target": ">= 0.90",
            "n": n,
        },
        "eval_kb_support_auroc": {
            "value": round(off["kb_auroc"], 4),
            "unit": "",
            "target": "(reported; groundedness's bar is 0.90)",
            "n": off["kb_n"],
        },
        "eval_offline_turns_per_s": {
            "value": round(off["rate"], 1),
            "unit": "turns/s",
            "target": ">= 500",
            "n": off["turns"],
        },
        "eval_judge_concurrency": {
            "value": jd["concurrency"],
            "unit": "calls in flight",
            "target": ">= 16",
            "n": JUDGE_TURNS,
        },
        "eval_judge_agreement": {
            "value": round(jd["agreement"], 4),
            "unit": "share",
            "target": "fixture judge (path check)",
            "n": jd["n"],
        },
    }


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))
    phase = {"offline": _child_offline, "judge": _child_judge}[sys.argv[1]]
    print(json.dumps(phase()))
