"""Charts drawn on the server as inline SVG: the browser needs no script and no internet.

Every text that reaches the SVG goes through `html.escape`; numbers are formatted here. Each day's column is
a link (to its drift report, or to its row of the data-health table) with a tooltip holding its numbers.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

# Colours for the features that breached at least once (others are drawn grey): readable on white, distinct.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
FIRE_FILL, BREACH_FILL = "#fbd5d5", "#fdebc8"
THRESHOLD, PREDICTION, DECAY, GREY = "#c0392b", "#111111", "#6a3d9a", "#c9c9c9"


def _n(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _short(day: str) -> str:
    return day[5:] if len(day) == 10 else day


def _polyline(points: list[tuple[float, float] | None], **attrs: str) -> str:
    """One polyline per run of known points (None breaks the line: a day without a value)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            runs.append([])
        else:
            runs[-1].append(p)
    extra = " ".join(f'{k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    out = []
    for run in runs:
        if len(run) == 1:
            (x, y), stroke = run[0], attrs.get("stroke", "#000")
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{escape(stroke)}"/>')
        elif run:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(f'<polyline fill="none" points="{coords}" {extra}/>')
    return "".join(out)


def drift_timeline(rows: list[dict[str, Any]], spec: Any) -> str:
    """Per-day drift of each watched feature and of the predictions, recall decay, the thresholds, breaches
    (amber columns), fires (red columns and a marker), champion changes (dashed lines); one link per day."""
    if not rows:
        return '<p class="empty">No drift windows yet: score_and_watch has not watched a day for this model.</p>'
    drift = spec.drift
    width, left, right, top = 980, 52, 210, 34
    h1, gap, h2, bottom = 210, 44, 110, 34
    height = top + h1 + gap + h2 + bottom
    plot_w = width - left - right
    n = len(rows)
    band = plot_w / n

    def x(i: int) -> float:
        return left + (i + 0.5) * band

    watched = sorted({f for r in rows for f, t in (r["thresholds"] or {}).items() if t is not None})
    breached_features = [f for f in watched if any(f in (r["drifted_features"] or {}) for r in rows)]
    colours = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(breached_features)}
    thresholds = sorted({float(t) for r in rows for t in (r["thresholds"] or {}).values() if t is not None})
    values = [
        v
        for r in rows
        for v in [*((r["feature_scores"] or {}).get(f) for f in watched), r.get("prediction_drift")]
        if v is not None
    ]
    top_value = max([*values, *thresholds, drift.prediction_threshold, 0.0])
    y_max = min(1.0, max(0.3, top_value * 1.15))

    def y1(v: float) -> float:
        return top + h1 - (min(v, y_max) / y_max) * h1

    p2 = top + h1 + gap

    def y2(v: float) -> float:
        return p2 + h2 - (max(0.0, min(v, 1.0))) * h2

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        f"<title>Drift timeline of {escape(spec.name)}: {n} watched days</title>",
    ]
    # Columns: fires red, breaches amber.
    for i, r in enumerate(rows):
        fill = FIRE_FILL if r["fires"] else (BREACH_FILL if r["breached"] else None)
        if fill:
            for y0, h in ((top, h1), (p2, h2)):
                parts.append(
                    f'<rect x="{left + i * band:.1f}" y="{y0}" width="{band:.1f}" height="{h}" fill="{fill}"/>'
                )
    # Axes and grid.
    for y0, h, label in ((top, h1, f"drift ({escape(drift.measure)})"), (p2, h2, "recall decay")):
        parts.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{h}" fill="none" stroke="#888"/>')
        parts.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{label}</text>')
    for frac in (0.0, 0.5, 1.0):
        v = y_max * frac
        parts.append(f'<text x="{left - 6}" y="{y1(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
        parts.append(f'<text x="{left - 6}" y="{y2(frac) + 4:.1f}" text-anchor="end">{frac:.1f}</text>')
    step = max(1, round(n / 15))
    for i, r in enumerate(rows):
        if i % step == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                f"{escape(_short(r['window_day']))}</text>"
            )
    # Champion changes: the version that scored each day.
    for i, r in enumerate(rows):
        if i == 0 or r["model_version"] != rows[i - 1]["model_version"]:
            xv = left + i * band
            parts.append(
                f'<line x1="{xv:.1f}" y1="{top}" x2="{xv:.1f}" y2="{p2 + h2}" stroke="#555" stroke-dasharray="2,3"/>'
            )
            parts.append(f'<text x="{xv + 3:.1f}" y="{top + 12}" fill="#555">v{escape(str(r["model_version"]))}</text>')
    # Thresholds.
    for t in thresholds:
        parts.append(
            f'<line x1="{left}" y1="{y1(t):.1f}" x2="{left + plot_w}" y2="{y1(t):.1f}" stroke="{THRESHOLD}" '
            f'stroke-dasharray="6,4"/>'
        )
    if drift.prediction_threshold not in thresholds:
        t = drift.prediction_threshold
        parts.append(
            f'<line x1="{left}" y1="{y1(t):.1f}" x2="{left + plot_w}" y2="{y1(t):.1f}" stroke="{PREDICTION}" '
            f'stroke-dasharray="6,4"/>'
        )
    tol = drift.performance.tolerance
    parts.append(
        f'<line x1="{left}" y1="{y2(tol):.1f}" x2="{left + plot_w}" y2="{y2(tol):.1f}" stroke="{THRESHOLD}" '
        f'stroke-dasharray="6,4"/>'
    )
    # Feature lines: grey for the quiet ones, colours for those that breached; then the predictions on top.
    for f in [f for f in watched if f not in colours] + breached_features:
        pts = [
            None if (v := (r["feature_scores"] or {}).get(f)) is None else (x(i), y1(float(v)))
            for i, r in enumerate(rows)
        ]
        colour = colours.get(f, GREY)
        parts.append(_polyline(pts, stroke=colour, stroke_width="1.6" if f in colours else "1"))
        for i, r in enumerate(rows):
            if f in (r["drifted_features"] or {}):
                v = float(r["drifted_features"][f])
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y1(v):.1f}" r="3.5" fill="{colour}" stroke="#fff">'
                    f"<title>{escape(f)} {v:.3f} &gt; threshold on {escape(r['window_day'])}</title></circle>"
                )
    pred = [
        None if r.get("prediction_drift") is None else (x(i), y1(float(r["prediction_drift"])))
        for i, r in enumerate(rows)
    ]
    parts.append(_polyline(pred, stroke=PREDICTION, stroke_width="2.4"))
    decay = [_decay(r) for r in rows]
    parts.append(
        _polyline([None if d is None else (x(i), y2(d)) for i, d in enumerate(decay)], stroke=DECAY, stroke_width="2")
    )
    for i, (r, d) in enumerate(zip(rows, decay, strict=True)):
        if d is not None:
            hit = bool((r.get("performance") or {}).get("breached"))
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y2(d):.1f}" r="{4 if hit else 2.5}" '
                f'fill="{THRESHOLD if hit else DECAY}"/>'
            )
    # Fires: a marker above each column; the word only where an episode starts (a fire after a quiet day).
    for i, r in enumerate(rows):
        if r["fires"]:
            cx = x(i)
            parts.append(
                f'<path d="M{cx - 6:.1f},{top - 14} L{cx + 6:.1f},{top - 14} L{cx:.1f},{top - 3} Z" '
                f'fill="{THRESHOLD}"/>'
            )
            if i == 0 or not rows[i - 1]["fires"]:
                parts.append(f'<text x="{cx + 8:.1f}" y="{top - 5}" fill="{THRESHOLD}" font-weight="bold">fire</text>')
    # One link per day over both panels, with the day's numbers as its tooltip.
    for i, r in enumerate(rows):
        href = f"drift/{quote(r['window_day'])}"
        parts.append(
            f'<a href="{escape(href)}" class="day-link" data-day="{escape(r["window_day"])}">'
            f'<rect x="{left + i * band:.1f}" y="{top}" width="{band:.1f}" height="{p2 + h2 - top}" fill="transparent">'
            f"<title>{escape(_tooltip(r, decay[i]))}</title></rect></a>"
        )
    parts.append(_legend(width - right + 14, top, colours, watched, thresholds, drift))
    parts.append("</svg>")
    return "".join(parts)


