"""Property tests of the promotion policy over thousands of generated metric pairs (numpy RNG, fixed seeds).

The oracle below restates the rules from the spec's numbers independently of the implementation; every
generated pair must get the oracle's answer, and the generators are biased towards the edges (exact ties,
gains right at min_gain, guard regressions right at their tolerance) where policies usually break.
"""

from __future__ import annotations

import numpy as np
import pytest

from evergreen.contracts.model_spec import Guard, Metric, ModelSpec, Policy, load_spec
from evergreen.registry.policy import FORCE_PROMOTE, PROMOTE, REJECT, decide

N = 4000
GUARD_RANGES = {  # plausible ranges of each guard metric
    "roc_auc": (0.5, 1.0),
    "recall_at_fpr": (0.0, 1.0),
    "brier": (0.0, 0.05),
    "score_ms_per_10k": (1.0, 200.0),
}


@pytest.fixture(scope="module")
def fraud() -> ModelSpec:
    return load_spec("fraud")


def random_spec(rng: np.random.Generator, base: ModelSpec) -> ModelSpec:
    """The fraud spec with a random policy and random tolerances (directions kept)."""
    guards = {}
    for name, g in base.metric.guards.items():
        if g.tolerance_ratio is not None:
            guards[name] = Guard(tolerance_ratio=float(rng.uniform(1.0, 3.0)), lower_is_better=g.lower_is_better)
        else:
            guards[name] = Guard(
                tolerance=float(rng.choice([0.0, rng.uniform(0, 0.05)])), lower_is_better=g.lower_is_better
            )
    return base.model_copy(
        update={
            "metric": Metric(primary=base.metric.primary, guards=guards),
            "policy": Policy(
                min_pr_auc=float(rng.uniform(0, 0.5)), min_gain=float(rng.choice([0.0, rng.uniform(0, 0.05)]))
            ),
        }
    )


def random_champion(rng: np.random.Generator) -> dict[str, float]:
    metrics = {"pr_auc": float(rng.uniform(0.05, 0.95))}
    for name, (lo, hi) in GUARD_RANGES.items():
        metrics[name] = float(rng.uniform(lo, hi))
    return metrics


def nudge(rng: np.random.Generator, value: float, scale: float, edge: float) -> float:
    """A perturbed value: equal, exactly one `edge` away either side, just around it, or anywhere near."""
    kind = rng.integers(0, 5)
    if kind == 0:
        return value
    if kind == 1:
        return value + float(rng.choice([-1.0, 1.0])) * edge
    if kind == 2:
        return value + float(rng.choice([-1.0, 1.0])) * edge * float(rng.uniform(0.9, 1.1))
    return value + float(rng.normal(0, scale))


def random_challenger(rng: np.random.Generator, champion: dict[str, float], spec: ModelSpec) -> dict[str, float]:
    out = {"pr_auc": nudge(rng, champion["pr_auc"], 0.03, spec.policy.min_gain)}
    for name, g in spec.metric.guards.items():
        value = champion[name]
        if g.tolerance_ratio is not None:
            factor = nudge(rng, 1.0, 0.6, g.tolerance_ratio - 1.0)
            out[name] = value * max(factor, 0.01)
        else:
            out[name] = nudge(rng, value, 0.02, g.tolerance or 0.01)
    return out


def oracle(challenger: dict, champion: dict | None, spec: ModelSpec) -> bool:
    """The rules, restated."""
    new = challenger["pr_auc"]
    if champion is None:
        return new >= spec.policy.min_pr_auc
    gain = new - champion["pr_auc"]
    if gain <= 0 or gain < spec.policy.min_gain:
        return False
    return not any(regresses(challenger[n], champion[n], g) for n, g in spec.metric.guards.items())


def regresses(new: float, old: float, g: Guard) -> bool:
    worse_by = (new - old) if g.lower_is_better else (old - new)
    if g.tolerance is not None and worse_by > g.tolerance:
        return True
    if g.tolerance_ratio is not None:
        if g.lower_is_better and new > old * g.tolerance_ratio:
            return True
        if not g.lower_is_better and new * g.tolerance_ratio < old:
            return True
    return g.tolerance is None and g.tolerance_ratio is None and worse_by > 0


def generated_pairs(seed: int, base: ModelSpec, n: int = N):
    rng = np.random.default_rng(seed)
    for i in range(n):
        spec = base if i % 2 == 0 else random_spec(rng, base)
        champion = random_champion(rng)
        yield spec, random_challenger(rng, champion, spec), champion


def test_every_pair_gets_the_rules_answer(fraud):
    outcomes = {True: 0, False: 0}
    for spec, challenger, champion in generated_pairs(1, fraud):
        d = decide(challenger, champion, spec)
        assert d.promote == oracle(challenger, champion, spec), (challenger, champion, spec.policy, d.reason)
        assert d.decision == (PROMOTE if d.promote else REJECT)
        assert d.actor == "policy"
        assert not d.forced
        outcomes[d.promote] += 1
    # Not vacuous: both outcomes are common among the generated pairs.
    assert outcomes[True] > N // 20
    assert outcomes[False] > N // 20


def test_worse_or_equal_primary_is_never_promoted(fraud):
    seen = 0
    for spec, challenger, champion in generated_pairs(2, fraud):
        if challenger["pr_auc"] <= champion["pr_auc"]:
            seen += 1
            d = decide(challenger, champion, spec)
            assert not d.promote, d.reason
            assert "champion kept" in d.reason
    assert seen > N // 4


