"""Which models a score_and_watch run covers, and which days each scores, from the gold events that started
it: each model follows its own source table (fraud: gold/features, dispute: gold/disputes)."""

from __future__ import annotations

from evergreen.contracts.model_spec import known_models, load_spec
from evergreen.orchestration.score_and_watch import event_table, models_to_watch, resolve_days


def _event(table, *days):
    return {"asset": f"evergreen://gold/{table}", "extra": {"table": table, "days": list(days)}}


def test_a_gold_event_names_its_table():
    assert event_table(_event("features", "2026-01-02")) == "features"
    assert event_table({"asset": "evergreen://gold/disputes", "extra": {}}) == "disputes"
    assert event_table({"asset": "evergreen://events/drift", "extra": {}}) is None


def test_each_model_follows_its_own_source_table():
    assert (load_spec("fraud").source.table, load_spec("dispute").source.table) == ("features", "disputes")
    features, disputes = _event("features", "2026-01-02"), _event("disputes", "2026-01-01")
    assert models_to_watch({}, [features]) == ["fraud"]
    assert models_to_watch({}, [disputes]) == ["dispute"]
    assert models_to_watch({}, [features, disputes]) == ["dispute", "fraud"]
    assert models_to_watch({}, []) == known_models()  # a person with an empty form: every model
    assert models_to_watch({"model": "dispute"}, [features]) == ["dispute"]
    # each scores exactly the days its own table was written for
    assert resolve_days({}, "fraud", [features, disputes]) == ["2026-01-02"]
    assert resolve_days({}, "dispute", [features, disputes]) == ["2026-01-01"]
