"""`generate`: write days of transactions, their labels and refund disputes, the source tables, and say what was
written."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa

from evergreen.config import settings
from evergreen.devtools.datagen import landing
from evergreen.devtools.datagen.day import simulate_day
from evergreen.devtools.datagen.disputes import draw_disputes
from evergreen.devtools.datagen.population import (
    DEFAULT_CUSTOMERS,
    DEFAULT_MERCHANTS,
    build_population,
    customer_rows,
    merchant_rows,
)
from evergreen.devtools.datagen.scenarios import NEW_MERCHANT_CATEGORY, ScenariosArg, resolve
from evergreen.storage import sql

MANIFEST_FILE = "_manifest.json"  # underscore: Spark skips it when it lists a landing folder
SOURCE_DDL = resources.files("evergreen.devtools.datagen") / "source_tables.sql"


def generate(
    start: date,
    days: int,
    rows_per_day: int,
    seed: int = 7,
    scenarios: ScenariosArg = (),
    landing_root: str | None = None,
    db_url: str | None = None,
    n_customers: int | None = None,
    n_merchants: int | None = None,
) -> dict:
    """Generate `days` days from `start`: landing files, label and dispute feeds, source tables and a manifest.

    `rows_per_day` is the mean of a week (weekends are busier). `scenarios` is `{name: start}` or a list
    of `Scenario`; a start may be a date or a day index from `start` (use dates when generating in
    several calls). Returns the landing folder's manifest: every day generated there so far, label rows
    per arrival date, and population sizes.
    """
    if days < 1 or rows_per_day < 1:
        raise ValueError(f"need days >= 1 and rows_per_day >= 1, got {days} and {rows_per_day}")
    start = start.date() if hasattr(start, "hour") else start
    root = _local_path(landing_root or settings().landing_root)
    windows = resolve(scenarios, start)
    event_days = [start + timedelta(days=i) for i in range(days)]
    last_day = event_days[-1]

    new_category = next((w for w in windows if w.name == NEW_MERCHANT_CATEGORY), None)
    population = build_population(
        seed,
        n_customers or DEFAULT_CUSTOMERS,
        n_merchants or DEFAULT_MERCHANTS,
        new_category_onboarded=new_category.first if new_category else None,
    )

    day_entries, day_labels, day_disputes = [], [], []
    for day in event_days:
        tx = simulate_day(population, day, rows_per_day, seed, windows)
        files = landing.landing_files(tx, population, seed, windows)
        folder = root / "transactions" / day.isoformat()
        landing.write_csv(files.tables[landing.WEB_APP_FILE], folder / landing.WEB_APP_FILE)
        landing.write_jsonl(files.tables[landing.POS_FILE], folder / landing.POS_FILE)
        day_labels.append(landing.labels(tx))
        disputed = draw_disputes(tx, population, seed, windows)
        day_disputes.append(landing.disputes(tx, disputed))
        day_entries.append({
            "date": day.isoformat(),
            "seed": seed,
            "rows": sum(t.num_rows for t in files.tables.values()),
            "transactions": len(tx),
            "fraud": int(np.count_nonzero(tx.is_fraud)),
            "fraud_rule": tx.rule,
            "files": {name: t.num_rows for name, t in files.tables.items()},
            "columns": files.columns,
            "scenarios": [w.name for w in windows if w.active_on(day)],
            "dirt": files.dirt,
            # Hidden truth like `fraud`: the day's purchases that get disputed (the feed files them by the
            # day each is raised), and how many of those rows the issuer sends twice.
            "disputes": disputed.count,
            "dispute_resends": int(disputed.resend.sum()),
        })  # fmt: skip

    label_counts = landing.write_labels(root, pa.concat_tables(day_labels), event_days)
    dispute_counts = landing.write_by_arrival(root, landing.DISPUTE_FEED, pa.concat_tables(day_disputes), event_days)

    # The source DB as it stands on the last generated day.
    eng = sql.engine(db_url)
    sql.run_ddl(eng, SOURCE_DDL)
    n_cust = sql.replace_rows(eng, "customers", customer_rows(population.customers, last_day))
    n_merch = sql.replace_rows(eng, "merchants", merchant_rows(population.merchants, last_day))

    manifest = _merge_manifest(
        root / MANIFEST_FILE,
        days=day_entries,
        feeds={landing.LABEL_FEED: label_counts, landing.DISPUTE_FEED: dispute_counts},
        regenerated={d.isoformat() for d in event_days},
        top={
            "customers": n_cust,
            "merchants": n_merch,
            "as_of": last_day.isoformat(),
            "scenarios": [w.to_json() for w in windows],
        },
    )
    landing.write_bytes_atomic(root / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def _merge_manifest(
    path: Path, days: list[dict], feeds: dict[landing.ArrivalFeed, dict[str, int]], regenerated: set, top: dict
) -> dict:
    """The landing folder's table of contents: earlier calls' days kept, this call's days replaced; rows per
    arrival file of each delayed feed (`labels`, `disputes`)."""
    old = json.loads(path.read_text()) if path.exists() else {}
    by_date = {d["date"]: d for d in old.get("days", []) if d["date"] not in regenerated}
    by_date.update({d["date"]: d for d in days})
    out = {**top, "days": [by_date[k] for k in sorted(by_date)]}
    for feed, counts in feeds.items():
        rows = {**old.get(feed.name, {}), **counts}
        # An arrival file this call emptied (re-generation with other settings) is gone from disk.
        rows = {k: v for k, v in rows.items() if k in counts or not _within_horizon(k, regenerated, feed)}
        out[feed.name] = {k: rows[k] for k in sorted(rows)}
    return out


def _within_horizon(arrival: str, regenerated: set, feed: landing.ArrivalFeed) -> bool:
    first = min(date.fromisoformat(d) for d in regenerated)
    last = max(date.fromisoformat(d) for d in regenerated)
    return first <= date.fromisoformat(arrival) <= last + timedelta(days=feed.horizon_days)


def _local_path(root: str) -> Path:
    # The generator plays the upstream system writing to local disk; object stores are ingest's concern.
    if root.startswith("file://"):
        root = root[len("file://") :]
    if "://" in root:
        raise ValueError(f"datagen writes to a local folder; got {root!r} (sync it to object storage after)")
    return Path(root)
