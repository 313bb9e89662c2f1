"""`evergreen replay --start D --days N [--scenario NAME@DAY ...]`: days go through the running stack.

For each day, the generator (devtools.datagen) lands the day's files as an upstream system would (the
transactions drop, the label feed, the source tables as of that day); then `ingest_daily` is started for
that day through Airflow's authenticated REST API, and replay waits for its run. Everything after that
happens on its own, as in production: the gold asset event (naming the day) starts `score_and_watch` and
`retrain`, a drift event goes through Kafka to the triggerer, the scheduler starts what follows.

The run of day D has the logical date D 00:30 UTC, the same identity the scheduler and Airflow's backfill
give it, so replaying a day that already ran clears and re-runs that run instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
from collections.abc import Callable
from typing import Any

INGEST = "ingest_daily"


def logical_date(day: str) -> str:
    return f"{day}T00:30:00+00:00"


def start_ingest(airflow, day: str, token: str) -> str:
    """Start (or clear and re-run) ingest_daily for `day`; returns the run id."""
    body = {"dag_run_id": f"replay__{day}", "logical_date": logical_date(day), "conf": {"date": day}}
    try:
        return airflow.api("POST", f"/api/v2/dags/{INGEST}/dagRuns", body, token=token)["dag_run_id"]
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise
    # The day already has a run (an earlier replay, the scheduler or a backfill): run it again.
    q = f"logical_date_gte={logical_date(day)}&logical_date_lte={logical_date(day)}".replace("+", "%2B")
    (run,) = airflow.api("GET", f"/api/v2/dags/{INGEST}/dagRuns?{q}", token=token)["dag_runs"]
    airflow.api(
        "POST",
        f"/api/v2/dags/{INGEST}/clearTaskInstances",
        {"dag_run_id": run["dag_run_id"], "dry_run": False, "only_failed": False, "reset_dag_runs": True},
        token=token,
    )
    return run["dag_run_id"]


def xcom(airflow, dag_id: str, run_id: str, task_id: str) -> list[Any]:
    """A task's return values in a run (one per map index), from the metadata DB."""
    return list(mapped_xcom(airflow, dag_id, run_id, task_id).values())


def mapped_xcom(airflow, dag_id: str, run_id: str, task_id: str) -> dict[int, Any]:
    """A task's return values in a run by map index (-1: not mapped), in index order."""
    rows = airflow.query(
        "SELECT map_index, value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t "
        "AND key = 'return_value' ORDER BY map_index",
        d=dag_id,
        r=run_id,
        t=task_id,
    )
    return {int(r["map_index"]): _decoded(r["value"]) for r in rows}


def watched(airflow, run_id: str, step: str, model: str) -> Any:
    """What one model's `watch_model.<step>` returned in a score_and_watch run (None: not listed, or the
    step has not returned: it failed or skipped). score_and_watch maps one group per model."""
    models = (xcom(airflow, "score_and_watch", run_id, "models") or [[]])[0]
    if model not in models:
        return None
    return mapped_xcom(airflow, "score_and_watch", run_id, f"watch_model.{step}").get(models.index(model))


def _decoded(value: Any) -> Any:
    """XCom values are JSON: text on SQLite, already decoded by the driver on PostgreSQL (where a bare
    string comes back as that string)."""
    import json

    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def land_day(day: str, *, rows_per_day: int, seed: int, scenarios: list | None = None) -> dict[str, Any]:
    """What the upstream systems drop for one day: transactions, the label feed, the source tables."""
    from evergreen.devtools.datagen import generate

    manifest = generate(
        dt.date.fromisoformat(day), days=1, rows_per_day=rows_per_day, seed=seed, scenarios=scenarios or []
    )
    return next(d for d in manifest["days"] if d["date"] == day)


def wait_run(airflow, dag_id: str, run_id: str, timeout: float, since: float | None = None) -> dict[str, Any]:
    """Until the run ends (success or failed); a cleared run counts from `since` (its new end date)."""

    def done() -> dict[str, Any] | None:
        rows = [r for r in airflow.runs(dag_id) if r["run_id"] == run_id]
        if not rows or rows[0]["state"] not in ("success", "failed"):
            return None
        end = rows[0]["end_date"]
        return rows[0] if since is None or (end and end.timestamp() >= since) else None

    return airflow.wait_until(done, timeout, f"{dag_id} run {run_id} to finish", every=1)


def replay(
    start: dt.date,
    days: int,
    *,
    rows_per_day: int = 20_000,
    seed: int = 7,
    scenarios: list | None = None,
    timeout_per_day: float = 1800,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    from evergreen.devtools.stack import LocalStack

    stack = LocalStack()
    stack.adopt_client_env()  # land files where the stack's tasks read them
    airflow = stack.airflow()
    out: dict[str, Any] = {"days": {}}
    for i in range(days):
        day = (start + dt.timedelta(days=i)).isoformat()
        began = time.time()
        landed = land_day(day, rows_per_day=rows_per_day, seed=seed, scenarios=scenarios)
        run_id = start_ingest(airflow, day, airflow.token())
        run = wait_run(airflow, INGEST, run_id, timeout_per_day, since=began)
        seconds = round(time.time() - began, 1)
        active = ",".join(landed["scenarios"]) or "no scenario"
        say(f"[replay] {day}: landed {landed['rows']} rows ({active}); ingest_daily {run['state']} in {seconds:.0f} s")
        out["days"][day] = {"run_id": run_id, "state": run["state"], "rows": landed["rows"], "seconds": seconds}
    out["ok"] = all(d["state"] == "success" for d in out["days"].values())
    return out
