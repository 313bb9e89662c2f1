"""The retraining steps the `retrain` and `rollback_model` DAGs run: plan -> train -> challenge/promote.

Glue only: the data split and XGBoost live in evergreen.training, MLflow and the policy in
evergreen.registry. Each step takes and returns small JSON-ready dicts (they travel through XCom).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from evergreen.common.days import iso_day
from evergreen.contracts.model_spec import load_spec

HYPER_PARAMS = ("max_depth", "n_estimators", "learning_rate")


class RetrainRefusedError(ValueError):
    """A run that must not go ahead (a forced promotion with nobody named, no gold yet)."""


class NoGoldYetError(RetrainRefusedError):
    """The lake has no gold for the model yet: a person who asks is told; an automatic run skips."""


AUTOMATIC_RUN_TYPES = ("scheduled", "asset_triggered")


def latest_gold_day(spec_name: str) -> str:
    from evergreen.storage.inventory import partition_counts

    spec = load_spec(spec_name)
    days = partition_counts(spec.source.layer, spec.source.table, "event_date")
    if not days:
        raise NoGoldYetError(f"no gold/{spec.source.table} partitions yet: run ingest_daily first")
    return max(days)


def plan(
    params: dict[str, Any],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    run_type: str | None = None,
    asset_events: list[dict] | None = None,
) -> dict[str, Any]:
    """What this run will do: which model, which data (as of which day), which overrides, who asked."""
    model = params.get("model")
    if not model:
        raise RetrainRefusedError("plan needs a model (plan_models picks them for a run)")
    spec = load_spec(model)
    force = bool(params.get("force_promote"))
    requested_by = (params.get("requested_by") or "").strip() or None
    if force and not requested_by:
        raise RetrainRefusedError("force_promote needs requested_by: a forced promotion is recorded with a name")
    as_of = iso_day(params["as_of"], "as_of") if params.get("as_of") else latest_gold_day(model)
    return {
        "model": spec.name,
        "as_of": as_of,
        "window_days": params.get("training_window_days"),
        "params_override": {k: params[k] for k in HYPER_PARAMS if params.get(k) is not None},
        "search_budget": params.get("search_budget"),
        "force_promote": force,
        "actor": requested_by if force else "policy",
        "triggered_by": {
            "dag_id": dag_id,
            "run_id": run_id,
            "run_type": run_type,
            "requested_by": requested_by,
            "asset_events": asset_events or [],
        },
    }


def drift_models(asset_events: list[dict]) -> list[str]:
    """Models named by the drift events that triggered a run (the payloads the drift watcher fired)."""
    models = []
    for e in asset_events:
        payload = (e.get("extra") or {}).get("payload")
        if isinstance(payload, dict) and payload.get("model") and payload["model"] not in models:
            models.append(str(payload["model"]))
    return models


def watched_models(asset_events: list[dict]) -> list[str] | None:
    """Models named by the `gold/watched` events that triggered a run (each model's score_and_watch group
    emits its own); None when one of them names no model (every model then)."""
    from evergreen.orchestration.dagkit import GOLD_WATCHED_URI

    models: list[str] = []
    for e in asset_events:
        if e.get("asset") != GOLD_WATCHED_URI:
            continue
        model = (e.get("extra") or {}).get("model")
        if not model:
            return None
        models.append(str(model))
    return list(dict.fromkeys(models))


def models_asked(params: dict[str, Any], run_type: str | None, asset_events: list[dict]) -> list[str]:
    """The models a retrain run is for, before cooldowns: a drift-triggered run the models its events name;
    a new-gold run the models that were watched; the form's model when a person picks one; else (the daily
    cron, a person leaving it empty) every model in the specs folders."""
    from evergreen.contracts.model_spec import known_models

    asked = drift_models(asset_events)
    if run_type == "asset_triggered":
        watched = watched_models(asset_events)
        asked += known_models() if watched is None else watched
    elif params.get("model"):
        asked.append(str(params["model"]))
    else:
        asked += known_models()
    return list(dict.fromkeys(asked))


def ledger_key(run_id: str, model: str) -> str:
    """One run may retrain several models; the event ledger tracks each (run, model) pair."""
    return f"{run_id}#{model}"


def plan_models(
    params: dict[str, Any],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    run_type: str | None = None,
    asset_events: list[dict] | None = None,
) -> dict[str, Any]:
    """Which models this run retrains, and why the others it was asked about are skipped.

    `models_asked` says which (every spec unless a person or an event names some). A model's pending drift
    events are claimed by the run that trains it (the ledger then counts events arriving meanwhile as
    covered), so no drift event waits for a run that Airflow never starts (apache/airflow#56050): the daily
    cron run sweeps them up too. Models are isolated: a model whose spec is broken (or whose planning fails)
    gets a plan carrying its error, so its own mapped `train` fails with that line and the others go on.
    """
    from evergreen.events import ledger
    from evergreen.training.dataset import InsufficientDataError

    run_type = run_type_name(run_type)
    events = asset_events or []
    asked = models_asked(params, run_type, events)
    # Models with drift no run has taken yet (a dropped asset event) ride along with any run.
    asked += [e["model"] for e in ledger.pending() if e["model"] not in asked]
    one_named = bool(params.get("model")) and run_type not in AUTOMATIC_RUN_TYPES
    plans, skipped = [], {}
    for model in dict.fromkeys(asked):
        try:
            planned = _plan_one(model, params, dag_id=dag_id, run_id=run_id, run_type=run_type, events=events)
        except NoGoldYetError as e:
            if run_type not in AUTOMATIC_RUN_TYPES:
                raise
            # The daily tick on a fresh stack (nothing ingested yet): nothing to train, nothing broken.
            skipped[model] = {"reason": str(e), "covered_events": []}
            continue
        except InsufficientDataError as e:
            if one_named:
                raise
            # A model too young to train (its labels have not matured yet) is a normal state, not a failure.
            skipped[model] = {"reason": str(e), "covered_events": []}
            continue
        except RetrainRefusedError:
            raise  # the person's own input (force_promote without a name): the whole run is refused
        except Exception as e:  # any one model's failure is that model's, reported by its own task
            if one_named:
                raise
            plans.append({"model": model, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
            continue
        if planned is None:
            continue
        if "skipped" in planned:
            skipped[model] = planned["skipped"]
            continue
        plans.append(planned)
    return {"plans": plans, "skipped": skipped}


def _plan_one(
    model: str,
    params: dict[str, Any],
    *,
    dag_id: str | None,
    run_id: str | None,
    run_type: str | None,
    events: list[dict],
) -> dict[str, Any]:
    """One model's plan, its cooldown and its drift events (the ledger claim is the last step)."""
    from evergreen.events import ledger
    from evergreen.training.dataset import check_mature_days

    planned = plan({**params, "model": model}, dag_id=dag_id, run_id=run_id, run_type=run_type, asset_events=events)
    check_mature_days(load_spec(model), planned["as_of"], window_days=planned["window_days"])
    done = cooldown_run(planned)
    if done:
        # Same data already trained: the events it would take are covered by that training.
        settled = ledger.settle(model, ledger_key(_airflow_run_of(done), model), planned["as_of"])
        return {
            "skipped": {
                "reason": f"data as of {planned['as_of']} already trained within the cooldown: run {done}",
                "covered_events": settled["covered"],
            }
        }
    claimed = ledger.claim(model, ledger_key(run_id or "manual", model), planned["as_of"])
    planned["drift_events"] = [e["event_id"] for e in claimed]
    planned["triggered_by"]["drift_events"] = planned["drift_events"]
    drift_days = load_spec(model).retraining.drift_window_days
    if planned["window_days"] is None and drift_days and (claimed or under_drift(model)):
        planned["window_days"] = drift_days
        planned["window_reason"] = f"under drift: the latest {drift_days} mature days (spec retraining)"
    return planned


def mapped_plans(planned: dict[str, Any]) -> list[dict[str, Any]]:
    """What `retrain_model` is expanded over: the models that train, plus one entry per skipped model
    (`skip`: the reason), so each model's outcome shows in the run, a skip as a skipped task with its
    reason. Raises AirflowSkipException when no model trains (the whole run shows as skipped)."""
    from airflow.sdk.exceptions import AirflowSkipException

    skipped = planned["skipped"]
    if not planned["plans"]:
        raise AirflowSkipException(
            "nothing to retrain: " + "; ".join(f"{m}: {info['reason']}" for m, info in skipped.items())
        )
    return [*planned["plans"], *({"model": m, "skip": info["reason"]} for m, info in skipped.items())]


def skip_if_skipped(plan: dict[str, Any]) -> None:
    """A skipped model's mapped tasks skip with its reason (visible in the grid and the task log)."""
    if plan.get("skip"):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"{plan['model']}: {plan['skip']}")


