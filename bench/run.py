"""`make bench`: run every bench/bench_*.py, print one table, write bench/results.json.

Each benchmark module has `run() -> dict[metric, {"value", "unit", "target", "n"}]`;
a `ratio` key may be added by a module that compares two figures.

Every run also reports `host_reference_ms` (`host_reference_ms()`: a fixed CPU workload timed
before and after the benchmarks; each figure's `machine` carries the value before). Speed
figures taken on different days compare only beside it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sqlite3
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")


def machine(reference_ms: float | None = None) -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    speed = f", reference {reference_ms:,.0f} ms" if reference_ms else ""
    return f"{platform.machine()} {os.cpu_count()} cpu, {python}{speed}"


def host_reference_ms(rounds: int = 5) -> float:
    """The host's speed as the figures are taken: a fixed CPU workload (Python loops and
    dicts, JSON, an indexed SQLite insert in memory), the best of `rounds`, in ms. This
    machine's speed has moved by 2x from one day to the next with the same commit, so a
    figure is read beside it: a lower reference is a faster host."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        rows = [(i, f"passage {i} " * 8, i * 0.5) for i in range(20_000)]
        json.loads(json.dumps([{"id": i, "text": t, "score": s} for i, t, s in rows]))
        sum(i * i for i in range(300_000))
        with sqlite3.connect(":memory:") as db:
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT, score REAL)")
            db.execute("CREATE INDEX t_text ON t (text)")
            db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main(selected: list[str]) -> int:
    results: dict[str, dict] = {}
    reference = host_reference_ms()
    print(
        f"host reference: {reference:,.0f} ms (a fixed CPU workload; lower is a faster host), "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    modules = sorted(HERE.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m.stem for s in selected)]
    failed = False
    for path in modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        print(f"running {path.stem} …", flush=True)
        try:
            spec.loader.exec_module(module)
            for metric, figure in module.run().items():
                results[metric] = {**figure, "machine": machine(reference)}
        except Exception:
            failed = True
            traceback.print_exc()
    after = host_reference_ms()
    print(f"host reference after the run: {after:,.0f} ms", flush=True)
    results["host_reference_ms"] = {
        "value": round(reference, 1),
        "unit": "ms",
        "target": f"(the host's speed: {reference:,.0f} ms before the run, {after:,.0f} after)",
        "n": 2,
        "machine": machine(),
    }
    out = HERE / "results.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(results)
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print_table(results)
    return 1 if failed else 0


def print_table(results: dict[str, dict]) -> None:
    if not results:
        print("no benchmarks yet")
        return
    rows = [("metric", "value", "unit", "target", "n")]
    for metric, f in results.items():
        value = f["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        target, n = str(f.get("target", "")), f"{f.get('n', '')}"
        rows.append((metric, shown, f.get("unit", ""), target, n))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
