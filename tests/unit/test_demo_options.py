"""The demo refuses, before it starts, options its story cannot run to the end with (the spec's windows)."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from evergreen.cli import main
from evergreen.contracts.model_spec import load_spec
from evergreen.devtools.demo_options import DemoOptionsError, check_demo_options, earliest_drift_day

SEED_11 = {"days": 30, "rows_per_day": 20_000, "seed": 11, "bad_scenario": "null_burst", "bad_day": 8}


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{**SEED_11, "drift_scenario": "new_merchant_category", "drift_day": 16, **kw})


def test_the_issues_seed_11_options_pass():
    check_demo_options(_args(), load_spec("fraud"))


def test_a_drift_day_too_early_for_a_first_champion_is_refused_with_the_reason():
    with pytest.raises(DemoOptionsError) as refused:
        check_demo_options(_args(drift_day=12), load_spec("fraud"), start=dt.date(2026, 1, 1))
    message = str(refused.value)
    assert "\n" not in message
    assert "--drift-day 12 is too early for a first champion" in message
    assert "as of day 10 (2026-01-10)" in message
    assert "3 event day(s) have matured (7 days for labels)" in message
    assert "needs 5 (2 holdout + 2 validation + 1 training)" in message
    assert message.endswith("use --drift-day 14 or later")


def test_a_bad_day_that_is_quarantined_whole_does_not_count_as_mature():
    spec = load_spec("fraud")
    # day 3's files all break (schema_break): 5 mature days by day 12 minus the lost one
    with pytest.raises(DemoOptionsError, match="day 3 \\(schema_break\\) is quarantined whole"):
        check_demo_options(_args(drift_day=14, bad_day=3, bad_scenario="schema_break"), spec)
    assert earliest_drift_day(_args(bad_day=3, bad_scenario="schema_break"), spec) == 15
    # a duplicate flood only makes its day partial: the day still counts
    check_demo_options(_args(drift_day=14, bad_day=3, bad_scenario="duplicate_flood"), spec)


def test_the_windows_come_from_the_spec():
    spec = load_spec("fraud")
    slower = spec.model_copy(update={"label": spec.label.model_copy(update={"mature_after_days": 10})})
    check_demo_options(_args(drift_day=14), spec)
    with pytest.raises(DemoOptionsError, match="10 days for labels"):
        check_demo_options(_args(drift_day=14), slower)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"bad_day": 31}, "--bad-day must be within the 30 days"),
        ({"bad_scenario": "price_inflation"}, "--bad-scenario must be a bad-data scenario"),
        ({"drift_day": 2}, "--drift-day must be at least 3"),
        ({"days": 1}, "--days must be at least 2"),
    ],
)
def test_impossible_options_are_named(options, words):
    with pytest.raises(DemoOptionsError, match=words):
        check_demo_options(_args(**options), load_spec("fraud"))


def test_the_demo_command_refuses_before_doing_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit, match="too early for a first champion"):
        main(["demo", "--seed", "11", "--drift-scenario", "new_merchant_category", "--drift-day", "12",
              "--bad-scenario", "null_burst", "--bad-day", "8"])  # fmt: skip
    assert not (tmp_path / "home").exists()  # nothing generated, nothing started
