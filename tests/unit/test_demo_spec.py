"""The demo's spec copy differs from the shipped one only in the drift rule's young-lake exclusions."""

from __future__ import annotations

import yaml

from evergreen.contracts.model_spec import SPECS_DIR, ModelSpec
from evergreen.devtools.demo import demo_specs
from evergreen.pipeline.transforms.features import HISTORY_FEATURES


def test_the_demo_spec_only_stops_watching_history_features(tmp_path):
    shipped = ModelSpec.model_validate(yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text()))
    demo = ModelSpec.model_validate(yaml.safe_load((demo_specs(tmp_path) / "fraud.yaml").read_text()))
    assert set(demo.drift.exclude) == set(shipped.drift.exclude) | set(HISTORY_FEATURES)
    assert demo.model_dump(exclude={"drift"}) == shipped.model_dump(exclude={"drift"})
    assert demo.drift.model_dump(exclude={"exclude"}) == shipped.drift.model_dump(exclude={"exclude"})
    assert set(HISTORY_FEATURES) <= set(shipped.features.numeric)
