"""`make bench`: run every bench/bench_*.py, print one table, write bench/results.json.

Each benchmark module has `run() -> dict[metric, {"value", "unit", "target", "n"}]`;
a `ratio` key may be added by a module that compares two figures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewhub.settings")


def machine() -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{platform.machine()} {os.cpu_count()} cpu, {python}"


def main(selected: list[str]) -> int:
    results: dict[str, dict] = {}
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
                results[metric] = {**figure, "machine": machine()}
        except Exception:
            failed = True
            traceback.print_exc()
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
