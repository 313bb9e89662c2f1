"""Challenge and promote: the challenger and the current champion, both loaded from the registry, are
scored on the same holdout in the same call; the policy decides; the audit row and the aliases move together.

Order of effects, so that a failure at any point never leaves `champion` on an unjudged model:
1. checks (holdout usable, challenger version exists and is not already champion) — nothing moved yet;
2. alias `challenger` -> the new version;
3. both models evaluated through the pyfunc that scoring uses (`models:/<name>/<version>`);
4. the policy decides;
5. one transaction: the audit row is inserted, then (on promote) `previous_champion` -> the replaced version
   and `champion` -> the challenger; an alias error rolls the audit row back;
6. the decision is tagged onto the challenger version.
A rejected challenger keeps its `challenger` alias and `champion` does not move.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from evergreen.contracts.model_spec import ModelSpec
from evergreen.registry import audit, store
from evergreen.registry.mlflow_log import ModelRef, load_version
from evergreen.registry.model_input import conform, signature_types
from evergreen.registry.policy import FORCE_PROMOTE, POLICY_ACTOR, PROMOTE, Decision, decide

log = logging.getLogger(__name__)

# MLflow version tags written with every decision about a version.
TAG_DECISION = "evergreen.decision"
TAG_REASON = "evergreen.reason"
TAG_ACTOR = "evergreen.actor"
TAG_DECIDED_AT = "evergreen.decided_at"


def _evaluate(predict_fn: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame, spec: ModelSpec) -> dict:
    """`evergreen.training.evaluate`, imported on use (training is another room's code)."""
    from evergreen.training import evaluate

    return evaluate(predict_fn, frame, spec)


def predict_fn(model: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    """Scores a frame with a pyfunc model, passing only the columns of that model's own signature (a
    champion trained under an older spec may read other features than the challenger)."""
    types = signature_types(model)
    columns = list(types) or None

    def predict(frame: pd.DataFrame) -> np.ndarray:
        # The holdout's pandas types depend on its nulls; the model takes its signature's (model_input).
        scores = model.predict(conform(frame[columns], types, what="holdout") if columns else frame)
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    return predict


def evaluate_version(spec: ModelSpec, version: str, holdout: pd.DataFrame) -> dict[str, Any]:
    """Metrics of one registered version on `holdout`, loaded from the registry as scoring loads it."""
    return _evaluate(predict_fn(load_version(spec.name, version)), holdout, spec)


def _check_holdout(holdout: pd.DataFrame, spec: ModelSpec) -> None:
    if holdout is None or len(holdout) == 0:
        raise ValueError(f"{spec.name}: the holdout is empty; nothing to judge the challenger on")
    label = spec.label.column
    if label not in holdout.columns:
        raise ValueError(f"{spec.name}: the holdout has no label column {label!r}")
    if holdout[label].nunique(dropna=True) < 2:
        raise ValueError(f"{spec.name}: the holdout's {label!r} has a single class; PR-AUC is undefined")


def challenge_and_promote(
    spec: ModelSpec,
    challenger: ModelRef,
    holdout_df: pd.DataFrame,
    *,
    force: bool = False,
    actor: str = POLICY_ACTOR,
    triggered_by: dict[str, Any] | None = None,
) -> Decision:
    """Judge `challenger` against the current champion on `holdout_df`; promote it if the policy (or a
    named person, with `force`) says so. Returns the decision with both models' metrics and the audit id."""
    name = spec.name
    if challenger.name != name:
        raise ValueError(f"challenger {challenger.name!r} version {challenger.version} is not a {name!r} model")
    if force and (not actor or actor == POLICY_ACTOR):
        raise ValueError("force_promote needs a named actor (the person who forces it), not 'policy'")
    _check_holdout(holdout_df, spec)
    client = store.connect()
    if store.version(client, name, challenger.version) is None:
        raise LookupError(f"model {name!r} has no version {challenger.version} in the registry")
    champion_version = store.aliases(client, name).get(store.CHAMPION)
    if champion_version == challenger.version:
        raise ValueError(f"{name} version {challenger.version} is already the champion; nothing to challenge")

    client.set_registered_model_alias(name, store.CHALLENGER, challenger.version)
    challenger_metrics = evaluate_version(spec, challenger.version, holdout_df)
    champion_metrics = evaluate_version(spec, champion_version, holdout_df) if champion_version else None
    verdict = decide(challenger_metrics, champion_metrics, spec, force=force, actor=actor)

    decided_at = audit.now_utc()
    values = audit.row(
        decided_at=decided_at,
        model=name,
        challenger_version=challenger.version,
        champion_version=champion_version,
        challenger_metrics=challenger_metrics,
        champion_metrics=champion_metrics,
        decision=verdict.decision,
        reason=verdict.reason,
        actor=actor,
        triggered_by=triggered_by,
        run_id=challenger.run_id,
    )
    with audit.engine().begin() as conn:
        audit.insert(conn, values)
        if verdict.promote:
            # Someone else moved the champion while we were judging: our comparison is void.
            now = store.aliases(client, name).get(store.CHAMPION)
            if now != champion_version:
                raise RuntimeError(
                    f"{name}: champion moved from {champion_version} to {now} during the challenge; nothing changed"
                )
            if champion_version:
                client.set_registered_model_alias(name, store.PREVIOUS_CHAMPION, champion_version)
            client.set_registered_model_alias(name, store.CHAMPION, challenger.version)
    tag_decision(client, name, challenger.version, verdict.decision, verdict.reason, actor, audit.iso(decided_at))
    log.info("%s v%s: %s (%s)", name, challenger.version, verdict.decision, verdict.reason)
    return dataclasses.replace(
        verdict,
        model=name,
        challenger_version=challenger.version,
        champion_version=champion_version,
        challenger_metrics=challenger_metrics,
        champion_metrics=champion_metrics,
        decided_at=audit.iso(decided_at),
        audit_id=values["id"],
        run_id=challenger.run_id,
    )


def tag_decision(client, name: str, version: str, decision: str, reason: str, actor: str, decided_at: str) -> None:
    for key, value in (
        (TAG_DECISION, decision),
        (TAG_REASON, reason),
        (TAG_ACTOR, actor),
        (TAG_DECIDED_AT, decided_at),
    ):
        client.set_model_version_tag(name, version, key, value)


def champion_info(model: str) -> dict[str, Any]:
    """The champion's version, run, metrics (the training run's and the ones it was judged on) and
    aliases; raises LookupError when there is no champion."""
    client = store.connect()
    current = store.aliases(client, model)
    version = current.get(store.CHAMPION)
    if version is None:
        raise LookupError(f"model {model!r} has no champion yet")
    mv = client.get_model_version(model, version)
    run_metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
    rows = [r for r in audit.history(model) if r["challenger_version"] == version]
    judged = next((r for r in rows if r["decision"] in (PROMOTE, FORCE_PROMOTE)), None)
    latest = rows[0] if rows else None
    return {
        "model": model,
        "version": version,
        "run_id": mv.run_id,
        "aliases": dict(sorted(current.items())),
        "metrics": dict(sorted(run_metrics.items())),  # the training run's validation_* / holdout_*
        "promoted": _summary(judged, with_metrics=True),  # the decision that made it champion on merit
        "latest_decision": _summary(latest, with_metrics=False),  # e.g. a later rollback back to it
        "tags": dict(sorted(mv.tags.items())),
    }


def _summary(row: dict[str, Any] | None, *, with_metrics: bool) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {k: row[k] for k in ("decided_at", "decision", "reason", "actor", "champion_version")}
    if with_metrics:
        out["holdout_metrics"] = row["challenger_metrics"]
        out["replaced_champion_metrics"] = row["champion_metrics"]
    return out