def test_gain_below_min_gain_keeps_the_champion(fraud):
    seen = 0
    for spec, challenger, champion in generated_pairs(3, fraud):
        gain = challenger["pr_auc"] - champion["pr_auc"]
        if gain < spec.policy.min_gain:
            seen += 1
            d = decide(challenger, champion, spec)
            assert not d.promote
            assert "not enough gain" in d.reason
    assert seen > N // 4


def test_a_guard_regression_beyond_tolerance_is_never_promoted(fraud):
    seen = 0
    for spec, challenger, champion in generated_pairs(4, fraud):
        broken = [n for n, g in spec.metric.guards.items() if regresses(challenger[n], champion[n], g)]
        if broken:
            seen += 1
            d = decide(challenger, champion, spec)
            assert not d.promote, d.reason
            gain = challenger["pr_auc"] - champion["pr_auc"]
            if gain > 0 and gain >= spec.policy.min_gain:  # the guard is what stopped it: the reason says which
                assert all(n in d.reason for n in broken), d.reason
    assert seen > N // 5


def test_each_guard_alone_blocks_a_clearly_better_challenger(fraud):
    champion = {"pr_auc": 0.5, "roc_auc": 0.9, "recall_at_fpr": 0.6, "brier": 0.01, "score_ms_per_10k": 20.0}
    bad = {"roc_auc": 0.9 - 0.011, "recall_at_fpr": 0.6 - 0.031, "brier": 0.01 + 0.0021, "score_ms_per_10k": 40.1}
    ok = {"roc_auc": 0.9 - 0.009, "recall_at_fpr": 0.6 - 0.029, "brier": 0.01 + 0.0019, "score_ms_per_10k": 39.9}
    base = {**champion, "pr_auc": 0.6}
    assert decide({**base, **ok}, champion, fraud).promote
    for name, value in bad.items():
        d = decide({**base, **ok, name: value}, champion, fraud)
        assert not d.promote, name
        assert name in d.reason


def test_exact_tie_keeps_the_champion_even_with_zero_min_gain(fraud):
    spec = fraud.model_copy(update={"policy": Policy(min_pr_auc=0.1, min_gain=0.0)})
    rng = np.random.default_rng(5)
    for _ in range(500):
        champion = random_champion(rng)
        d = decide(dict(champion), champion, spec)
        assert not d.promote
        assert "gain +0.0000" in d.reason


def test_first_model_needs_the_minimum(fraud):
    rng = np.random.default_rng(6)
    for i in range(N):
        spec = fraud if i % 2 else random_spec(rng, fraud)
        challenger = random_champion(rng)
        if i % 3 == 0:  # right at the floor
            challenger["pr_auc"] = spec.policy.min_pr_auc
        d = decide(challenger, None, spec)
        assert d.promote == (challenger["pr_auc"] >= spec.policy.min_pr_auc)
        assert d.reason.startswith("first model:")
        assert f"{spec.policy.min_pr_auc:.4f}" in d.reason


def test_force_always_promotes_and_says_so(fraud):
    for spec, challenger, champion in generated_pairs(7, fraud, n=1000):
        policy_alone = decide(challenger, champion, spec)
        d = decide(challenger, champion, spec, force=True, actor="alice")
        assert d.promote
        assert d.forced
        assert d.decision == FORCE_PROMOTE
        assert d.actor == "alice"
        assert d.reason.startswith("forced by alice")
        assert ("policy alone promoted" if policy_alone.promote else "policy alone rejected") in d.reason
    assert decide({"pr_auc": 0.01}, None, fraud, force=True, actor="bob").promote


def test_force_needs_a_named_actor(fraud):
    with pytest.raises(ValueError, match="named actor"):
        decide({"pr_auc": 0.5}, None, fraud, force=True)


@pytest.mark.parametrize("bad", [float("nan"), None, "n/a", float("inf")])
def test_a_metric_nobody_could_compute_never_promotes(fraud, bad):
    champion = {"pr_auc": 0.3, "roc_auc": 0.9, "recall_at_fpr": 0.5, "brier": 0.01, "score_ms_per_10k": 10.0}
    better = {**champion, "pr_auc": 0.5}
    assert decide(better, champion, fraud).promote
    assert not decide({**better, "pr_auc": bad}, champion, fraud).promote
    assert not decide({**better, "pr_auc": bad}, None, fraud).promote
    assert not decide(better, {**champion, "pr_auc": bad}, fraud).promote
    for guard in fraud.metric.guards:
        assert not decide({**better, guard: bad}, champion, fraud).promote, guard
    missing = dict(better)
    del missing["brier"]
    assert not decide(missing, champion, fraud).promote


def test_reasons_are_one_line_and_name_the_numbers(fraud):
    for spec, challenger, champion in generated_pairs(8, fraud, n=500):
        d = decide(challenger, champion, spec)
        assert "\n" not in d.reason
        assert f"{challenger['pr_auc']:.4f}" in d.reason
        assert f"{champion['pr_auc']:.4f}" in d.reason
        assert f"{spec.policy.min_gain:.4f}" in d.reason


def test_inputs_are_not_mutated(fraud):
    champion = {"pr_auc": 0.3, "roc_auc": 0.9, "recall_at_fpr": 0.5, "brier": 0.01, "score_ms_per_10k": 10.0}
    challenger = {**champion, "pr_auc": 0.4}
    before = (dict(challenger), dict(champion))
    decide(challenger, champion, fraud)
    assert (challenger, champion) == before
