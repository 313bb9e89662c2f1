"""The spec's categorical vocabularies and the data contract's allowed values are one list, said twice.

The contract (Python) decides what the gates accept; the spec (YAML, so adding a model needs no code) decides
what the encoder knows. A value added to one and not the other would either be quarantined or encoded as
"other" without anyone noticing: this test ties them.
"""

from __future__ import annotations

import pytest

from evergreen.contracts import data_contract
from evergreen.contracts.model_spec import known_models, load_spec
from evergreen.pipeline.transforms.clean import UNKNOWN

# Gold feature -> the contract column it comes from, where the names differ.
GOLD_SOURCE = {"customer_segment": ("customers", "segment")}
TABLES = {
    "transactions": data_contract.TRANSACTION_COLUMNS,
    "customers": data_contract.CUSTOMER_COLUMNS,
}
# Columns without a closed list in the contract (a new one is drift, not a broken row): their known values.
OPEN_LISTS = {"category": data_contract.CATEGORIES}


def _contract_values(feature: str) -> set[str]:
    table, column = GOLD_SOURCE.get(feature, ("transactions", feature))
    if column in OPEN_LISTS:
        return set(OPEN_LISTS[column])
    (col,) = [c for c in TABLES[table] if c.name == column]
    assert col.allowed, f"{table}.{column} has no allowed list in the data contract"
    return set(col.allowed)


@pytest.mark.parametrize("model", known_models())
def test_every_categorical_vocabulary_matches_the_contract(model):
    spec = load_spec(model)
    for feature, vocabulary in spec.features.categorical.items():
        expected = _contract_values(feature)
        got = set(vocabulary) - {UNKNOWN}  # the clean step's fill for a null code
        assert got == expected, f"{model}.yaml features.categorical.{feature}: {sorted(got ^ expected)} differ"


def test_the_new_category_scenario_stays_outside_the_known_list():
    assert data_contract.NEW_CATEGORY not in data_contract.CATEGORIES
