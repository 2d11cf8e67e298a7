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


LINE_WIDTH = 560  # the plot's width in the viewBox; the SVG scales to its card
LINE_LEFT = 34  # room for the 0–1 axis labels
MAX_TICKS = 8
SERIES_STYLES = 6  # .series-0 … .series-5 in graph.css: a criterion's line colour and dash


def score_lines(over_time: dict) -> dict:
    """One line per criterion of its daily mean 0–1 score (evaluation.selectors.scores_over_time),
    days placed by date so a quiet week shows as a gap in time, not a squeezed one. A day
    without a score for a criterion is skipped: the line joins the days around it."""
    days = [d["day"] for d in over_time["days"]]
    if not days:
        return {"series": []}
    first, span = days[0], max((days[-1] - days[0]).days, 1)

    def x(day) -> float:
        if len(days) == 1:
            return LINE_LEFT + LINE_WIDTH / 2
        return round(LINE_LEFT + LINE_WIDTH * (day - first).days / span, 1)

    def y(mean: float) -> float:
        return round(HEIGHT * (1 - mean), 1)

    series = []
    for i, criterion in enumerate(over_time["criteria"]):
        dots = [
            {"x": x(d["day"]), "y": y(d["means"][i]), "day": d["day"], "mean": d["means"][i]}
            for d in over_time["days"]
            if d["means"][i] is not None
        ]
        series.append(
            {
                "name": criterion,
                "style": i % SERIES_STYLES,
                "points": " ".join(f"{p['x']},{p['y']}" for p in dots),
                "dots": dots,
            }
        )
    step = -(-len(days) // MAX_TICKS)  # ceil: at most MAX_TICKS date labels
    return {
        "width": LINE_LEFT + LINE_WIDTH + 20,
        "height": HEIGHT,
        "left": LINE_LEFT,
        "right": LINE_LEFT + LINE_WIDTH,
        "series": series,
        "ticks": [{"x": x(day), "label": day.strftime("%m-%d")} for day in days[::step]],
        "grid": [{"y": y(v), "label": f"{v:.1f}"} for v in (0.0, 0.5, 1.0)],
    }
