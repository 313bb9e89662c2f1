"""Row counts of what is committed in the lake, read from Parquet footers through Arrow.

Status and the demo's reconciliation ask "how many rows are in each layer?" often; answering from
footers takes milliseconds and no JVM. Staging and trash folders (`_`-prefixed) are never counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from evergreen.config import Settings, settings
from evergreen.storage.files import arrow_fs
from evergreen.storage.lake_names import batch_id
from evergreen.storage.step_reports import read_if_any, report_days, report_path

# The columns of a day's row in `summarize` (and of `evergreen lake`), in reading order.
DAY_COLUMNS = ("day", "landing", "bronze", "silver", "quarantine", "gold", "raw_contract", "clean_quality")


def partition_counts(
    layer: str, table: str, key: str, values: Iterable[str] | None = None, cfg: Settings | None = None
) -> dict[str, int]:
    """Rows per committed partition `key=value` of a table (only `values`, if given)."""
    cfg = cfg or settings()
    fs, root = arrow_fs(cfg.layer(layer, table))
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return {}
    wanted = None if values is None else {str(v) for v in values}
    counts = {}
    for entry in fs.get_file_info(pafs.FileSelector(root)):
        name = entry.base_name
        if entry.type != pafs.FileType.Directory or not name.startswith(f"{key}="):
            continue
        value = name.split("=", 1)[1]
        if wanted is not None and value not in wanted:
            continue
        counts[value] = ds.dataset(
            entry.path, filesystem=fs, format="parquet", exclude_invalid_files=False
        ).count_rows()
    return dict(sorted(counts.items()))


def _gate(day: str, step: str) -> dict | None:
    path = report_path(day, step)
    return json.loads(path.read_text())["gate"] if path.exists() else None


def summarize(days: list[str], landing_rows: dict[str, int] | None = None) -> dict:
    """Rows per layer for `days` (counted in the lake, not taken from the jobs' word) and gate outcomes."""
    bronze = partition_counts("bronze", "transactions", "event_date", days)
    silver = partition_counts("silver", "transactions", "event_date", days)
    gold = partition_counts("gold", "features", "event_date", days)
    quarantine = partition_counts("quarantine", "transactions", "batch_id", [batch_id(d) for d in days])
    per_day, gates, failures = [], {"raw_contract": {}, "clean_quality": {}}, []
    for day in days:
        raw, clean = _gate(day, "ingest"), _gate(day, "clean")
        row = {
            "day": day,
            "landing": (landing_rows or {}).get(day),
            "bronze": bronze.get(day, 0),
            "silver": silver.get(day, 0),
            "quarantine": quarantine.get(batch_id(day), 0),
            "gold": gold.get(day, 0),
            "raw_contract": raw["status"] if raw else "not run",
            "clean_quality": clean["status"] if clean else "not run",
        }
        per_day.append(row)
        for name, g in (("raw_contract", raw), ("clean_quality", clean)):
            status = g["status"] if g else "not run"
            gates[name][status] = gates[name].get(status, 0) + 1
            if g and g["status"] != "passed":
                failures.append({"day": day, "gate": name, "status": g["status"], "reason": g["reason"]})
    layers = {k: sum(r[k] or 0 for r in per_day) for k in ("landing", "bronze", "silver", "quarantine", "gold")}
    return {"layers": layers, "gates": {**gates, "not_passed": failures}, "days": per_day}


def quarantine_reasons(days: Iterable[str], cfg: Settings | None = None) -> dict[str, dict[str, int]]:
    """Quarantined transaction rows per day and reason, counted in the lake (the `reason` column of each
    batch's quarantine partition), e.g. {"2026-01-05": {"raw contract failed for ...": 19855}}."""
    cfg = cfg or settings()
    fs, root = arrow_fs(cfg.layer("quarantine", "transactions"))
    out: dict[str, dict[str, int]] = {}
    for day in days:
        path = f"{root}/batch_id={batch_id(day)}"
        if fs.get_file_info(path).type != pafs.FileType.Directory:
            continue
        reasons = ds.dataset(path, filesystem=fs, format="parquet", exclude_invalid_files=False).to_table(
            columns=["reason"]
        )
        counted = reasons.group_by("reason").aggregate([("reason", "count")])
        out[day] = dict(
            sorted(
                zip(counted["reason"].to_pylist(), counted["reason_count"].to_pylist(), strict=True),
                key=lambda kv: -kv[1],
            )
        )
    return out


def _gate_view(report: dict | None) -> dict | None:
    if report is None:
        return None
    gate = report["gate"]
    return {
        "status": gate["status"],
        "reason": gate["reason"],
        "failed_expectations": len(gate.get("failed_expectations") or []),
        "docs_path": gate.get("docs_path"),
        "result_path": gate.get("result_path"),
    }


def data_health(days: list[str] | None = None, cfg: Settings | None = None) -> list[dict]:
    """Per day, oldest first: rows per layer (counted in the lake), landing rows (the ingest report's count of
    what arrived), both gates' verdicts with their Data Docs pages, and quarantine counts by reason.

    `days` defaults to every day with a step report, so a day whose batch broke its contract (nothing in
    bronze or silver) is listed too.
    """
    days = report_days() if days is None else sorted(days)
    ingest = {d: read_if_any(d, "ingest") for d in days}
    landing = {d: r["landing_rows"] for d, r in ingest.items() if r and r.get("landing_rows") is not None}
    summary = summarize(days, landing)
    reasons = quarantine_reasons(days, cfg)
    out = []
    for row in summary["days"]:
        day = row["day"]
        out.append(
            {
                **row,
                "gates": {
                    "raw_contract": _gate_view(ingest[day]),
                    "clean_quality": _gate_view(read_if_any(day, "clean")),
                },
                "quarantine_reasons": reasons.get(day, {}),
            }
        )
    return out
