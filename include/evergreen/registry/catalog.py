"""Read-only views of the registry for people: which version holds each alias, and what it is.

The Airflow UI's Evergreen page reads these; nothing here writes. A version's card carries what its training
run logged (metrics), its lineage tags (data as-of, the Airflow run that trained it) and the last decision
tagged onto it, so a reader needs neither the MLflow UI nor the audit table to know where it came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlflow import MlflowClient

from evergreen.registry import store
from evergreen.registry.mlflow_log import TAG_AS_OF, TAG_DAG_ID, TAG_DAG_RUN_ID, TAG_GIT_COMMIT, TAG_SPEC_HASH
from evergreen.registry.promotion import TAG_ACTOR, TAG_DECIDED_AT, TAG_DECISION, TAG_REASON

# The aliases a person asks about, in the order a page shows them.
ALIASES = (store.CHAMPION, store.CHALLENGER, store.PREVIOUS_CHAMPION)
DRIFT_EVENTS_TAG = "evergreen.drift_event_ids"


def _tag(tags: dict[str, str], key: str) -> str | None:
    """A lineage tag, None when absent or recorded as "none" (trained outside Airflow)."""
    value = tags.get(key)
    return None if value in (None, "", "none", "unknown") else value


def _iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def version_card(client: MlflowClient, model: str, version: str) -> dict[str, Any] | None:
    """One registered version: run, experiment, metrics, data as-of, when, the Airflow run, last decision."""
    mv = store.version(client, model, version)
    if mv is None:
        return None
    tags = dict(mv.tags or {})
    run = client.get_run(mv.run_id) if mv.run_id else None
    run_tags = dict(run.data.tags) if run else {}
    drift_events = _tag(run_tags, DRIFT_EVENTS_TAG)
    return {
        "model": model,
        "version": str(mv.version),
        "run_id": mv.run_id,
        "experiment_id": run.info.experiment_id if run else None,
        "created_at": _iso_ms(mv.creation_timestamp),
        "metrics": dict(sorted(run.data.metrics.items())) if run else {},
        "data_as_of": _tag(tags, TAG_AS_OF) or _tag(run_tags, TAG_AS_OF),
        "airflow_dag_id": _tag(tags, TAG_DAG_ID) or _tag(run_tags, TAG_DAG_ID),
        "airflow_run_id": _tag(tags, TAG_DAG_RUN_ID) or _tag(run_tags, TAG_DAG_RUN_ID),
        "git_commit": _tag(tags, TAG_GIT_COMMIT),
        "spec_hash": _tag(tags, TAG_SPEC_HASH),
        "drift_events": drift_events.split(",") if drift_events else [],
        "decision": {
            "decision": tags.get(TAG_DECISION),
            "reason": tags.get(TAG_REASON),
            "actor": tags.get(TAG_ACTOR),
            "decided_at": tags.get(TAG_DECIDED_AT),
        }
        if tags.get(TAG_DECISION)
        else None,
    }


def aliased_versions(model: str) -> dict[str, dict[str, Any] | None]:
    """alias -> version card (None when the alias is not set), for champion, challenger, previous champion."""
    client = store.connect()
    current = store.aliases(client, model)
    cards: dict[str, dict[str, Any] | None] = {}
    for alias in ALIASES:
        version = current.get(alias)
        cards[alias] = version_card(client, model, version) if version else None
    return cards


def registered_versions(model: str) -> list[str]:
    """Every version number of the model, ascending (empty if it is not registered)."""
    return store.versions(store.connect(), model)
