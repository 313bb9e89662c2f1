"""Step reports: what each daily step did, as small JSON files the DAG's gate tasks and the demo read.

Light on purpose (no Spark, no GX) so Airflow tasks can import it cheaply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evergreen.config import settings


def report_path(day: str, step: str) -> Path:
    return Path(settings().home) / "reports" / "runs" / day / f"{step}.json"


def write_report(day: str, step: str, data: dict[str, Any]) -> Path:
    path = report_path(day, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    tmp.replace(path)  # readers never see half a report
    return path


def read_report(day: str, step: str) -> dict[str, Any]:
    path = report_path(day, step)
    if not path.exists():
        raise FileNotFoundError(f"no {step} report for {day} at {path}: did the {step} job run for that day?")
    return json.loads(path.read_text())


def report_days() -> list[str]:
    """Days that have at least one step report, ascending (a broken batch's day included: its ingest
    report says why it stopped)."""
    root = Path(settings().home) / "reports" / "runs"
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*.json")))


def read_if_any(day: str, step: str) -> dict[str, Any] | None:
    """A step's report, or None when that step has not run for the day (or stopped before it)."""
    path = report_path(day, step)
    return json.loads(path.read_text()) if path.exists() else None
