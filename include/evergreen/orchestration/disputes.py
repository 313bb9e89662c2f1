"""What the `ingest_disputes` DAG's Python tasks run: which days, what landed, the gates. Glue only: the work is
the two Spark steps in evergreen.pipeline (`disputes`, `disputes_gold`).
"""

from __future__ import annotations

import logging
from typing import Any

from evergreen.common.days import days_between, iso_day

FEED = "disputes"
log = logging.getLogger("evergreen.disputes")


class NoGoldFeaturesError(LookupError):
    """A day with no gold/features: disputes have no rows to be joined to (ingest_daily has to run first)."""


def resolve_days(params: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """The run's days, oldest first: the form's `date`; else the days the triggering gold/features events
    wrote (`extra.days`); else (a manual run with an empty form) the newest gold/features day. Each must have
    gold/features: that is what the disputes are joined to."""
    from evergreen.orchestration.dagkit import event_days
    from evergreen.storage.inventory import partition_counts

    built = partition_counts("gold", "features", "event_date")
    if params.get("date"):
        days = [iso_day(params["date"], "date")]
    else:
        days = event_days(events) or ([max(built)] if built else [])
    if not days:
        raise NoGoldFeaturesError("no gold/features yet: run ingest_daily first")
    missing = [d for d in days if d not in built]
    if missing:
        raise NoGoldFeaturesError(
            f"no gold/features for {', '.join(missing)}: run ingest_daily for it first "
            "(disputes are joined to its rows)"
        )
    return days


def log_landed(days: list[str]) -> dict[str, list[str] | None]:
    """Say in the task log what landed for each raise day the Spark steps will read (every day from the first
    to the last run day): a day without dispute files is a success with nothing new, disputes being sparse."""
    from evergreen.orchestration.dagkit import landed_files

    out: dict[str, list[str] | None] = {}
    for day in days_between(days[0], days[-1]):
        drop, files = landed_files(day, feed=FEED)
        out[day] = files
        if files is None:
            log.info("%s: dispute files under %s are checked by the Spark job", day, drop)
        elif not files:
            log.info("%s: no dispute files under %s: nothing new (a success; disputes are sparse)", day, drop)
        else:
            log.info("%s: %d dispute file(s) under %s: %s", day, len(files), drop, ", ".join(files))
    return out


def check_gates(days: list[str]) -> dict[str, dict]:
    """The `disputes` step's gate of every raise day it read; the run stops on a failed one (every file of the
    day refused), with its one-line reason. Partial (a file refused whole, the rest went on) is a warning."""
    from evergreen.orchestration.dagkit import GateFailedError, check_gate

    out, failed = {}, []
    for day in days_between(days[0], days[-1]):
        try:
            out[day] = check_gate(day, FEED)
        except GateFailedError as e:
            failed.append(str(e))
    if failed:
        raise GateFailedError("; ".join(failed))
    return out
