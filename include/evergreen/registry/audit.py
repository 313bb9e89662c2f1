"""The promotion audit trail (table `promotions`; shape: evergreen/storage/migrations/versions/).

One row per decision: both models' metrics on the same holdout, the decision, the one-line reason, and the
actor (the policy, or the named person who forced a promotion or rolled back). Rows are only inserted,
through SQLAlchemy with bound parameters. For a rollback, `challenger_version` is the version that becomes
champion again and `champion_version` the one it replaces.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import sqlalchemy as sa

from evergreen.common.values import to_json
from evergreen.storage.sql import evergreen_engine, table

TABLE = "promotions"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def row(
    *,
    decided_at: dt.datetime,
    model: str,
    challenger_version: str,
    champion_version: str | None,
    challenger_metrics: dict[str, Any] | None,
    champion_metrics: dict[str, Any] | None,
    decision: str,
    reason: str,
    actor: str,
    triggered_by: dict[str, Any] | None,
    run_id: str | None,
) -> dict[str, Any]:
    """One audit row as column -> value (decided_at stored as naive UTC: portable across engines)."""
    return {
        "id": uuid.uuid4().hex,
        "decided_at": decided_at.astimezone(dt.UTC).replace(tzinfo=None),
        "model": model,
        "challenger_version": str(challenger_version),
        "champion_version": None if champion_version is None else str(champion_version),
        "challenger_metrics": to_json(challenger_metrics),
        "champion_metrics": to_json(champion_metrics),
        "decision": decision,
        "reason": reason,
        "actor": actor,
        "triggered_by": to_json(triggered_by),
        "run_id": run_id,
    }


def engine() -> sa.Engine:
    return evergreen_engine()


def insert(conn: sa.Connection, values: dict[str, Any]) -> str:
    """Insert one row inside the caller's transaction; returns its id."""
    conn.execute(sa.insert(table(conn.engine, TABLE)), [values])
    return values["id"]


def history(model: str | None = None, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Audit rows, newest first, with the JSON columns parsed."""
    eng = engine()
    tbl = table(eng, TABLE)
    query = sa.select(tbl).order_by(tbl.c.decided_at.desc(), tbl.c.id)
    if model is not None:
        query = query.where(tbl.c.model == model)
    if limit is not None:
        query = query.limit(limit)
    with eng.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        for col in ("challenger_metrics", "champion_metrics", "triggered_by"):
            r[col] = json.loads(r[col]) if r[col] else None
        if isinstance(r["decided_at"], dt.datetime):
            r["decided_at"] = iso(r["decided_at"].replace(tzinfo=dt.UTC))
    return rows


def for_airflow_run(run_id: str, model: str | None = None) -> list[dict[str, Any]]:
    """Decisions taken by one Airflow run (its id in `triggered_by.run_id`), newest first.

    `triggered_by` is JSON text, so the match is made here rather than in SQL: portable, and the table
    holds one row per decision (hundreds a year), not per event.
    """
    return [r for r in history(model) if (r["triggered_by"] or {}).get("run_id") == run_id]


def count(model: str | None = None) -> int:
    eng = engine()
    tbl = table(eng, TABLE)
    query = sa.select(sa.func.count()).select_from(tbl)
    if model is not None:
        query = query.where(tbl.c.model == model)
    with eng.connect() as conn:
        return int(conn.execute(query).scalar_one())
