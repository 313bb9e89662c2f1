"""The steps the `drift_event_sweep` DAG runs: find drift events no run has taken, start a run for each model.

Airflow can drop an asset event while a run is active (apache/airflow#56050), and an event that arrives
while a run trains on older data waits for a follow-up that nothing starts. The ledger keeps such events
pending; the sweep hands them to a `retrain` run within minutes instead of at the next drift event or the
03:00 tick.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)


def stale_runs(older_than_s: float | None = None, *, active_retrains: int = 0) -> list[dict[str, Any]]:
    """One `retrain` run per model with drift events pending longer than the bound (the setting
    `drift_rearm_after_s`): its conf names the model; its run id names the oldest event, so a later sweep
    that finds the same events pending does not start a second run for them (the operator skips a run id
    that exists). Raises AirflowSkipException when nothing is stale, or when a `retrain` run is queued or
    running (`active_retrains`: it claims the pending events, or its settle leaves them for the next sweep):
    the sweep shows as skipped, with why."""
    from airflow.sdk.exceptions import AirflowSkipException

    from evergreen.config import settings
    from evergreen.events import ledger

    bound = settings().drift_rearm_after_s if older_than_s is None else older_than_s
    stale = ledger.stale(bound)
    if not stale:
        raise AirflowSkipException(f"no drift event pending for longer than {bound:.0f} s")
    if active_retrains:
        raise AirflowSkipException(
            f"{sum(map(len, stale.values()))} drift event(s) pending for over {bound:.0f} s, but {active_retrains} "
            "retrain run(s) queued or running will take them first"
        )
    runs = []
    for model, event_ids in stale.items():
        log.warning(
            "%s: %d drift event(s) pending for over %.0f s with no run to take them (%s): starting retrain",
            model,
            len(event_ids),
            bound,
            ", ".join(event_ids),
        )
        run_id = re.sub(r"[^A-Za-z0-9_.:-]", "-", f"sweep__{model}__{event_ids[0]}")[:250]
        runs.append({"trigger_run_id": run_id, "conf": {"model": model}})
    return runs
