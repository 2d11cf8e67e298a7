"""The topic map as server-side SVG geometry: one circle per topic, area ∝ volume, colour by
how well the model does there (share of thumbs up: red 0 → green 1, grey when unrated).

Layout: circles packed greedily, largest first, each at the first spot along an
Archimedean spiral that overlaps none placed before — deterministic, no dependency.
"""

from __future__ import annotations

import math

SIZE = 480
MIN_R, MAX_R = 10.0, 70.0
GAP = 4.0
CHAR_W = 6.6  # the labels' 11px text: an average character's width, in the map's units


def topic_map(rows: list[dict]) -> dict:
    """rows: dicts with id, name, volume, up_ratio. Returns circles with x, y, r, colour."""
    rows = [r for r in rows if r["volume"] > 0]
    peak = max((r["volume"] for r in rows), default=1)
    placed: list[dict] = []
    for r in sorted(rows, key=lambda r: (-r["volume"], r["name"])):
        radius = max(MIN_R, MAX_R * math.sqrt(r["volume"] / peak))
        x, y = _spot(radius, placed)
        placed.append(
            {
                **r,
                "x": x,
                "y": y,
                "r": round(radius, 1),
                "colour": colour(r.get("up_ratio")),
                "label": _label(r["name"], radius),
            }
        )
    if not placed:
        return {"circles": [], "box": f"0 0 {SIZE} {SIZE}"}
    lo_x = min(c["x"] - c["r"] for c in placed) - GAP
    lo_y = min(c["y"] - c["r"] for c in placed) - GAP
    hi_x = max(c["x"] + c["r"] for c in placed) + GAP
    hi_y = max(c["y"] + c["r"] for c in placed) + GAP
    for c in placed:
        c["x"], c["y"] = round(c["x"], 1), round(c["y"], 1)
    box = f"{lo_x:.0f} {lo_y:.0f} {hi_x - lo_x:.0f} {hi_y - lo_y:.0f}"
    return {"circles": placed, "box": box}


def _label(name: str, radius: float) -> str:
    """The name as far as it fits across its circle (cut with an ellipsis); none when fewer
    than four characters would: the circle's title still names it."""
    room = int((2 * radius - 8) / CHAR_W)
    if len(name) <= room:
        return name
    return name[: room - 1].rstrip() + "…" if room >= 4 else ""


def _spot(radius: float, placed: list[dict]) -> tuple[float, float]:
    step = 0.0
    while True:
        angle = step * 0.35
        distance = 3.0 * angle
        x, y = distance * math.cos(angle), distance * math.sin(angle)
        if all(math.hypot(x - c["x"], y - c["y"]) >= radius + c["r"] + GAP for c in placed):
            return x, y
        step += 1


def colour(ratio: float | None) -> str:
    if ratio is None:
        return "hsl(0, 0%, 70%)"
    return f"hsl({round(120 * ratio)}, 60%, 45%)"
