"""What the page shows, read through the package's own read functions (nothing here computes a verdict).

Each section is read on its own: an unreachable MLflow empties the version cards with the error shown, and the
drift timeline, the ledger and the data health still render. Nothing here writes anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Section:
    """One panel's data, or the one-line error that kept it from loading."""

    value: Any = None
    error: str | None = None


def read(what: str, fn: Callable[[], Any]) -> Section:
    try:
        return Section(fn())
    except Exception as e:  # one failing source must not take the whole page down
        log.exception("evergreen page: reading %s failed", what)
        return Section(None, f"could not read {what}: {type(e).__name__}: {e}")


def known_models() -> list[str]:
    from evergreen.contracts.model_spec import known_models as specs

    return specs()


def spec(model: str):
    from evergreen.contracts.model_spec import load_spec

    return load_spec(model)


def versions(model: str) -> dict[str, dict[str, Any] | None]:
    from evergreen.registry.catalog import aliased_versions

    return aliased_versions(model)


def registered_versions(model: str) -> list[str]:
    from evergreen.registry.catalog import registered_versions as listed

    return listed(model)


def promotions(model: str) -> list[dict[str, Any]]:
    from evergreen.registry.audit import history

    return history(model)


def drift_reports(model: str) -> list[dict[str, Any]]:
    from evergreen.monitoring.report_table import reports

    return reports(model)


def drift_events(model: str) -> list[dict[str, Any]]:
    from evergreen.events.ledger import events

    return events(model)


def events_of_run(run_id: str, model: str) -> list[dict[str, Any]]:
    from evergreen.events.ledger import for_run
    from evergreen.orchestration.retraining import ledger_key

    return for_run(ledger_key(run_id, model))


def decisions_of_run(run_id: str) -> list[dict[str, Any]]:
    from evergreen.registry.audit import for_airflow_run

    return for_airflow_run(run_id)


def data_health() -> list[dict[str, Any]]:
    from evergreen.storage.inventory import data_health as health

    return health()


def step_report(day: str, step: str) -> dict[str, Any] | None:
    from evergreen.storage.step_reports import read_if_any

    return read_if_any(day, step)


def mlflow_ui_url() -> str:
    from evergreen.config import settings

    return settings().mlflow_ui_url


# ---- files served through the page (behind the same login) ------------------------------------------------
def home() -> Path:
    from evergreen.config import settings

    return Path(settings().home).resolve()


def drift_report_file(model: str, day: str) -> Path | None:
    """The stored HTML page of a drift window, only if it lies under the reports folder of EVERGREEN_HOME."""
    rows = [r for r in drift_reports(model) if r["window_day"] == day]
    if not rows or not rows[0].get("html_path"):
        return None
    return inside(home() / "reports" / "drift", Path(rows[0]["html_path"]))


def data_docs_root() -> Path:
    """The Great Expectations Data Docs site the gates build (pipeline/quality/_gx.py: the context's local_site)."""
    return home() / "gx" / "uncommitted" / "data_docs" / "local_site"


def data_docs_link(docs_path: str | None) -> str | None:
    """A gate's Data Docs page as a path relative to the site root, or None if it is not in the site."""
    if not docs_path:
        return None
    root = data_docs_root().resolve()
    target = inside(root, Path(docs_path))
    return None if target is None else target.relative_to(root).as_posix()


def inside(root: Path, candidate: Path) -> Path | None:
    """`candidate` resolved, if it is an existing file under `root` (no `..`, no symlink out of it)."""
    root = root.resolve()
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not target.is_file() or not target.is_relative_to(root):
        return None
    return target


# ---- Airflow's own records ---------------------------------------------------------------------------------
def dag_run(dag_id: str, run_id: str) -> dict[str, Any] | None:
    """The run as Airflow recorded it: conf, dates, who triggered it, and its tasks' return values we read."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            return None
        return {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "state": str(run.state) if run.state else None,
            "run_type": str(run.run_type) if run.run_type else None,
            "conf": dict(run.conf or {}),
            "logical_date": run.logical_date,
            "data_interval_start": run.data_interval_start,
            "triggering_user_name": getattr(run, "triggering_user_name", None),
        }


def xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    """A task's return value in a run (None if it has not run)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key="return_value", task_ids=task_id, dag_ids=dag_id, limit=1)
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def mapped_xcoms(dag_id: str, run_id: str, task_id: str) -> dict[int, Any]:
    """A mapped task's return values in a run, by map index (absent: that index has not returned)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key="return_value", task_ids=task_id, dag_ids=dag_id)
        return {int(row.map_index): XComModel.deserialize_value(row) for row in session.scalars(query)}


def day_of_ingest_run(run: dict[str, Any]) -> str:
    """The day an ingest_daily run processed: its resolve_day's answer, else the same rule that task applies."""
    from evergreen.orchestration.dagkit import resolve_day

    day = xcom(run["dag_id"], run["run_id"], "resolve_day")
    return str(day) if day else resolve_day(run["conf"], run["data_interval_start"], run["logical_date"])


def dag_is_paused(dag_id: str) -> bool | None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dm = session.get(DagModel, dag_id)
        return None if dm is None else bool(dm.is_paused)
