"""Customers and merchants: stable traits, some written to the source DB, some hidden.

The population depends only on the seed and its size, never on the days generated, so every call of an
incremental run sees the same people. Signup and onboarding dates are absolute calendar dates; a day only
draws from customers who had signed up by then. The source tables are a snapshot "as of" a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from evergreen.contracts import data_contract

DEFAULT_CUSTOMERS = 20_000
DEFAULT_MERCHANTS = 800

# Customers sign up steadily over this window, so any day from 2019 to 2028 has both established and
# brand-new accounts. Far outside it the "new account" signal disappears (documented in docs/datagen.md).
SIGNUP_FIRST, SIGNUP_LAST = date(2019, 1, 1), date(2028, 12, 31)
# Merchants all predate the customers: the base merchant set is stable; only scenarios onboard new ones.
ONBOARD_FIRST, ONBOARD_LAST = date(2012, 1, 1), date(2018, 12, 31)

# Every category a transaction may carry, the contract's plus the one a scenario introduces.
ALL_CATEGORIES: tuple[str, ...] = (*data_contract.CATEGORIES, data_contract.NEW_CATEGORY)
NEW_CATEGORY_INDEX = ALL_CATEGORIES.index(data_contract.NEW_CATEGORY)

HOME_COUNTRY_WEIGHTS = {
    "DE": 0.22,
    "FR": 0.15,
    "GB": 0.14,
    "US": 0.12,
    "NL": 0.07,
    "ES": 0.08,
    "IT": 0.08,
    "PL": 0.05,
    "BR": 0.03,
    "NG": 0.02,
    "IN": 0.02,
    "CN": 0.02,
}
MERCHANT_COUNTRY_WEIGHTS = {
    "DE": 0.20,
    "FR": 0.12,
    "GB": 0.15,
    "US": 0.20,
    "NL": 0.08,
    "ES": 0.06,
    "IT": 0.06,
    "PL": 0.04,
    "BR": 0.02,
    "NG": 0.01,
    "IN": 0.03,
    "CN": 0.03,
}
# Share of merchants per category (volume per category is set per day in `day.py`).
MERCHANT_CATEGORY_WEIGHTS = {
    "grocery": 0.18,
    "fashion": 0.18,
    "electronics": 0.10,
    "home": 0.14,
    "beauty": 0.12,
    "travel": 0.08,
    "gaming": 0.08,
    "digital_goods": 0.12,
}

# Streams of the seed: one per independent part, so resizing one part never reshuffles another.
_CUSTOMER_STREAM, _MERCHANT_STREAM, _NEW_CATEGORY_MERCHANT_STREAM = 101, 102, 103
# Drawn after the others existed: its own stream, so adding it moved no earlier draw.
_MERCHANT_DISPUTE_STREAM = 104
# Spread of the merchants' hidden dispute propensity (log-odds): sloppy shipping, vague listings.
MERCHANT_DISPUTE_SD = 0.5


@dataclass(frozen=True)
class Customers:
    ids: np.ndarray  # str, in signup order: c-0000001 signed up first
    signup_day: np.ndarray  # date ordinal, ascending
    home_country: np.ndarray  # index into data_contract.COUNTRIES
    business: np.ndarray  # bool: a company account (spends and buys more)
    loyal_kind: np.ndarray  # bool: becomes `loyal` once the account is old enough
    # Hidden traits: drive behaviour and fraud, never written anywhere.
    spend_level: np.ndarray  # multiplier on the category's typical amount
    risk: np.ndarray  # additive log-odds of fraud (a compromised card, a careless user)
    travel: np.ndarray  # multiplier on the chance of paying from abroad
    activity_cum: np.ndarray  # cumulative activity weight, for drawing "who pays" among signed-up customers

    def __len__(self) -> int:
        return len(self.ids)

    def signed_up_by(self, day: date) -> int:
        """How many customers (a prefix, as they are in signup order) exist on `day`."""
        return int(np.searchsorted(self.signup_day, day.toordinal(), side="right"))


@dataclass(frozen=True)
class Merchants:
    ids: np.ndarray  # str
    category: np.ndarray  # index into ALL_CATEGORIES
    country: np.ndarray  # index into data_contract.COUNTRIES
    onboarded_day: np.ndarray  # date ordinal
    popularity: np.ndarray  # relative share of its category's volume
    risk: np.ndarray  # hidden, 0..1: weak checkout, resold goods
    dispute_propensity: np.ndarray  # hidden log-odds of a refund dispute (evergreen.devtools.datagen.disputes)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Population:
    customers: Customers
    merchants: Merchants  # base merchants, then any a scenario onboards


def _weights(table: dict[str, float], order: tuple[str, ...]) -> np.ndarray:
    w = np.array([table[k] for k in order], dtype=float)
    return w / w.sum()


def build_customers(seed: int, n: int) -> Customers:
    if n < 1:
        raise ValueError(f"need at least one customer, got {n}")
    rng = np.random.default_rng([seed, _CUSTOMER_STREAM, n])
    span = (SIGNUP_LAST - SIGNUP_FIRST).days + 1
    signup = np.sort(SIGNUP_FIRST.toordinal() + rng.integers(0, span, n))
    home = rng.choice(len(data_contract.COUNTRIES), n, p=_weights(HOME_COUNTRY_WEIGHTS, data_contract.COUNTRIES))

    # The CRM's segment is derived when the table is written (see `segments`); these are its stable inputs.
    loyal_kind = rng.random(n) < 0.5
    business = rng.random(n) < 0.06

    spend = rng.lognormal(0.0, 0.45, n) * np.where(business, 1.8, 1.0)
    risk = rng.normal(0.0, 0.8, n)
    travel = rng.lognormal(0.0, 0.7, n)
    activity = rng.gamma(1.5, 1.0, n) * np.where(business, 2.5, 1.0)
    ids = np.array([f"c-{i:07d}" for i in range(1, n + 1)], dtype=object)
    return Customers(ids, signup, home, business, loyal_kind, spend, risk, travel, np.cumsum(activity))


def build_merchants(seed: int, n: int) -> Merchants:
    if n < len(data_contract.CATEGORIES):
        raise ValueError(f"need at least one merchant per category ({len(data_contract.CATEGORIES)}), got {n}")
    rng = np.random.default_rng([seed, _MERCHANT_STREAM, n])
    # Every category gets at least one merchant, the rest follow the category weights.
    category = np.concatenate([
        np.arange(len(data_contract.CATEGORIES)),
        rng.choice(len(data_contract.CATEGORIES), n - len(data_contract.CATEGORIES),
                   p=_weights(MERCHANT_CATEGORY_WEIGHTS, data_contract.CATEGORIES)),
    ])  # fmt: skip
    country = rng.choice(len(data_contract.COUNTRIES), n, p=_weights(MERCHANT_COUNTRY_WEIGHTS, data_contract.COUNTRIES))
    span = (ONBOARD_LAST - ONBOARD_FIRST).days + 1
    onboarded = ONBOARD_FIRST.toordinal() + rng.integers(0, span, n)
    popularity = rng.pareto(1.3, n) + 1.0  # a few big shops, a long tail
    risk = rng.beta(1.5, 15.0, n)
    # A handful of merchants are plainly bad (resellers of stolen goods): the fraud rule leans on them.
    bad = rng.random(n) < 0.03
    risk[bad] = rng.uniform(0.4, 0.8, int(bad.sum()))
    ids = np.array([f"m-{i:06d}" for i in range(1, n + 1)], dtype=object)
    return Merchants(ids, category, country, onboarded, popularity, risk, _dispute_propensity(seed, n, first_id=1))


def _dispute_propensity(seed: int, n: int, first_id: int) -> np.ndarray:
    # Keyed by the first merchant number, so the scenario's merchants draw other values than the base ones.
    return np.random.default_rng([seed, _MERCHANT_DISPUTE_STREAM, first_id, n]).normal(0.0, MERCHANT_DISPUTE_SD, n)


def new_category_merchants(seed: int, first_id: int, onboarded: date, n_base: int) -> Merchants:
    """The merchants `new_merchant_category` onboards on its start day, numbered after the base ones."""
    n = max(3, n_base // 50)
    rng = np.random.default_rng([seed, _NEW_CATEGORY_MERCHANT_STREAM, n])
    ids = np.array([f"m-{i:06d}" for i in range(first_id, first_id + n)], dtype=object)
    return Merchants(
        ids=ids,
        category=np.full(n, NEW_CATEGORY_INDEX),
        country=rng.choice(
            len(data_contract.COUNTRIES), n, p=_weights(MERCHANT_COUNTRY_WEIGHTS, data_contract.COUNTRIES)
        ),
        onboarded_day=np.full(n, onboarded.toordinal()),
        popularity=rng.pareto(1.3, n) + 1.0,
        risk=rng.beta(3.0, 12.0, n),  # a young, thinly vetted category: riskier than the average shop
        dispute_propensity=_dispute_propensity(seed, n, first_id=first_id),
    )


def build_population(
    seed: int, n_customers: int, n_merchants: int, new_category_onboarded: date | None = None
) -> Population:
    customers = build_customers(seed, n_customers)
    merchants = build_merchants(seed, n_merchants)
    if new_category_onboarded is not None:
        added = new_category_merchants(seed, n_merchants + 1, new_category_onboarded, n_merchants)
        merchants = Merchants(
            *(np.concatenate([a, b]) for a, b in zip(_fields(merchants), _fields(added), strict=True))
        )
    return Population(customers, merchants)


def _fields(m: Merchants) -> tuple[np.ndarray, ...]:
    return (m.ids, m.category, m.country, m.onboarded_day, m.popularity, m.risk, m.dispute_propensity)


def customer_rows(customers: Customers, as_of: date) -> list[dict]:
    """The `customers` source table on `as_of`: everyone who had signed up by then."""
    k = customers.signed_up_by(as_of)
    frame = pd.DataFrame({
        "customer_id": customers.ids[:k],
        "signup_date": _dates(customers.signup_day[:k]),
        "home_country": np.asarray(data_contract.COUNTRIES, dtype=object)[customers.home_country[:k]],
        "segment": np.asarray(data_contract.SEGMENTS, dtype=object)[segments(customers, as_of)[:k]],
    })  # fmt: skip
    return frame.to_dict(orient="records")


NEW_CUSTOMER_DAYS, LOYAL_CUSTOMER_DAYS = 90, 3 * 365


def segments(customers: Customers, as_of: date) -> np.ndarray:
    """The CRM segment on `as_of` (index into data_contract.SEGMENTS), as the operational DB would show it then.

    `business` is fixed; otherwise `new` in the first 90 days, `loyal` after three years for the half of
    customers who stay, `regular` in between.
    """
    tenure = as_of.toordinal() - customers.signup_day
    seg = np.full(len(customers), data_contract.SEGMENTS.index("regular"))
    seg[customers.loyal_kind & (tenure > LOYAL_CUSTOMER_DAYS)] = data_contract.SEGMENTS.index("loyal")
    seg[tenure < NEW_CUSTOMER_DAYS] = data_contract.SEGMENTS.index("new")
    seg[customers.business] = data_contract.SEGMENTS.index("business")
    return seg


def merchant_rows(merchants: Merchants, as_of: date) -> list[dict]:
    """The `merchants` source table on `as_of`: every merchant onboarded by then."""
    live = np.flatnonzero(merchants.onboarded_day <= as_of.toordinal())
    frame = pd.DataFrame({
        "merchant_id": merchants.ids[live],
        "merchant_category": np.asarray(ALL_CATEGORIES, dtype=object)[merchants.category[live]],
        "merchant_country": np.asarray(data_contract.COUNTRIES, dtype=object)[merchants.country[live]],
        "onboarded_date": _dates(merchants.onboarded_day[live]),
    })  # fmt: skip
    return frame.to_dict(orient="records")


def _dates(ordinals: np.ndarray) -> np.ndarray:
    # Plain `date` objects (not pandas Timestamps): the DB's DATE type binds them on SQLite and PostgreSQL.
    unique, inverse = np.unique(ordinals, return_inverse=True)
    return np.array([date.fromordinal(int(o)) for o in unique], dtype=object)[inverse]