def run_type_name(run_type: object) -> str | None:
    """`scheduled`, `asset_triggered`, `manual`, `backfill`: the Task SDK hands tasks an enum whose str() is
    `DagRunType.SCHEDULED`, the scheduler's side a str enum; both mean the same run type."""
    if run_type is None:
        return None
    value = getattr(run_type, "value", run_type)
    return str(value).rsplit(".", 1)[-1].lower()


def under_drift(model: str) -> bool:
    """The latest watched window of `model` fires the drift rule (the champion still sees the drift)."""
    from evergreen.monitoring import reports

    rows = reports(model)
    return bool(rows) and bool(max(rows, key=lambda r: str(r["window_day"]))["fires"])


def _airflow_run_of(mlflow_run_id: str) -> str:
    """The Airflow run that trained an MLflow run (the ledger speaks in Airflow runs)."""
    from evergreen.registry.store import connect

    tags = connect().get_run(mlflow_run_id).data.tags
    return tags.get("evergreen.airflow.run_id") or f"mlflow:{mlflow_run_id}"


def settle(planned: dict[str, Any], run_id: str, outcome: str) -> dict[str, Any]:
    """End of a model's retraining in a run: success settles its events, failure gives them back."""
    from evergreen.events import ledger

    skip_if_skipped(planned)
    key = ledger_key(run_id, planned["model"])
    if outcome != "success":
        from airflow.sdk.exceptions import AirflowFailException

        released = ledger.release(planned["model"], key, f"retraining {outcome}") if not planned.get("error") else []
        # The run must not end `success` when a model's training failed (its other models' results stand);
        # the failure is already told by the failed task, so this one fails at once, without retries.
        raise AirflowFailException(
            f"{planned['model']}: retraining {outcome} (see its train/challenge task); "
            f"{len(released)} drift event(s) given back to the ledger for the next run"
        )
    out = ledger.settle(planned["model"], key, planned["as_of"])
    return {
        "model": planned["model"],
        "covered": out["covered"],
        "still_pending": [e["event_id"] for e in out["pending"]],
    }


