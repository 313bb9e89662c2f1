"""The hidden fraud rule: a logistic score on what a transaction looks like, plus noise.

Two rules exist. `STOLEN_CARD` is the normal regime: unusually large amounts for the customer, night
hours, paying from abroad, brand-new accounts, risky categories and merchants, card not present.
`ACCOUNT_TAKEOVER` is what `fraud_pattern_shift` switches to: small and medium everyday purchases, in the
app on a phone, in daytime, from long-standing accounts; the stolen-card signals fade. Intercepts are
calibrated (see `calibrate_intercept`) so each rule lands near 1% on the default population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RISKY_CATEGORIES = frozenset({"digital_goods", "electronics", "gaming"})
EVERYDAY_CATEGORIES = frozenset({"grocery", "fashion", "home", "beauty"})
NIGHT_HOURS = range(6)  # UTC; the whole population shares one clock, which keeps the rule legible
DAYTIME_HOURS = range(9, 19)
NEW_ACCOUNT_DAYS = 30
ESTABLISHED_ACCOUNT_DAYS = 365


@dataclass(frozen=True)
class Signals:
    """What the rule looks at, one array per signal, one element per transaction."""

    amount_surprise: np.ndarray  # z-score of the amount against the customer's usual spend in the category
    night: np.ndarray  # bool
    daytime: np.ndarray  # bool
    foreign: np.ndarray  # bool: transaction country differs from the customer's home country
    account_age_days: np.ndarray  # int, days since signup
    risky_category: np.ndarray  # bool
    everyday_category: np.ndarray  # bool
    card_not_present: np.ndarray  # bool: web or app
    app_on_phone: np.ndarray  # bool: channel app and device mobile
    merchant_risk: np.ndarray  # 0..1, hidden
    customer_risk: np.ndarray  # log-odds, hidden


@dataclass(frozen=True)
class FraudRule:
    name: str
    intercept: float
    amount_surprise: float = 0.0  # per standard deviation above the customer's usual
    mid_amount: float = 0.0  # |surprise| < 1: an amount that does not stand out
    night: float = 0.0
    daytime: float = 0.0
    foreign: float = 0.0
    new_account: float = 0.0
    established_account: float = 0.0
    risky_category: float = 0.0
    everyday_category: float = 0.0
    card_not_present: float = 0.0
    app_on_phone: float = 0.0
    # All of: app on a phone, everyday category, daytime, established account, unremarkable amount.
    # A conjunction, not a sum: takeover fraud imitates the owner's normal habits in one specific way.
    takeover_pattern: float = 0.0
    merchant_risk: float = 0.0
    customer_risk: float = 0.0
    noise: float = 0.5  # sd of log-odds noise: keeps the label from being a pure function of the inputs

    def score(self, s: Signals) -> np.ndarray:
        """Log-odds of fraud without the intercept and noise."""
        z = s.amount_surprise
        return (
            self.amount_surprise * z
            + self.mid_amount * (np.abs(z) < 1.0)
            + self.night * s.night
            + self.daytime * s.daytime
            + self.foreign * s.foreign
            + self.new_account * (s.account_age_days < NEW_ACCOUNT_DAYS)
            + self.established_account * (s.account_age_days > ESTABLISHED_ACCOUNT_DAYS)
            + self.risky_category * s.risky_category
            + self.everyday_category * s.everyday_category
            + self.card_not_present * s.card_not_present
            + self.app_on_phone * s.app_on_phone
            + self.takeover_pattern * takeover_pattern(s)
            + self.merchant_risk * s.merchant_risk
            + self.customer_risk * s.customer_risk
        )

    def probability(self, s: Signals, noise: np.ndarray) -> np.ndarray:
        """P(fraud); `noise` is standard normal, one per transaction."""
        return _sigmoid(self.intercept + self.score(s) + self.noise * noise)


STOLEN_CARD = FraudRule(
    name="stolen_card",
    intercept=-10.61,
    amount_surprise=2.0,
    night=2.8,
    foreign=2.8,
    new_account=3.2,
    risky_category=1.8,
    card_not_present=1.6,
    merchant_risk=6.0,
    customer_risk=0.5,
    noise=0.3,
)

# The old signals keep a little weight (some stolen-card fraud goes on), the takeover pattern dominates.
ACCOUNT_TAKEOVER = FraudRule(
    name="account_takeover",
    intercept=-10.43,
    amount_surprise=0.2,
    mid_amount=0.3,
    night=0.2,
    daytime=0.5,
    foreign=0.3,
    established_account=0.8,
    risky_category=0.2,
    everyday_category=0.5,
    card_not_present=0.2,
    app_on_phone=1.0,
    takeover_pattern=5.0,
    merchant_risk=5.0,
    customer_risk=0.4,
    noise=0.3,
)


def takeover_pattern(s: Signals) -> np.ndarray:
    return (
        s.app_on_phone
        & s.everyday_category
        & s.daytime
        & (s.account_age_days > ESTABLISHED_ACCOUNT_DAYS)
        & (np.abs(s.amount_surprise) < 1.5)
    )


def calibrate_intercept(rule: FraudRule, s: Signals, noise: np.ndarray, target: float = 0.01) -> float:
    """The intercept at which `rule` flags `target` of these transactions on average (bisection).

    Used once, by hand, to set the constants above; the generator never recalibrates per day, so a
    shift in the transaction mix moves the fraud rate as it would in life.
    """
    base = rule.score(s) + rule.noise * noise
    lo, hi = -20.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + base).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def category_flags(category_names: tuple[str, ...], names: frozenset[str]) -> np.ndarray:
    """A lookup table: True for each category index whose name is in `names`."""
    return np.array([c in names for c in category_names])
