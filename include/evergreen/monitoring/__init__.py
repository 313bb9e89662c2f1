"""Monitoring: whylogs profiles, drift scoring, performance decay from late labels, the k-of-n drift rule,
and drift reports (SQL table `drift_reports` + an HTML page per window).

The only room that imports whylogs, and only in `_whylogs.py`; the rest talks to `DriftDetector`.

    reference = build_reference(spec, train_features, train_scores, labels=train_labels)  # stored with the model
    report = watch_day(spec, "2026-02-10", model_version="3", reference=reference, current=scored_day,
                       outcomes=labelled_so_far)
    report.fires, report.drifted_features, report.html_path
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evergreen.common.lazy import lazy_attributes

if TYPE_CHECKING:
    from evergreen.monitoring.daily_watch import watch_day
    from evergreen.monitoring.detector import DriftDetector, WhylogsHellinger
    from evergreen.monitoring.drift_report import DriftReport
    from evergreen.monitoring.profiles import build_reference, profile_day
    from evergreen.monitoring.report_table import reports
    from evergreen.monitoring.rule import fires

# Lazy, so a DAG file can import the package at parse time without loading whylogs (about 1 s).
_WHERE = {
    "DriftDetector": "detector",
    "WhylogsHellinger": "detector",
    "build_reference": "profiles",
    "profile_day": "profiles",
    "DriftReport": "drift_report",
    "fires": "rule",
    "reports": "report_table",
    "watch_day": "daily_watch",
}

__all__ = [
    "DriftDetector",
    "DriftReport",
    "WhylogsHellinger",
    "build_reference",
    "fires",
    "profile_day",
    "reports",
    "watch_day",
]


__getattr__ = lazy_attributes(__name__, _WHERE)
