"""`evergreen demo`'s options against the model spec's windows, checked before anything starts.

The demo lands `--days` days, trains a first champion as of the day before the drift starts (`--drift-day`),
and scores the drifted days with it. A first champion needs mature, labelled days: event days at least
`label.mature_after_days` before the training day, at least `split.holdout_days + split.validation_days + 1`
of them in gold. A drift day too early for that would run for minutes, report trainings that found too
little data, and stop on a missing champion; it is refused here, up front, with the reason and the
earliest drift day that works.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from evergreen.contracts.model_spec import ModelSpec, load_spec
from evergreen.devtools.datagen import SCENARIO_KIND
from evergreen.devtools.datagen.scenarios import BAD_DATA, DRIFT, NULL_BURST, SCHEMA_BREAK
from evergreen.training.dataset import MIN_TRAIN_DAYS

# Bad-data scenarios that hit every landing file of their day, so the file gate refuses the whole day and
# it never reaches gold (duplicate_flood passes, partial): a day the first training cannot count.
DAY_LOST = frozenset({NULL_BURST, SCHEMA_BREAK})


class DemoOptionsError(SystemExit):
    """The options cannot give the demo's story; the message says why and what would."""


def check_demo_options(args: Any, spec: ModelSpec | None = None, start: dt.date | None = None) -> None:
    """Refuse options the demo cannot run to its end (SystemExit with one line), before it starts."""
    spec = spec or load_spec("fraud")
    problems = _basic_problems(args)
    if problems:
        raise DemoOptionsError("evergreen demo: " + "; ".join(problems))
    first = first_training_day(args)
    mature = mature_days(args, first, spec)
    needed = spec.split.holdout_days + spec.split.validation_days + MIN_TRAIN_DAYS
    if len(mature) >= needed:
        return
    earliest = earliest_drift_day(args, spec)
    when = f" ({start + dt.timedelta(days=first - 1)})" if start else ""
    lost = ""
    if _bad_day_lost(args, first, spec):
        lost = f"; day {args.bad_day} ({args.bad_scenario}) is quarantined whole"
    flag = f"--drift-day {args.drift_day}" if args.drift_scenario else f"--days {args.days}"
    fix = f"use --drift-day {earliest} or later" if args.drift_scenario and earliest else "give it more --days"
    raise DemoOptionsError(
        f"evergreen demo: {flag} is too early for a first champion: the first training runs as of day {first}{when}, "
        f"when {len(mature)} event day(s) have matured ({spec.label.mature_after_days} days for labels{lost}) and "
        f"the spec's split needs {needed} ({spec.split.holdout_days} holdout + {spec.split.validation_days} "
        f"validation + {MIN_TRAIN_DAYS} training); {fix}"
    )


def _basic_problems(args: Any) -> list[str]:
    problems = []
    if args.days < 2:
        problems.append(f"--days must be at least 2, got {args.days}")
    if args.rows_per_day < 1:
        problems.append(f"--rows-per-day must be at least 1, got {args.rows_per_day}")
    if SCENARIO_KIND.get(args.bad_scenario) != BAD_DATA:
        problems.append(f"--bad-scenario must be a bad-data scenario, not {args.bad_scenario!r}")
    if not 1 <= args.bad_day <= args.days:
        problems.append(f"--bad-day must be within the {args.days} days, got {args.bad_day}")
    if args.drift_scenario:
        if SCENARIO_KIND.get(args.drift_scenario) != DRIFT:
            problems.append(f"--drift-scenario must be a drift scenario, not {args.drift_scenario!r}")
        if args.drift_day < 3:
            problems.append(f"--drift-day must be at least 3 (history, a day through Airflow), got {args.drift_day}")
    return problems


def first_training_day(args: Any) -> int:
    """The 1-based day the first training runs as of: the last history day before the Airflow day."""
    normal = min(args.drift_day - 1, args.days) if args.drift_scenario else args.days
    return normal - 1


def mature_days(args: Any, as_of: int, spec: ModelSpec) -> list[int]:
    """1-based event days in gold and mature by day `as_of`."""
    last = as_of - spec.label.mature_after_days
    return [d for d in range(1, last + 1) if not (d == args.bad_day and args.bad_scenario in DAY_LOST)]


def _bad_day_lost(args: Any, as_of: int, spec: ModelSpec) -> bool:
    return args.bad_scenario in DAY_LOST and args.bad_day <= as_of - spec.label.mature_after_days


def earliest_drift_day(args: Any, spec: ModelSpec, limit: int = 400) -> int | None:
    needed = spec.split.holdout_days + spec.split.validation_days + MIN_TRAIN_DAYS
    for drift_day in range(3, limit):
        trial = _Args(**{**vars(args), "drift_day": drift_day, "days": max(args.days, drift_day)})
        if len(mature_days(trial, first_training_day(trial), spec)) >= needed:
            return drift_day
    return None


class _Args:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)