def cooldown_run(plan: dict[str, Any]) -> str | None:
    """A run that already trained on this day's data within the spec's cooldown (None: go ahead).

    The cooldown holds automatic triggers only (the 03:00 tick, watched gold, drift events), so one day's
    data never trains twice by itself; a person who triggers a run (the form, the API) gets a training."""
    from evergreen.registry.history import trained_recently

    if plan["force_promote"] or plan["triggered_by"].get("run_type") not in AUTOMATIC_RUN_TYPES:
        return None
    return trained_recently(plan["model"], plan["as_of"], load_spec(plan["model"]).retraining.cooldown_hours)


def train_challenger(plan: dict[str, Any]) -> dict[str, Any]:
    """Train on the planned split and register the challenger; returns its model reference."""
    from evergreen.orchestration.score_and_watch import REFERENCE_ARTIFACT, reference_profile
    from evergreen.registry.mlflow_log import log_training
    from evergreen.training import load_training_data
    from evergreen.training.train import train

    skip_if_skipped(plan)
    if plan.get("error"):
        from airflow.sdk.exceptions import AirflowFailException

        # Planning already failed for this model (its spec, its data): retrying would fail the same way.
        raise AirflowFailException(f"{plan['model']}: {plan['error']}")
    spec = load_spec(plan["model"])
    data = load_training_data(spec, as_of=plan["as_of"], window_days=plan["window_days"])
    caller = plan["triggered_by"]
    # Plots only need to live until MLflow has copied them into the run's artifacts.
    with tempfile.TemporaryDirectory(prefix="evergreen-plots-") as plots:
        result = train(
            spec,
            data,
            params_override=plan["params_override"] or None,
            search_budget=plan["search_budget"],
            plots_dir=plots,
        )
        # The drift reference travels with the model version: score_and_watch compares each day against
        # the data this very model was trained on.
        reference = Path(plots) / "reference.bin"
        reference.write_bytes(reference_profile(spec, data, result.scorer))
        ref = log_training(
            result,
            data,
            spec,
            extra_artifacts={REFERENCE_ARTIFACT: reference},
            lineage_tags={
                "airflow_dag_id": caller.get("dag_id"),
                "airflow_run_id": caller.get("run_id"),
                "drift_event_ids": ",".join(plan.get("drift_events") or []) or "none",
            },
        )
    from evergreen.common.values import clean_json

    # XCom is JSON: a metric that is NaN on a degenerate holdout (a weak challenger) is null, not a failure.
    return clean_json({**ref.to_dict(), "holdout_metrics": result.metrics["holdout"]})


def challenge(plan: dict[str, Any], challenger: dict[str, Any]) -> dict[str, Any]:
    """Judge the challenger against the champion on the same holdout; the policy (or a named person) decides."""
    from evergreen.registry.mlflow_log import ModelRef
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.training import load_training_data

    spec = load_spec(plan["model"])
    data = load_training_data(spec, as_of=plan["as_of"], window_days=plan["window_days"])
    ref = ModelRef(run_id=challenger["run_id"], version=challenger["version"], name=challenger["name"])
    decision = challenge_and_promote(
        spec,
        ref,
        data.holdout,
        force=plan["force_promote"],
        actor=plan["actor"],
        triggered_by=plan["triggered_by"],
    )
    from evergreen.orchestration import notify

    notify.promotion(decision.to_dict())
    from evergreen.common.values import clean_json

    return clean_json(decision.to_dict())


def rollback(
    params: dict[str, Any],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    triggering_user: str | None = None,
) -> dict[str, Any]:
    """The rollback_model task: `requested_by` is the actor; the Airflow run (and the user Airflow says
    triggered it, e.g. from the Evergreen page) go into the audit row's `triggered_by`."""
    from evergreen.registry.rollback import rollback as move_back

    requested_by = (params.get("requested_by") or "").strip()
    if not requested_by:
        raise RetrainRefusedError("a rollback needs requested_by: the audit trail records who did it")
    decision = move_back(
        params["model"],
        to_version=str(params["to_version"]) if params.get("to_version") else None,
        reason=params["reason"],
        actor=requested_by,
        triggered_by={"dag_id": dag_id, "run_id": run_id, "triggering_user": triggering_user},
    )
    from evergreen.orchestration import notify

    notify.promotion(decision.to_dict())
    from evergreen.common.values import clean_json

    return clean_json(decision.to_dict())