def _decay(row: dict[str, Any]) -> float | None:
    value = (row.get("performance") or {}).get("recall_decay")
    return None if value is None else float(value)


def _tooltip(row: dict[str, Any], decay: float | None) -> str:
    verdict = "FIRES" if row["fires"] else ("breach" if row["breached"] else "ok")
    drifted = ", ".join(f"{f} {v:.3f}" for f, v in sorted((row["drifted_features"] or {}).items()))
    return (
        f"{row['window_day']} (v{row['model_version']}): {verdict}; prediction drift "
        f"{_n(row.get('prediction_drift'))}; recall decay {_n(decay)}"
        + (f"; drifted: {drifted}" if drifted else "")
        + " (click: the day's drift report)"
    )


def _legend(x0: float, y0: float, colours: dict[str, str], watched: list[str], thresholds: list[float], drift) -> str:
    items: list[tuple[str, str, str]] = [("line", PREDICTION, "prediction drift")]
    items += [("line", c, f) for f, c in colours.items()]
    quiet = len(watched) - len(colours)
    if quiet:
        items.append(("line", GREY, f"{quiet} other watched features"))
    threshold_text = ", ".join(f"{t:.2f}" for t in thresholds) or "none"
    items += [
        ("dash", THRESHOLD, f"feature threshold {threshold_text}"),
        ("text", "", f"prediction threshold {drift.prediction_threshold:.2f}"),
        ("line", DECAY, "recall decay (known frauds)"),
        ("dash", THRESHOLD, f"decay tolerance {drift.performance.tolerance:.2f}"),
        ("box", BREACH_FILL, "window breaches"),
        ("box", FIRE_FILL, f"rule fires ({drift.k} of {drift.n})"),
    ]
    out = []
    for i, (kind, colour, label) in enumerate(items):
        y = y0 + 6 + i * 17
        if kind == "line":
            out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + 18}" y2="{y}" stroke="{colour}" stroke-width="2.4"/>')
        elif kind == "dash":
            out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + 18}" y2="{y}" stroke="{colour}" stroke-dasharray="5,3"/>')
        elif kind == "box":
            out.append(f'<rect x="{x0}" y="{y - 6}" width="18" height="12" fill="{colour}" stroke="#bbb"/>')
        out.append(f'<text x="{x0 + 24}" y="{y + 4}">{escape(label)}</text>')
    return "".join(out)


