"""Named scenarios: what goes wrong (bad data) or changes (drift) from a chosen day on.

A scenario never consumes randomness from the day's base stream, so the same day with and without a
scenario differs only by the scenario's effect; that is what makes each effect measurable in tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DRIFT, BAD_DATA = "drift", "bad_data"

PRICE_INFLATION = "price_inflation"
NEW_MERCHANT_CATEGORY = "new_merchant_category"
FRAUD_PATTERN_SHIFT = "fraud_pattern_shift"
DISPUTE_WAVE = "dispute_wave"
NULL_BURST = "null_burst"
SCHEMA_BREAK = "schema_break"
DUPLICATE_FLOOD = "duplicate_flood"

SCENARIOS: dict[str, str] = {
    PRICE_INFLATION: "drift: amounts jump +40% on the start day, then rise 2% a day; the fraud rule is unchanged",
    NEW_MERCHANT_CATEGORY: "drift: merchants in a new category (crypto_vouchers) onboard and take ~15% of volume",
    FRAUD_PATTERN_SHIFT: "drift (concept): fraud turns into daytime account takeover in everyday categories; "
    "the old signals weaken",
    DISPUTE_WAVE: "drift (concept): long-established electronics and fashion merchants with delivery trouble get "
    "~5x the refund disputes (not_received, raised 2-4 days later) on shipped orders; fraud is unchanged",
    NULL_BURST: "bad data: ~30% of the day's rows lose customer_id and amount",
    SCHEMA_BREAK: "bad data: the day's files rename amount to amount_cents, holding integer cents",
    DUPLICATE_FLOOD: "bad data: ~25% of the day's rows are re-sent as exact duplicates",
}
SCENARIO_KIND: dict[str, str] = {
    PRICE_INFLATION: DRIFT,
    NEW_MERCHANT_CATEGORY: DRIFT,
    FRAUD_PATTERN_SHIFT: DRIFT,
    DISPUTE_WAVE: DRIFT,
    NULL_BURST: BAD_DATA,
    SCHEMA_BREAK: BAD_DATA,
    DUPLICATE_FLOOD: BAD_DATA,
}
DRIFT_SCENARIOS = frozenset(n for n, k in SCENARIO_KIND.items() if k == DRIFT)
BAD_DATA_SCENARIOS = frozenset(n for n, k in SCENARIO_KIND.items() if k == BAD_DATA)


@dataclass(frozen=True)
class Scenario:
    """A named scenario starting on `start`: a date (or ISO string), or a day index from the run's first day.

    `days=None` means: drift lasts to the end of time, bad data lasts one day. Use dates, not indexes,
    when generating incrementally: an index moves with each call's `start`.
    """

    name: str
    start: date | int | str
    days: int | None = None

    def __post_init__(self) -> None:
        if self.name not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.name!r}; known: {', '.join(SCENARIOS)}")
        if self.days is not None and self.days < 1:
            raise ValueError(f"scenario {self.name!r}: days must be >= 1, got {self.days}")

    @property
    def kind(self) -> str:
        return SCENARIO_KIND[self.name]


@dataclass(frozen=True)
class ScenarioWindow:
    """A scenario pinned to calendar days: active on first <= day < end (end None: open-ended)."""

    name: str
    first: date
    end: date | None

    def active_on(self, day: date) -> bool:
        return self.first <= day and (self.end is None or day < self.end)

    def days_since_start(self, day: date) -> int:
        return (day - self.first).days

    def to_json(self) -> dict:
        last = None if self.end is None else (self.end - timedelta(days=1)).isoformat()
        return {"name": self.name, "kind": SCENARIO_KIND[self.name], "first": self.first.isoformat(), "last": last}


ScenariosArg = Mapping[str, "date | int | str"] | Iterable["Scenario | tuple"]


def resolve(scenarios: ScenariosArg, run_start: date) -> tuple[ScenarioWindow, ...]:
    """Accept {name: start}, [Scenario(...)] or [(name, start[, days])] and pin each to calendar days."""
    if isinstance(scenarios, Mapping):
        items = [Scenario(name, start) for name, start in scenarios.items()]
    else:
        items = [s if isinstance(s, Scenario) else Scenario(*s) for s in scenarios]
    windows = []
    for s in items:
        first = run_start + timedelta(days=s.start) if isinstance(s.start, int) else _as_date(s.start)
        days = s.days if s.days is not None else (1 if s.kind == BAD_DATA else None)
        windows.append(ScenarioWindow(s.name, first, None if days is None else first + timedelta(days=days)))
    names = [w.name for w in windows]
    if len(set(names)) != len(names):
        # One window per name keeps "which rule is in force today" unambiguous.
        raise ValueError(f"each scenario may appear once, got {names}")
    return tuple(sorted(windows, key=lambda w: (w.first, w.name)))


def _as_date(value: date | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    # datetime is a date subclass and would compare unequal to the day's date; keep only the day.
    return value.date() if isinstance(value, datetime) else value
