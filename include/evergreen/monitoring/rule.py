"""The drift rule, pure: which features breach, whether a window breaches, whether the rule fires.

Databricks mlops-stacks style: fire when at least k of the last n windows breach *and* the latest does.
One noisy window never retrains; a drift that persists fires on its k-th window; a drift that has ended
(the latest window is clean) does not fire on old evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evergreen.contracts.model_spec import Drift


def drifted(scores: Mapping[str, float], drift: Drift) -> dict[str, float]:
    """Features whose score exceeds their threshold (excluded features never count)."""
    return {
        name: score for name, score in scores.items() if name not in drift.exclude and score > drift.threshold(name)
    }


def breach_reasons(
    drifted_features: Mapping[str, float], prediction_drift: float | None, performance: Mapping, drift: Drift
) -> list[str]:
    """Why this window breaches (empty: it does not). Each reason is one human-readable line."""
    reasons = [
        f"{name} drift {score:.3f} > {drift.threshold(name):.3f}" for name, score in sorted(drifted_features.items())
    ]
    if prediction_drift is not None and prediction_drift > drift.prediction_threshold:
        reasons.append(f"prediction drift {prediction_drift:.3f} > {drift.prediction_threshold:.3f}")
    if performance.get("breached"):
        reasons.append(
            f"recall decay {performance['recall_decay']:.3f} > {drift.performance.tolerance:.3f} "
            f"({performance['known_frauds']} known frauds)"
        )
    return reasons


def fires(breaches: Sequence[bool], k: int, n: int) -> bool:
    """`breaches` in window order, the latest last: fire when k of the last n breach and the latest does."""
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    recent = list(breaches)[-n:]
    return bool(recent) and bool(recent[-1]) and sum(map(bool, recent)) >= k


def describe(windows: Sequence[tuple[str, bool]], k: int, n: int) -> str:
    """The rule and how it read this time: '2 of the last 3 windows breach and the latest does: ...'."""
    seen = ", ".join(f"{day} {'breach' if hit else 'ok'}" for day, hit in list(windows)[-n:])
    verdict = "fires" if fires([hit for _, hit in windows], k, n) else "does not fire"
    return f"{k} of the last {n} windows breach and the latest does ({seen}): {verdict}"
