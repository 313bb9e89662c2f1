"""Which models a score_and_watch run covers, and which days each scores, from the gold events that started
it: each model follows its own source table (gold/features, gold/disputes, ...)."""

from __future__ import annotations

import pytest
import yaml

from evergreen import config
from evergreen.contracts.model_spec import SPECS_DIR
from evergreen.orchestration.score_and_watch import event_table, models_to_watch, resolve_days


@pytest.fixture
def two_tables(tmp_path, monkeypatch):
    """fraud on gold/features (built in) and `other` on a second gold table, in an added folder."""
    from evergreen.contracts.data_contract import GOLD_TABLES

    table = next((t for t in GOLD_TABLES if t != "features"), None)
    if table is None:
        pytest.skip("one gold table in the contract")
    spec = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())
    spec["name"] = "other"
    spec["source"]["table"] = table
    names = {c.name for c in GOLD_TABLES[table]}
    label = next(c.name for c in GOLD_TABLES[table] if c.name.startswith("is_") and c.name != "is_fraud")
    label_time = next(c.name for c in GOLD_TABLES[table] if c.name.endswith("label_time"))
    spec["label"].update(column=label, time=label_time)
    assert set(spec["features"]["numeric"]) <= names
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.setenv("EVERGREEN_SPECS_DIRS", str(tmp_path))
    config.reload()
    yield table
    monkeypatch.delenv("EVERGREEN_SPECS_DIRS")
    config.reload()


def _event(table, *days):
    return {"asset": f"evergreen://gold/{table}", "extra": {"table": table, "days": list(days)}}


def test_a_gold_event_names_its_table():
    assert event_table(_event("features", "2026-01-02")) == "features"
    assert event_table({"asset": "evergreen://gold/disputes", "extra": {}}) == "disputes"
    assert event_table({"asset": "evergreen://events/drift", "extra": {}}) is None


def test_each_model_follows_its_own_source_table(two_tables):
    features, other = _event("features", "2026-01-02"), _event(two_tables, "2026-01-01")
    assert models_to_watch({}, [features]) == ["fraud"]
    assert models_to_watch({}, [other]) == ["other"]
    assert models_to_watch({}, [features, other]) == ["fraud", "other"]
    assert models_to_watch({}, []) == ["fraud", "other"]  # a person with an empty form: every model
    assert models_to_watch({"model": "other"}, [features]) == ["other"]
    # each scores exactly the days its own table was written for
    assert resolve_days({}, "fraud", [features, other]) == ["2026-01-02"]
    assert resolve_days({}, "other", [features, other]) == ["2026-01-01"]
