"""The steps the `score_and_watch` DAG runs: score -> watch -> publish. Glue only, like `retraining`.

Scoring lives in evergreen.scoring.batch, drift in evergreen.monitoring, events in evergreen.events; the reference
profile travels with the model version in the registry. Each step takes and returns small JSON-ready dicts.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from evergreen.common.days import days_back, iso_day
from evergreen.contracts.model_spec import load_spec

# Where the training-time reference profile lives in each model version's run (written by retraining).
REFERENCE_ARTIFACT = "monitoring/reference.bin"
REFERENCE_SAMPLE_ROWS = 200_000  # a sketch of 200k rows is as good a reference as 2M, at a tenth the time


def reference_profile(spec, data, scorer) -> bytes:
    """The training rows' features and scores, plus the held-out rows' scores and labels (for recall)."""
    from evergreen.monitoring import build_reference

    train = data.train
    if len(train) > REFERENCE_SAMPLE_ROWS:
        train = train.sample(REFERENCE_SAMPLE_ROWS, random_state=spec.training.seed)
    holdout = data.holdout[[spec.label.column]].copy()
    holdout["score"] = scorer.predict_proba(data.holdout)
    return build_reference(spec, train, scorer.predict_proba(train), holdout=holdout)


def asset_events(triggering_asset_events) -> list[dict[str, Any]]:
    """Airflow's triggering events as plain dicts (`asset` uri, `extra`)."""
    return [
        {"asset": getattr(asset, "uri", str(asset)), "extra": dict(e.extra or {})}
        for asset, events in (triggering_asset_events or {}).items()
        for e in events
    ]


class NothingToScoreError(LookupError):
    """A model with no champion yet: its mapped tasks skip with this reason (retrain makes the first one)."""


def models_to_watch(params: dict[str, Any], events: list[dict[str, Any]] | None = None) -> list[str]:
    """The models a run scores and watches: the form's pick; else, for a run started by gold asset events,
    the models whose source table those events wrote; else every spec the deployment loads. A spec that
    cannot be read is listed anyway: its own mapped tasks fail with its one-line error, no other's."""
    from evergreen.contracts.model_spec import known_models

    if params.get("model"):
        return [str(params["model"])]
    tables = {event_table(e) for e in events or []}
    if not tables or None in tables:
        return known_models()
    return [m for m in known_models() if _source_table(m) in tables | {None}]


def event_table(event: dict[str, Any]) -> str | None:
    """The gold table a gold asset event wrote: `extra.table`, else the asset's URI
    (`evergreen://gold/<table>`); None when it says neither (an older producer)."""
    table = (event.get("extra") or {}).get("table")
    if table:
        return str(table)
    uri = str(event.get("asset") or "")
    return uri.rsplit("/", 1)[-1] if uri.startswith("evergreen://gold/") else None


def _source_table(model: str) -> str | None:
    try:
        return load_spec(model).source.table
    except (ValueError, OSError):
        return None  # broken: listed, so its own tasks fail and say why


def resolve_days(params: dict[str, Any], model: str, events: list[dict[str, Any]] | None = None) -> list[str]:
    """The gold days to score, each once, oldest first: the form's date; else the days the triggering gold
    events wrote; else (a manual run with no date, or events from an older producer) the newest gold day.
    Parses the model's spec first, so a broken spec fails here with its one-line error (and no retries)."""
    from evergreen.orchestration.dagkit import spec_or_fail

    spec = spec_or_fail(model)
    if params.get("date"):
        return [iso_day(params["date"], "date")]
    from evergreen.orchestration.dagkit import event_days

    # Only the days the model's own source table was written for (gold/features, gold/disputes, ...).
    mine = [e for e in events or [] if event_table(e) in (spec.source.table, None)]
    days = event_days(mine)
    if days:
        return days
    from evergreen.orchestration.retraining import latest_gold_day

    return [latest_gold_day(model)]


def score(model: str, day: str) -> dict[str, Any]:
    from evergreen.scoring.batch import NoChampionError, score_day

    try:
        return score_day(load_spec(model), day)
    except NoChampionError as e:
        raise NothingToScoreError(f"{model}: {e}") from e


