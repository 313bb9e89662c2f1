"""`watch_day`: one scored day against the model's reference -> a drift report row, an HTML page, a verdict."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from evergreen.config import settings
from evergreen.contracts.model_spec import ModelSpec
from evergreen.monitoring import report_table
from evergreen.monitoring import rule as drift_rule
from evergreen.monitoring.drift_report import DriftReport, write_html
from evergreen.monitoring.performance import performance
from evergreen.monitoring.profiles import FRAUD_SCORE, HOLDOUT_SCORE, SCORE, detector, profile_day


def report_path(model: str, day: str) -> Path:
    return Path(settings().home) / "reports" / "drift" / model / f"{day}.html"


def watch_day(
    spec: ModelSpec,
    day: str | dt.date,
    *,
    model_version: str | int,
    reference: bytes,
    current: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    engine: sa.Engine | None = None,
) -> DriftReport:
    """Score one window (`current`: the day's feature columns plus `score`) against `reference`.

    Input drift per feature, prediction drift on `score`, recall decay on the labels known so far
    (`outcomes`: event_date, score, is_fraud for recently scored rows whose label has arrived), then the
    k-of-n rule over this model version's stored windows. Writes (replaces) the day's row in
    `drift_reports` and the HTML page; returns the report.
    """
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    drift = spec.drift
    det = detector(spec)
    profile = profile_day(spec, current)
    scores = det.scores(reference, profile)
    prediction = scores.pop(SCORE)
    watched = {f: s for f, s in scores.items() if f not in drift.exclude}
    drifted = drift_rule.drifted(watched, drift)

    cut = det.quantile(reference, HOLDOUT_SCORE, 1.0 - drift.performance.alert_share)
    below = det.cdf(reference, FRAUD_SCORE, cut)
    reference_recall = None if below != below else 1.0 - below  # NaN: no held-out frauds in the reference
    perf = performance(spec, day.isoformat(), outcomes, cut=cut, reference_recall=reference_recall)

    reasons = drift_rule.breach_reasons(drifted, prediction, perf, drift)
    breached = bool(reasons)
    eng = report_table.engine_with_table(engine)
    history = [
        *report_table.previous_windows(eng, spec.name, str(model_version), day, drift.n - 1),
        (day.isoformat(), breached),
    ]
    report = DriftReport(
        model=spec.name,
        model_version=str(model_version),
        window=day.isoformat(),
        measure=drift.measure,
        feature_scores=scores,
        drifted_features=drifted,
        thresholds={f: (None if f in drift.exclude else drift.threshold(f)) for f in scores},
        prediction_drift=prediction,
        prediction_threshold=drift.prediction_threshold,
        performance=perf,
        breached=breached,
        fires=drift_rule.fires([hit for _, hit in history], drift.k, drift.n),
        rule=drift_rule.describe(history, drift.k, drift.n),
        reasons=reasons,
        history=history,
        rows=len(current),
        computed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    report.html_path = str(write_html(report, report_path(spec.name, report.window)))
    # The day's profile itself (inputs and scores) is kept next to its page: a later comparison, or another
    # reference, can be computed from it without the rows.
    report_path(spec.name, report.window).with_suffix(".profile.bin").write_bytes(profile)
    report_table.replace_window(eng, report.table_row(dt.datetime.now(dt.UTC)))
    return report
