"""`DriftReport` and its HTML page: a plain table a person on call can read without JavaScript."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evergreen.common.values import clean_json


@dataclass
class DriftReport:
    model: str
    model_version: str
    window: str  # the scored day, ISO
    measure: str
    feature_scores: dict[str, float]
    drifted_features: dict[str, float]
    thresholds: dict[str, float]
    prediction_drift: float | None
    prediction_threshold: float
    performance: dict[str, Any]
    breached: bool
    fires: bool
    rule: str
    reasons: list[str] = field(default_factory=list)
    history: list[tuple[str, bool]] = field(default_factory=list)  # the rule's windows, oldest first
    rows: int = 0
    computed_at: str = ""
    html_path: str | None = None

    def table_row(self, computed_at: dt.datetime) -> dict[str, Any]:
        """The report as its row of the `drift_reports` table (computed_at naive UTC, as the table stores it)."""
        return {
            "model": self.model,
            "window_day": dt.date.fromisoformat(self.window),
            "model_version": self.model_version,
            "computed_at": computed_at.astimezone(dt.UTC).replace(tzinfo=None) if computed_at.tzinfo else computed_at,
            "rows_profiled": self.rows,
            "measure": self.measure,
            "feature_scores": self.feature_scores,
            "drifted_features": self.drifted_features,
            "thresholds": self.thresholds,
            "prediction_drift": self.prediction_drift,
            "performance": self.performance,
            "reasons": self.reasons,
            "breached": self.breached,
            "fires": self.fires,
            "rule": self.rule,
            "html_path": self.html_path,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes null, numpy scalars plain floats."""
        out = asdict(self)
        out["history"] = [{"window": d, "breached": b} for d, b in self.history]
        return clean_json(out)


def render_html(report: DriftReport) -> str:
    e = html.escape
    verdict = "FIRES: retrain" if report.fires else ("breach (rule not met)" if report.breached else "no drift")
    feature_rows = "\n".join(
        f"<tr class='{'drift' if name in report.drifted_features else ''}'><td>{e(name)}</td>"
        f"<td>{score:.4f}</td><td>{_thr(report.thresholds.get(name))}</td>"
        f"<td>{_status(report, name)}</td></tr>"
        for name, score in sorted(report.feature_scores.items(), key=lambda kv: -kv[1])
    )
    history = "".join(f"<li>{e(d)}: {'breach' if b else 'ok'}</li>" for d, b in report.history)
    perf = "".join(f"<tr><td>{e(str(k))}</td><td>{e(_fmt(v))}</td></tr>" for k, v in report.performance.items())
    reasons = "".join(f"<li>{e(r)}</li>" for r in report.reasons) or "<li>none</li>"
    pred = "n/a" if report.prediction_drift is None else f"{report.prediction_drift:.4f}"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Drift: {e(report.model)} {e(report.window)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:2px 8px;text-align:left}}tr.drift{{background:#fdd}}</style></head>
<body>
<h1>Drift report: {e(report.model)} v{e(report.model_version)}, window {e(report.window)}</h1>
<p><b>Verdict: {e(verdict)}</b> (this window {"breaches" if report.breached else "does not breach"})</p>
<p>Rule: {e(report.rule)}</p>
<h2>Why</h2><ul>{reasons}</ul>
<h2>Windows the rule read</h2><ul>{history}</ul>
<h2>Input drift ({e(report.measure)}, {report.rows} rows)</h2>
<table><tr><th>feature</th><th>score</th><th>threshold</th><th>status</th></tr>
{feature_rows}
</table>
<h2>Prediction drift</h2><p>score: {pred}, threshold {report.prediction_threshold:.4f}</p>
<h2>Performance (delayed labels)</h2><table>{perf}</table>
<p>Computed at {e(report.computed_at)}.</p>
</body></html>
"""


def write_html(report: DriftReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(report))
    tmp.replace(path)  # a reader never sees half a page
    return path


def _status(report: DriftReport, name: str) -> str:
    if name in report.drifted_features:
        return "DRIFT"
    return "excluded" if report.thresholds.get(name) is None else "ok"


def _thr(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
