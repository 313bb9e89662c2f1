"""Shared pieces for Evergreen's DAG files: defaults, the tag allow-list, assets, the gate check.

DAG files stay ~60 lines of wiring; everything they repeat lives here once. Light imports only: the
DAG processor parses these files every 30 s.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

OWNER = "evergreen-data-platform"


class Tag(StrEnum):
    """The only tags a DAG may carry (a test enforces it), so the UI's tag filter stays useful."""

    EVERGREEN = "evergreen"
    INGEST = "ingest"
    QUALITY = "quality"
    TRAINING = "training"
    MONITORING = "monitoring"
    MANUAL = "manual"


def _failure_notifier():
    from evergreen.orchestration.notify import TaskFailureNotifier

    return TaskFailureNotifier()


# Every try of every task is bounded (a hung Spark job or a stuck broker call ends as a failure someone is
# told about, then retries); a task that needs longer says so itself (retrain's `train`).
TASK_TIMEOUT = dt.timedelta(hours=1)
# A whole run is bounded too: 3 tries of the longest task plus the rest, then the run fails visibly.
DAGRUN_TIMEOUT = dt.timedelta(hours=8)

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=20),
    "execution_timeout": TASK_TIMEOUT,
    # Each failed try tells people (the SMTP connection `evergreen_smtp`; logged only when there is none).
    "on_failure_callback": _failure_notifier(),
}

GOLD_FEATURES_URI = "evergreen://gold/features"
GOLD_DISPUTES_URI = "evergreen://gold/disputes"
DRIFT_EVENTS_URI = "evergreen://events/drift"
# Gold that score_and_watch has scored and watched (its drift verdict, and any event, already out): the daily
# retraining follows it, so it knows whether the day drifted and never races the drift event it would cover.
GOLD_WATCHED_URI = "evergreen://gold/watched"
# The drift watcher's Kafka connection (AIRFLOW_CONN_KAFKA_DRIFT): its own consumer group, manual commits.
DRIFT_CONNECTION = "kafka_drift"


def gold_features_asset():
    """The gold features asset: ingest_daily's outlet; score_and_watch and retrain are scheduled on it."""
    from airflow.sdk import Asset

    return Asset(name="gold_features", uri=GOLD_FEATURES_URI)


def gold_disputes_asset():
    """The gold disputes asset: ingest_disputes' outlet, for the models whose source is gold/disputes."""
    from airflow.sdk import Asset

    return Asset(name="gold_disputes", uri=GOLD_DISPUTES_URI)


def gold_watched_asset():
    """score_and_watch's outlet: the days it watched; retrain is scheduled on it (and on drift events)."""
    from airflow.sdk import Asset

    return Asset(name="gold_watched", uri=GOLD_WATCHED_URI)


def gold_written(context, result=None) -> None:
    """`features`' post-execute hook: its asset event says which day it wrote, so each consumer works on
    exactly the days that landed (a five-day backfill is five events, each naming its day)."""
    day = context["ti"].xcom_pull(task_ids="resolve_day")
    context["outlet_events"][gold_features_asset()].extra = {
        "table": "features",
        "day": day,
        "days": [day],
        "run_id": context["run_id"],
    }


def gold_disputes_written(context, result=None) -> None:
    """`disputes_gold`'s post-execute hook: the event names the run's days (the new gold days; the window
    before them was rewritten too, with the disputes that arrived since)."""
    days = context["ti"].xcom_pull(task_ids="resolve_days")
    context["outlet_events"][gold_disputes_asset()].extra = {
        "table": "disputes",
        "days": list(days),
        "run_id": context["run_id"],
    }


def event_days(events: list[dict]) -> list[str]:
    """The days a list of gold asset events wrote (`extra.days`, or `extra.day`), each once, in order."""
    from evergreen.common.days import iso_day

    days: set[str] = set()
    for e in events:
        extra = e.get("extra") or {}
        named = extra.get("days") or ([extra["day"]] if extra.get("day") else [])
        days.update(iso_day(d, "asset event extra.days") for d in named)
    return sorted(days)


def landed_files(day: str, landing: str | None = None, feed: str = "transactions") -> tuple[str, list[str] | None]:
    """A feed's drop of the day and the files in it; None for an object store (the Spark job checks those)."""
    from pathlib import Path

    from evergreen.config import settings

    drop = landing or f"{settings().layer('landing', feed)}/{day}"
    if "://" in drop and not drop.startswith("file://"):
        return drop, None
    folder = Path(drop.removeprefix("file://"))
    return drop, sorted(p.name for p in folder.glob("*") if p.suffix in (".csv", ".jsonl", ".json"))


