"""Server-side SVG geometry for the analytics charts (the template draws the rects)."""

from __future__ import annotations

HEIGHT = 160
COLUMN = 28
GAP = 8
BAR = 22


def stacked_columns(rows: list[dict], key: str) -> dict:
    """Columns of thumbs up (bottom) and down (top), one per row, scaled to the tallest."""
    peak = max((r["up"] + r["down"] for r in rows), default=0) or 1
    cols = []
    for i, r in enumerate(rows):
        up_h = round(HEIGHT * r["up"] / peak, 1)
        down_h = round(HEIGHT * r["down"] / peak, 1)
        cols.append(
            {
                "x": i * (COLUMN + GAP),
                "label": r[key],
                "up": r["up"],
                "down": r["down"],
                "up_h": up_h,
                "up_y": HEIGHT - up_h,
                "down_h": down_h,
                "down_y": HEIGHT - up_h - down_h,
            }
        )
    return {
        "width": max(len(rows) * (COLUMN + GAP), 1),
        "height": HEIGHT,
        "column": COLUMN,
        "cols": cols,
        "peak": peak,
    }


def stacked_bars(rows: list[dict], key: str, width: int = 400) -> dict:
    """Horizontal bars of up (left) and down (right), one per row, scaled to the longest."""
    peak = max((r["up"] + r["down"] for r in rows), default=0) or 1
    bars = []
    for i, r in enumerate(rows):
        up_w = round(width * r["up"] / peak, 1)
        down_w = round(width * r["down"] / peak, 1)
        bars.append(
            {
                "y": i * (BAR + GAP),
                "label": r[key],
                "up": r["up"],
                "down": r["down"],
                "up_w": up_w,
                "down_x": up_w,
                "down_w": down_w,
                "text_y": i * (BAR + GAP) + BAR * 0.7,
            }
        )
    return {"width": width, "height": max(len(rows) * (BAR + GAP), 1), "bar": BAR, "bars": bars}
