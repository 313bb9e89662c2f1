"""The page's only action: trigger the `rollback_model` DAG. The DAG, not the page, moves the alias and audits.

The run is created in-process through `airflow.api.common.trigger_dag` (what Airflow's trigger endpoint does),
so the DAG's Params validate the conf and the run records who triggered it (`triggering_user_name`).
"""

from __future__ import annotations

from typing import Any

ROLLBACK_DAG = "rollback_model"


class RollbackNotStartedError(RuntimeError):
    """No run was created; `status_code` says whose problem it is."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def trigger_rollback(conf: dict[str, Any], user_name: str) -> dict[str, Any]:
    """Queue one `rollback_model` run with `conf`; returns its run id and conf."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.utils.types import DagRunTriggeredByType

    try:
        run = trigger_dag(
            ROLLBACK_DAG,
            triggered_by=DagRunTriggeredByType.UI,
            triggering_user_name=user_name,
            conf=conf,
        )
    except DagNotFound as err:
        raise RollbackNotStartedError(
            f"{ROLLBACK_DAG} is not known to Airflow (not parsed yet?): {err}; nothing changed", 503
        ) from err
    except ValueError as err:  # ParamValidationError is one: the DAG's Params refused the conf
        raise RollbackNotStartedError(f"{ROLLBACK_DAG} refused the request: {err}; nothing changed", 400) from err
    if run is None:
        raise RollbackNotStartedError(f"{ROLLBACK_DAG} created no run; nothing changed", 500)
    return {"run_id": run.run_id, "conf": dict(run.conf or {})}