def drift_events_asset():
    """The asset drift events land on: one watcher, one topic, one consumer group for every model.

    Kafka watchers in one triggerer share a thread (ten of them pushed p50 latency to 9-66 s:
    docs/decisions/0002-shared-stream-kafka-trigger.md),
    so models are told apart by the event's payload, never by a watcher each.
    """
    from airflow.sdk import Asset, AssetWatcher

    from evergreen.config import settings
    from evergreen.events.trigger import DriftEventTrigger

    trigger = DriftEventTrigger(
        topics=[settings().kafka_drift_topic], kafka_config_id=DRIFT_CONNECTION, poll_timeout=0.1
    )
    return Asset(
        name="drift_events", uri=DRIFT_EVENTS_URI, watchers=[AssetWatcher(name="drift_watcher", trigger=trigger)]
    )


def spark_job() -> str:
    """The packaged spark-submit application of the daily steps (its first argument names the step)."""
    from evergreen.pipeline.jobs import application_path

    return application_path()


def resolve_day(
    params: dict,
    data_interval_start: dt.datetime | None,
    logical_date: dt.datetime | None,
    data_interval_end: dt.datetime | None = None,
) -> str:
    """The day a run processes: the form's date, else the day-long data interval that just closed (its
    start's day: ingest_daily's timetable gives the run at D+1 00:30 the interval [D 00:30, D+1 00:30)),
    else the day before the run's moment (a zero-length interval, as a trigger timetable gives)."""
    if params.get("date"):
        from evergreen.common.days import iso_day

        return iso_day(params["date"], "date")
    if data_interval_start is not None and data_interval_end is not None and data_interval_end > data_interval_start:
        return data_interval_start.date().isoformat()
    anchor = data_interval_end or logical_date or dt.datetime.now(dt.UTC)
    return (anchor.date() - dt.timedelta(days=1)).isoformat()


class GateFailedError(Exception):
    """Raised by a gate task; its message is the gate's one-line reason."""


def check_gate(day: str, step: str) -> dict:
    """Read a step's report and stop the run, with the gate's one-line reason, if its gate failed."""
    import logging

    from evergreen.storage.step_reports import read_report

    report = read_report(day, step)
    gate = report["gate"]
    log = logging.getLogger("evergreen.gate")
    if gate["status"] == "failed":
        where = f" Data Docs: {gate.get('docs_path')}" if gate.get("docs_path") else ""
        raise GateFailedError(gate["reason"] + where)
    if gate["status"] == "partial":
        log.warning(gate["reason"])
    else:
        log.info(gate["reason"])
    return {"status": gate["status"], "reason": gate["reason"], "batch_id": report["batch_id"]}


def spec_or_fail(model: str):
    """The model's spec, or the task fails at once with the spec's one-line error: a broken file does not
    mend itself between retries, so there are none (AirflowFailException)."""
    from airflow.sdk.exceptions import AirflowFailException

    from evergreen.contracts.model_spec import load_spec

    try:
        return load_spec(model)
    except (ValueError, OSError) as e:
        raise AirflowFailException(str(e)) from e


def model_param(description: str = "", *, every: bool = True):
    """The `model` field of a DAG form: a choice among the specs that exist when the file is parsed.

    With `every` (retrain, score_and_watch) the field may stay empty, which means every model: scheduled
    and asset-triggered runs cover every spec, and a person may pick one. Without it (rollback_model) a
    model must be chosen. Listing the specs folders costs directory reads (no YAML is parsed), cheap enough
    for every parse; a new spec file shows up in the forms at the next parse.
    """
    from airflow.sdk import Param

    from evergreen.contracts.model_spec import known_models

    models = known_models()
    if every:
        return Param(
            None,
            type=["null", "string"],
            enum=[None, *models],
            title="Model",
            description=description or "empty = every model (one mapped task each); or pick one spec",
        )
    return Param(
        models[0] if models else None,
        type="string",
        enum=models,
        title="Model",
        description=description or "a model spec (contracts/specs/<model>.yaml or EVERGREEN_SPECS_DIRS)",
    )


def training_params() -> dict:
    """The training part of a retraining form: window, hyper-parameters, search budget. Empty = the spec."""
    from airflow.sdk import Param

    def optional(kind: str, title: str, description: str, **bounds) -> Param:
        return Param(None, type=["null", kind], title=title, description=description, **bounds)

    return {
        "training_window_days": optional(
            "integer", "Training window (days)", "empty = the spec's split.train_days", minimum=3
        ),
        "max_depth": optional("integer", "max_depth", "empty = the spec's value", minimum=1, maximum=16),
        "n_estimators": optional(
            "integer",
            "n_estimators",
            "empty = the spec's value (early stopping still applies)",
            minimum=10,
            maximum=5000,
        ),
        "learning_rate": optional("number", "learning_rate", "empty = the spec's value", exclusiveMinimum=0, maximum=1),
        "search_budget": optional(
            "integer",
            "Search budget",
            "random-search trials; empty = the spec's training.search.budget",
            minimum=0,
            maximum=50,
        ),
    }