def health_bars(days: list[dict[str, Any]]) -> str:
    """Rows per day: silver (green) and quarantine (red) stacked; a failed gate's day marked with a cross."""
    if not days:
        return '<p class="empty">No step reports yet: ingest_daily has not run.</p>'
    width, left, right, top, h, bottom = 980, 62, 210, 24, 150, 34
    plot_w = width - left - right
    n = len(days)
    band = plot_w / n
    top_rows = max(
        [(d["silver"] or 0) + (d["quarantine"] or 0) for d in days] + [d["landing"] or 0 for d in days] + [1]
    )

    def y(v: float) -> float:
        return top + h - (v / top_rows) * h

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {top + h + bottom}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">',
        "<title>Rows per day: silver and quarantine</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{h}" fill="none" stroke="#888"/>',
        f'<text x="{left}" y="{top - 8}" font-weight="bold">rows per day (landing = silver + quarantine)</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = top_rows * frac
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    step = max(1, round(n / 15))
    for i, d in enumerate(days):
        x0, w = left + i * band + band * 0.15, band * 0.7
        silver, quarantine = d["silver"] or 0, d["quarantine"] or 0
        statuses = [g["status"] for g in d["gates"].values() if g]
        failed, partial = "failed" in statuses, "partial" in statuses
        tip = (
            f"{d['day']}: landing {d['landing'] if d['landing'] is not None else 'n/a'}, silver {silver}, "
            f"quarantine {quarantine}, gold {d['gold']}; raw contract {d['raw_contract']}, clean quality "
            f"{d['clean_quality']}"
        )
        parts.append(f'<a href="#health-{escape(d["day"])}"><g><title>{escape(tip)}</title>')
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(silver):.1f}" width="{w:.1f}" height="{top + h - y(silver):.1f}" '
            'fill="#2e8b57"/>'
        )
        if quarantine:
            parts.append(
                f'<rect x="{x0:.1f}" y="{y(silver + quarantine):.1f}" width="{w:.1f}" '
                f'height="{y(silver) - y(silver + quarantine):.1f}" fill="{THRESHOLD}"/>'
            )
        if failed or partial:
            mark, colour = ("✕", THRESHOLD) if failed else ("!", "#d68910")
            parts.append(
                f'<text x="{x0 + w / 2:.1f}" y="{y(silver + quarantine) - 4:.1f}" text-anchor="middle" '
                f'fill="{colour}" font-size="14" font-weight="bold">{mark}</text>'
            )
        parts.append("</g></a>")
        if i % step == 0:
            parts.append(
                f'<text x="{left + (i + 0.5) * band:.1f}" y="{top + h + 16}" text-anchor="middle">'
                f"{escape(_short(d['day']))}</text>"
            )
    lx = width - right + 14
    for i, (colour, label) in enumerate(
        (("#2e8b57", "silver rows"), (THRESHOLD, "quarantined rows"), ("", "✕ a gate failed, ! partial"))
    ):
        ly = top + 6 + i * 17
        if colour:
            parts.append(f'<rect x="{lx}" y="{ly - 6}" width="18" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 24}" y="{ly + 4}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
