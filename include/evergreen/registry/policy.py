"""The promotion policy: does a challenger replace the champion? Pure: no MLflow, no I/O.

Thresholds come from the model spec (`metric` and `policy`), so changing the policy is a reviewed change to
a YAML file, not to code. The rules, in order:

1. A metric that is missing or not a number (either model, primary or guard) rejects: a model is never
   promoted on a number nobody could compute.
2. No champion yet: the challenger is promoted only if its primary metric reaches `policy.min_pr_auc`.
3. Otherwise the challenger must beat the champion's primary metric by at least `policy.min_gain`
   (a tie, gain < min_gain, keeps the champion; an exact tie never promotes, even with min_gain 0), and
   no guard may regress beyond its tolerance: `tolerance` is an absolute amount, `tolerance_ratio` a
   factor (for timings: the challenger may take at most ratio x the champion's time); `lower_is_better`
   gives the direction. A guard with neither tolerance may not regress at all.
4. `force` promotes whatever the rules say; the reason says it was forced, by whom, and what the
   policy alone would have decided.

The primary metric is higher-is-better (PR-AUC for fraud).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from evergreen.contracts.model_spec import Guard, ModelSpec

PROMOTE, REJECT, FORCE_PROMOTE, ROLLBACK = "promote", "reject", "force_promote", "rollback"
POLICY_ACTOR = "policy"


@dataclass(frozen=True)
class GuardCheck:
    """One guard metric compared between challenger and champion."""

    metric: str
    challenger: float | None
    champion: float | None
    regression: float | None  # how much worse the challenger is, in the metric's units (>0 = worse)
    limit: str  # the tolerance as words, e.g. "tolerance 0.01" or "ratio 2.0x"
    ok: bool

    def describe(self) -> str:
        return f"{self.metric} {_fmt(self.champion)} -> {_fmt(self.challenger)} ({self.limit})"


@dataclass(frozen=True)
class Decision:
    """What was decided, why (one line with the numbers), and by whom.

    `decision` is PROMOTE, REJECT, FORCE_PROMOTE or ROLLBACK; `promote` is True when `champion` moves.
    The registry fills in versions, metrics, the time and the audit row id once the decision is applied.
    """

    promote: bool
    decision: str
    reason: str
    actor: str
    forced: bool = False
    guards: tuple[GuardCheck, ...] = ()
    model: str | None = None
    challenger_version: str | None = None
    champion_version: str | None = None
    challenger_metrics: dict[str, Any] | None = None
    champion_metrics: dict[str, Any] | None = None
    decided_at: str | None = None
    audit_id: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: Any) -> str:
    if value is None:
        return "missing"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return repr(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def _number(metrics: dict[str, Any] | None, name: str) -> float | None:
    """The metric as a finite float, or None when it is missing or not a finite number."""
    if metrics is None or metrics.get(name) is None:
        return None
    try:
        value = float(metrics[name])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def check_guard(name: str, guard: Guard, challenger: float | None, champion: float | None) -> GuardCheck:
    """Compare one guard. Regression is measured in the bad direction, so > 0 always means worse."""
    limits = []
    if guard.tolerance is not None:
        limits.append(f"tolerance {guard.tolerance:g}")
    if guard.tolerance_ratio is not None:
        limits.append(f"ratio {guard.tolerance_ratio:g}x")
    limit = ", ".join(limits) or "no regression allowed"
    if challenger is None or champion is None:
        return GuardCheck(name, challenger, champion, None, limit, ok=False)
    regression = challenger - champion if guard.lower_is_better else champion - challenger
    ok = True
    if guard.tolerance is not None and regression > guard.tolerance:
        ok = False
    if guard.tolerance_ratio is not None:
        ratio = guard.tolerance_ratio
        # lower is better: at most ratio x the champion; higher is better: at least champion / ratio
        if guard.lower_is_better and challenger > champion * ratio:
            ok = False
        if not guard.lower_is_better and challenger * ratio < champion:
            ok = False
    if guard.tolerance is None and guard.tolerance_ratio is None and regression > 0:
        ok = False
    return GuardCheck(name, challenger, champion, regression, limit, ok)


def decide(
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    spec: ModelSpec,
    *,
    force: bool = False,
    actor: str = POLICY_ACTOR,
) -> Decision:
    """Decide whether `challenger` (metrics on the holdout) replaces `champion` (same holdout, or None)."""
    if force and (not actor or actor == POLICY_ACTOR):
        raise ValueError("a forced promotion needs a named actor (the person who forces it), not 'policy'")
    promote, reason, guards = _policy(challenger, champion, spec)
    if force:
        verdict = "promoted" if promote else "rejected"
        return Decision(
            promote=True,
            decision=FORCE_PROMOTE,
            reason=f"forced by {actor} (the policy alone {verdict}: {reason})",
            actor=actor,
            forced=True,
            guards=guards,
        )
    return Decision(promote=promote, decision=PROMOTE if promote else REJECT, reason=reason, actor=actor, guards=guards)


def _policy(
    challenger: dict[str, Any], champion: dict[str, Any] | None, spec: ModelSpec
) -> tuple[bool, str, tuple[GuardCheck, ...]]:
    primary = spec.metric.primary
    new = _number(challenger, primary)
    if new is None:
        return False, f"challenger {primary} is {_fmt(challenger.get(primary))}: cannot judge; champion kept", ()

    if champion is None:
        floor = spec.policy.min_pr_auc
        if new >= floor:
            return True, f"first model: {primary} {_fmt(new)} >= minimum {_fmt(floor)}", ()
        return False, f"first model: {primary} {_fmt(new)} < minimum {_fmt(floor)}; no champion yet", ()

    old = _number(champion, primary)
    if old is None:
        return False, f"champion {primary} is {_fmt(champion.get(primary))}: cannot compare; champion kept", ()
    gain = new - old
    guards = tuple(
        check_guard(name, g, _number(challenger, name), _number(champion, name))
        for name, g in spec.metric.guards.items()
    )
    head = f"{primary} {_fmt(new)} vs champion {_fmt(old)} (gain {gain:+.4f}, min_gain {_fmt(spec.policy.min_gain)})"
    if gain < spec.policy.min_gain or gain <= 0:
        return False, f"{head}: not enough gain; champion kept", guards
    failed = [g for g in guards if not g.ok]
    if failed:
        broken = "; ".join(g.describe() for g in failed)
        return False, f"{head}, but guard regressed: {broken}; champion kept", guards
    return True, f"{head}; guards within tolerance", guards
