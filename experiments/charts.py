"""Server-side SVG geometry for the results page (the template draws it)."""

from __future__ import annotations

WIDTH = 520
ROW = 26
LABEL = 170


def interval_rows(summary: list[dict], criterion: str) -> dict:
    """One horizontal bar per arm: the mean on a 0–1 axis, with its 95% interval."""
    scale = WIDTH - LABEL - 60
    rows = []
    for i, s in enumerate(summary):
        cell = s["cells"].get(criterion)
        y = i * ROW
        if cell is None:
            rows.append({"y": y, "label": s["arm"]["label"], "empty": True, "text_y": y + 17})
            continue
        rows.append(
            {
                "y": y,
                "text_y": y + 17,
                "label": s["arm"]["label"],
                "w": round(scale * cell["mean"], 1),
                "lo": round(LABEL + scale * cell["low"], 1),
                "hi": round(LABEL + scale * cell["high"], 1),
                "mid": y + ROW / 2 - 2,
                "value": cell["mean"],
                "value_x": round(LABEL + scale * cell["high"] + 6, 1),
            }
        )
    return {"width": WIDTH, "height": max(1, len(rows)) * ROW, "label": LABEL, "rows": rows}


def stacked_outcomes(pairwise: list[dict]) -> dict:
    """Win / tie / loss shares per compared arm as one 100% bar each: the judge's, and the
    experts' blind preferences below it where they have judged some pairs."""
    entries = []
    for p in pairwise:
        experts = p.get("experts")
        if experts and experts["n"]:
            entries += [
                (f"{p['arm']['label']} · judge", p),
                (f"{p['arm']['label']} · experts", experts),
            ]
        else:
            entries.append((p["arm"]["label"], p))
    scale = WIDTH - LABEL - 10
    bars = []
    for i, (label, p) in enumerate(entries):
        win = round(scale * p["win_pct"] / 100, 1)
        tie = round(scale * p["tie_pct"] / 100, 1)
        bars.append(
            {
                "y": i * ROW,
                "text_y": i * ROW + 17,
                "label": label,
                "win": win,
                "tie_x": LABEL + win,
                "tie": tie,
                "loss_x": LABEL + win + tie,
                "loss": round(scale - win - tie, 1),
                "p": p,
            }
        )
    return {"width": WIDTH, "height": max(1, len(bars)) * ROW, "label": LABEL, "bars": bars}