def watch(model: str, day: str, scored: dict[str, Any]) -> dict[str, Any]:
    """Profile the day's inputs and scores against the scoring version's reference; apply the drift rule."""
    from evergreen.monitoring import watch_day
    from evergreen.registry.mlflow_log import download_version_artifact
    from evergreen.scoring.batch import read_predictions, recent_outcomes
    from evergreen.training.dataset import gold_root

    spec = load_spec(model)
    version = str(scored["model_version"])
    reference = download_version_artifact(spec.name, version, REFERENCE_ARTIFACT)
    current = _scored_gold(spec, day, read_predictions(spec.name, [day]), gold_root(spec))
    lookback = days_back(day, spec.drift.performance.lookback_days)
    outcomes = recent_outcomes(spec, [d for d in lookback if _scored(spec.name, d)])
    report = watch_day(spec, day, model_version=version, reference=reference, current=current, outcomes=outcomes)
    return report.to_dict()


def _scored(model: str, day: str) -> bool:
    from evergreen.scoring.batch import read_predictions

    try:
        return len(read_predictions(model, [day])) > 0
    except (FileNotFoundError, OSError):
        return False


def _scored_gold(spec, day: str, predictions, root: str):
    """The day's gold feature columns with the score each row got (joined on the key, never by position)."""
    import pyarrow.dataset as ds

    from evergreen.training.dataset import row_selection

    gold = ds.dataset(f"{root}/event_date={day}", format="parquet").to_table(
        columns=[spec.source.key, *spec.features.names], filter=row_selection(spec)
    )
    scores = predictions[[spec.source.key, "score"]]
    frame = gold.to_pandas().merge(scores, on=spec.source.key, how="inner", validate="one_to_one")
    if len(frame) != gold.num_rows:
        raise ValueError(f"{spec.name} {day}: {gold.num_rows} gold rows but {len(frame)} carry a score")
    return frame


def event_id(model: str, version: str, window: str) -> str:
    """One id per (model, version, window): re-running a day's watch re-publishes the same event, which the
    ledger then drops as a duplicate."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", f"drift.{model}.v{version}.{window}")[:64]


def publish(model: str, report: dict[str, Any]) -> dict[str, Any] | None:
    """Publish a DriftDetected event when the rule newly fires for this model version.

    Edge-triggered: while a drift persists under the same champion, the daily retraining (cron and new
    gold) carries on; one event per episode starts the immediate retraining.
    """
    if not report["fires"]:
        return None
    from evergreen.orchestration import notify

    previous = _previous_window(report.get("history") or [], report["window"])
    if previous and previous in _fired_windows(model, str(report["model_version"])):
        skipped = {"published": False, "reason": f"the rule already fired on {previous} for this version"}
        notify.drift_fire({"model": model, **report}, skipped)
        return skipped
    from evergreen.contracts.drift_event import DriftDetected
    from evergreen.events.producer import publish_drift

    event = DriftDetected(
        event_id=event_id(model, report["model_version"], report["window"]),
        model=model,
        model_version=str(report["model_version"]),
        window=report["window"],
        drifted_features=_drifted(report),
        rule=report["rule"][:512],
        detected_at=dt.datetime.now(dt.UTC),
    )
    meta = publish_drift(event)
    out = {"published": True, **meta, "window": event.window, "published_at": event.detected_at.isoformat()}
    notify.drift_fire({"model": model, **report}, out)
    return out


def _drifted(report: dict[str, Any]) -> dict[str, float]:
    """What breached: drifted features, and the prediction / performance signals under their own names."""
    out = {k: float(v) for k, v in (report.get("drifted_features") or {}).items()}
    if report.get("prediction_drift") is not None and "prediction" in " ".join(report.get("reasons") or []):
        out["score"] = float(report["prediction_drift"])
    perf = report.get("performance") or {}
    if perf.get("breached") and perf.get("recall") is not None:
        out["recall_on_known_frauds"] = float(perf["recall"])
    return out or {"score": float(report.get("prediction_drift") or 0.0)}


def _fired_windows(model: str, version: str) -> list[str]:
    from evergreen.monitoring import reports

    return sorted(
        str(r["window_day"])[:10] for r in reports(model) if r["fires"] and str(r["model_version"]) == version
    )


def _previous_window(history: list[dict], window: str) -> str | None:
    days = sorted(str(w["window"])[:10] for w in history)
    earlier = [d for d in days if d < window]
    return earlier[-1] if earlier else None
