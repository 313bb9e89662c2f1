"""Spec copies for the running-stack tests: the shipped specs, narrowed to what a test is about.

At a test's 3,000-5,000 rows a day, drift measures a production lake would never see breach do (Hellinger on
a 2% category, a champion's in-sample score distribution), and each new champion opens its own episode; a test
whose subject is "this scenario fires this model's event" watches only what the scenario moves.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def narrowed(spec: dict, *, watch: set[str] = frozenset(), performance: bool = False) -> dict:
    """`spec` watching only the features in `watch`, never its prediction distribution, and its recall on
    known labels only if `performance`."""
    names = [*spec["features"]["numeric"], *spec["features"]["categorical"]]
    spec["drift"]["exclude"] = sorted(set(names) - set(watch))
    spec["drift"]["prediction_threshold"] = 1.01  # Hellinger is at most 1: prediction drift never breaches
    if not performance:
        spec["drift"]["performance"]["min_positives"] = 1_000_000
    return spec


def write_spec(folder: Path, spec: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
