"""Synthetic e-commerce fraud source: transactions landing per day, late labels, source tables.

    from evergreen.devtools.datagen import generate, Scenario, SCENARIOS
    generate(date(2026, 1, 1), days=14, rows_per_day=20_000,
             scenarios=[Scenario("fraud_pattern_shift", date(2026, 1, 10))])

See docs/datagen.md for the columns, the hidden fraud rule, label delays, dirt and scenarios.
"""

from evergreen.devtools.datagen.generate import MANIFEST_FILE, generate
from evergreen.devtools.datagen.scenarios import (
    BAD_DATA,
    BAD_DATA_SCENARIOS,
    DRIFT,
    DRIFT_SCENARIOS,
    SCENARIO_KIND,
    SCENARIOS,
    Scenario,
)

__all__ = [
    "BAD_DATA",
    "BAD_DATA_SCENARIOS",
    "DRIFT",
    "DRIFT_SCENARIOS",
    "MANIFEST_FILE",
    "SCENARIOS",
    "SCENARIO_KIND",
    "Scenario",
    "generate",
]
