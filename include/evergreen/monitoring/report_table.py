"""The `drift_reports` table (shape: evergreen/storage/migrations/versions/): parameterized SQL only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from evergreen.common.values import to_json
from evergreen.storage.sql import evergreen_engine, require_schema, table

TABLE = "drift_reports"
JSON_COLUMNS = ("feature_scores", "drifted_features", "thresholds", "performance", "reasons")


def engine_with_table(eng: sa.Engine | None = None) -> sa.Engine:
    """`eng` (default: the evergreen DB of the current settings), checked once to be at the migration head.

    Nothing is created here: `evergreen db upgrade` does that once, at setup.
    """
    if eng is None:
        return evergreen_engine()
    require_schema(eng)
    return eng


def previous_windows(
    eng: sa.Engine, model: str, model_version: str, day: dt.date, limit: int
) -> list[tuple[str, bool]]:
    """The `limit` windows of this model version before `day`, oldest first, as (day, breached).

    Only the same version counts: a retrained champion starts with a clean slate, or the breaches that
    triggered its own training would fire again on its first window.
    """
    if limit <= 0:
        return []
    tbl = table(eng, TABLE)
    query = (
        sa.select(tbl.c.window_day, tbl.c.breached)
        .where(tbl.c.model == model, tbl.c.model_version == str(model_version), tbl.c.window_day < day)
        .order_by(tbl.c.window_day.desc())
        .limit(limit)
    )
    with eng.connect() as conn:
        rows = conn.execute(query).all()
    return [(str(r.window_day), bool(r.breached)) for r in reversed(rows)]


def replace_window(eng: sa.Engine, values: dict[str, Any]) -> None:
    """Write one window's row, replacing any earlier row for the same (model, day): re-runs are idempotent."""
    tbl = table(eng, TABLE)
    row = {k: (to_json(v) if k in JSON_COLUMNS else v) for k, v in values.items()}
    with eng.begin() as conn:
        conn.execute(sa.delete(tbl).where(tbl.c.model == row["model"], tbl.c.window_day == row["window_day"]))
        conn.execute(sa.insert(tbl), [row])


def reports(model: str, *, eng: sa.Engine | None = None, since: str | None = None) -> list[dict[str, Any]]:
    """Stored windows of a model, oldest first, JSON columns parsed (for the UI, the CLI and tests)."""
    eng = engine_with_table(eng)
    tbl = table(eng, TABLE)
    query = sa.select(tbl).where(tbl.c.model == model).order_by(tbl.c.window_day)
    if since is not None:
        query = query.where(tbl.c.window_day >= dt.date.fromisoformat(since))
    with eng.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        for col in JSON_COLUMNS:
            r[col] = json.loads(r[col]) if r[col] else None
        r["window_day"] = str(r["window_day"])
        r["breached"], r["fires"] = bool(r["breached"]), bool(r["fires"])
    return rows
