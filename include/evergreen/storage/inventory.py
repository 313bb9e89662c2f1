"""Row counts of what landed and of what is committed in the lake, without a JVM.

Status and the demo's reconciliation ask "how many rows are in each layer?" often. Lake layers are counted
from Parquet footers through Arrow (milliseconds); landing is counted from the landing files themselves, by
the rule the file gate uses (`evergreen.storage.landing_scan`), so `landing == silver + quarantine` is checked
against what arrived, not against what a job said. Staging and trash folders (`_`-prefixed) are never counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from evergreen.config import Settings, settings
from evergreen.contracts import data_contract
from evergreen.storage.files import arrow_fs
from evergreen.storage.lake_names import batch_id
from evergreen.storage.landing_scan import count_rows, list_drop
from evergreen.storage.step_reports import read_if_any, report_days, report_path

# The columns of a day's row in `summarize` (and of `evergreen lake`), in reading order. `unaccounted` is
# landing - silver - quarantine: 0 once a day is through (bronze rows waiting for clean show here).
DAY_COLUMNS = (
    "day",
    "landing",
    "bronze",
    "silver",
    "quarantine",
    "unaccounted",
    "gold",
    "raw_contract",
    "clean_quality",
)


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


def _report(day: str, step: str) -> dict | None:
    path = report_path(day, step)
    return json.loads(path.read_text()) if path.exists() else None


def landing_counts(table: str, days: Iterable[str], cfg: Settings | None = None) -> dict[str, int | None]:
    """Rows that landed per day for a feed, counted from its drop's files (None: no drop for that day)."""
    cfg = cfg or settings()
    out: dict[str, int | None] = {}
    for day in days:
        files = list_drop(f"{cfg.layer('landing', table)}/{day}")
        out[day] = sum(count_rows(files).values()) if files else None
    return out


def known_days(cfg: Settings | None = None) -> list[str]:
    """Every day the lake knows of for transactions: landed, in a layer, quarantined, or reported on."""
    cfg = cfg or settings()
    days = set(partition_counts("bronze", "transactions", "event_date", cfg=cfg))
    days |= set(partition_counts("silver", "transactions", "event_date", cfg=cfg))
    prefix = batch_id("", "transactions")
    days |= {b.removeprefix(prefix) for b in partition_counts("quarantine", "transactions", "batch_id", cfg=cfg)}
    fs, root = arrow_fs(cfg.layer("landing", "transactions"))
    if fs.get_file_info(root).type == pafs.FileType.Directory:
        days |= {e.base_name for e in fs.get_file_info(pafs.FileSelector(root)) if e.type == pafs.FileType.Directory}
    runs = report_path("x", "x").parent.parent
    if runs.is_dir():
        days |= {p.name for p in runs.iterdir() if p.is_dir()}
    return sorted(d for d in days if _is_day(d))


def _is_day(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def summarize(days: list[str], landing_rows: dict[str, int] | None = None) -> dict:
    """Rows per layer for `days` (counted in the lake and in the landing files, not taken from the jobs'
    word), gate outcomes with their reasons, and whether every row that landed is in silver or quarantine.

    Every day is listed, failed ones too. `landing_rows` overrides the count from the landing files.
    """
    bronze = partition_counts("bronze", "transactions", "event_date", days)
    silver = partition_counts("silver", "transactions", "event_date", days)
    gold = partition_counts("gold", "features", "event_date", days)
    quarantine = partition_counts("quarantine", "transactions", "batch_id", [batch_id(d) for d in days])
    landing = landing_rows if landing_rows is not None else landing_counts("transactions", days)
    per_day, gates, failures = [], {"raw_contract": {}, "clean_quality": {}}, []
    for day in days:
        ingest, clean = _report(day, "ingest"), _report(day, "clean")
        raw = (ingest or {}).get("gate")
        cleaned = (clean or {}).get("gate")
        landed = landing.get(day)
        row = {
            "day": day,
            "landing": landed,
            "bronze": bronze.get(day, 0),
            "silver": silver.get(day, 0),
            "quarantine": quarantine.get(batch_id(day), 0),
            "gold": gold.get(day, 0),
            "raw_contract": raw["status"] if raw else "not run",
            "clean_quality": cleaned["status"] if cleaned else "not run",
        }
        row["unaccounted"] = None if landed is None else landed - row["silver"] - row["quarantine"]
        per_day.append(row)
        for name, g in (("raw_contract", raw), ("clean_quality", cleaned)):
            status = g["status"] if g else "not run"
            gates[name][status] = gates[name].get(status, 0) + 1
            if g and g["status"] != "passed":
                failures.append({"day": day, "gate": name, "status": g["status"], "reason": g["reason"]})
        if landed and not raw:
            failures.append({"day": day, "gate": "raw_contract", "status": "not run", "reason": "ingest has no report"})
        failures += _label_problems(day, ingest, clean)
        failures += _dispute_problems(day)
    layers = {k: sum(r[k] or 0 for r in per_day) for k in ("landing", "bronze", "silver", "quarantine", "gold")}
    layers["unaccounted"] = sum(r["unaccounted"] or 0 for r in per_day)
    return {
        "layers": layers,
        "reconciled": all(r["unaccounted"] in (0, None) for r in per_day) and layers["unaccounted"] == 0,
        "gates": {**gates, "not_passed": failures},
        "labels": label_summary(days),
        "disputes": feed_summary(data_contract.DISPUTES, days),
        "days": per_day,
    }


def _label_problems(day: str, ingest: dict | None, clean: dict | None) -> list[dict]:
    """The label feed's side of a day: a refused label file, a catch-up of earlier labels that failed."""
    out = []
    gate = ((ingest or {}).get("labels") or {}).get("gate")
    if gate and gate["status"] != "passed":
        out.append({"day": day, "gate": "labels", "status": gate["status"], "reason": gate["reason"]})
    for label_day, outcome in ((clean or {}).get("labels") or {}).items():
        if isinstance(outcome, dict) and outcome.get("error"):
            reason = f"labels of {label_day}: {outcome['error']}"
            out.append({"day": day, "gate": "labels", "status": "error", "reason": reason})
    return out


def _dispute_problems(day: str) -> list[dict]:
    """The dispute feed's day (its own job, ingest_disputes): a refused or failed dispute file."""
    gate = (read_if_any(day, data_contract.DISPUTES.name) or {}).get("gate")
    if gate and gate["status"] != "passed":
        return [{"day": day, "gate": "disputes", "status": gate["status"], "reason": gate["reason"]}]
    return []


def label_summary(days: list[str]) -> dict:
    """The label feed over the same days (by arrival day): landed, silver, quarantine, reconciled."""
    return feed_summary(data_contract.LABELS, days)


def feed_summary(source: data_contract.Source, days: list[str]) -> dict:
    """A delayed feed (labels, disputes) over the same days, by the day its rows arrived: landed (counted
    from its files), silver, quarantine, and what is unaccounted for."""
    name, key = source.name, source.partition_key
    landing = landing_counts(name, days)
    silver = partition_counts("silver", name, key, days)
    quarantine = partition_counts("quarantine", name, "batch_id", [batch_id(d, name) for d in days])
    out = {
        "landing": sum(v or 0 for v in landing.values()),
        "silver": sum(silver.values()),
        "quarantine": sum(quarantine.values()),
    }
    out["unaccounted"] = out["landing"] - out["silver"] - out["quarantine"]
    return out


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
