"""MLflow registry access: training runs, registered versions, aliases, the promotion policy, the audit
trail and rollback. The only room that imports mlflow.

Aliases carry the state: `champion` (what scores), `challenger` (the latest version judged) and
`previous_champion` (where a rollback goes by default). Models are only ever loaded from the registry.

`evergreen.registry.policy` is pure and imports no MLflow; everything else here loads mlflow (about 2 s)
on first use, so a DAG file can import this package at parse time for free. (`rollback` is both a
module and its function: import it as `from evergreen.registry.rollback import rollback`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evergreen.registry.policy import FORCE_PROMOTE, PROMOTE, REJECT, ROLLBACK, Decision, decide

if TYPE_CHECKING:
    from evergreen.registry.mlflow_log import ModelRef, load_champion, log_training
    from evergreen.registry.promotion import challenge_and_promote, champion_info
    from evergreen.registry.rollback import RollbackError

__all__ = [
    "FORCE_PROMOTE",
    "PROMOTE",
    "REJECT",
    "ROLLBACK",
    "Decision",
    "ModelRef",
    "RollbackError",
    "challenge_and_promote",
    "champion_info",
    "decide",
    "load_champion",
    "log_training",
]

_LAZY = {
    "ModelRef": "mlflow_log",
    "load_champion": "mlflow_log",
    "log_training": "mlflow_log",
    "challenge_and_promote": "promotion",
    "champion_info": "promotion",
    "RollbackError": "rollback",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"evergreen.registry.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
