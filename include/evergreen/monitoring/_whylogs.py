"""The only module that imports whylogs (only `monitoring` knows whylogs: docs/architecture.md).

whylogs has had no release since 1.6 and its company has shut down, so everything above this module talks
to `DriftDetector` (detector.py) and to profile bytes, never to whylogs objects: swapping in Evidently or
a home-made sketch means replacing this file and `WhylogsHellinger`.
"""

from __future__ import annotations

import os

# whylogs phones home on import unless told not to; set before the first import anywhere in the process.
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")

import numpy as np
import pandas as pd
import whylogs as why
from whylogs.core import DatasetProfileView
from whylogs.core.view.column_profile_view import ColumnProfileView
from whylogs.viz.drift.column_drift_algorithms import Hellinger

__all__ = ["ColumnProfileView", "DatasetProfileView", "hellinger", "merged_profile_bytes", "profile_bytes", "view"]

_HELLINGER = Hellinger()


def profile_bytes(frame: pd.DataFrame) -> bytes:
    """A whylogs profile of `frame`, serialized (the form it is stored and shipped in)."""
    return why.log(pandas=frame).view().serialize()


def merged_profile_bytes(blobs: list[bytes]) -> bytes:
    """Profiles of different row sets merged into one (columns are the union; a shared column adds up)."""
    out = view(blobs[0])
    for blob in blobs[1:]:
        out = out.merge(view(blob))
    return out.serialize()


def view(blob: bytes) -> DatasetProfileView:
    return DatasetProfileView.deserialize(blob)


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """whylogs' own Hellinger distance between two discrete distributions (0 same, 1 disjoint)."""
    return float(_HELLINGER._calculate_hellinger_score(target_pmf=p, reference_pmf=q))
