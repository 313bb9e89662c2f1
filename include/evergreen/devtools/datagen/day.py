"""One day of transactions, drawn as whole columns (no per-row Python).

Randomness for a day comes only from (seed, day, stream), so a day is the same whether it is generated
alone or inside a longer run. Base draws happen first and in a fixed order; scenarios and dirt use their
own streams, so switching a scenario on changes only what that scenario is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from evergreen.contracts import data_contract
from evergreen.devtools.datagen import fraud
from evergreen.devtools.datagen.population import ALL_CATEGORIES, NEW_CATEGORY_INDEX, Population
from evergreen.devtools.datagen.scenarios import (
    DISPUTE_WAVE,
    DUPLICATE_FLOOD,
    FRAUD_PATTERN_SHIFT,
    NEW_MERCHANT_CATEGORY,
    NULL_BURST,
    PRICE_INFLATION,
    ScenarioWindow,
)

# Streams of (seed, day): base behaviour, labels, dirt, refund disputes, then one per scenario.
BASE_STREAM, LABEL_STREAM, DIRT_STREAM, DISPUTE_STREAM = 0, 1, 2, 3
SCENARIO_STREAM = {NEW_MERCHANT_CATEGORY: 10, NULL_BURST: 11, DUPLICATE_FLOOD: 12, DISPUTE_WAVE: 13}

# Volume by weekday (Mon..Sun), averaging 1: `rows_per_day` is the mean of a week.
WEEKDAY_VOLUME = (0.95, 0.97, 0.98, 1.00, 1.05, 1.08, 0.97)

# Relative volume by UTC hour: quiet at night, a lunch bump, the evening peak.
HOURLY_WEEKDAY = np.array([
    0.9, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.4, 3.6, 4.4, 4.8, 5.2,
    5.8, 5.6, 5.2, 5.0, 5.2, 5.8, 6.4, 6.8, 6.6, 5.6, 3.8, 2.0,
])  # fmt: skip
# Weekends start later and run later into the night.
HOURLY_WEEKEND = np.array([
    1.4, 1.0, 0.6, 0.4, 0.3, 0.4, 0.7, 1.3, 2.4, 3.6, 4.6, 5.4,
    5.8, 5.8, 5.6, 5.4, 5.4, 5.8, 6.2, 6.6, 6.6, 6.0, 4.6, 2.8,
])  # fmt: skip

CATEGORY_VOLUME = {
    "grocery": 0.24,
    "fashion": 0.15,
    "electronics": 0.09,
    "home": 0.10,
    "beauty": 0.09,
    "travel": 0.06,
    "gaming": 0.11,
    "digital_goods": 0.16,
}
WEEKEND_CATEGORY_LIFT = {"fashion": 1.3, "travel": 1.2, "gaming": 1.3, "grocery": 0.9, "home": 1.1}

# Typical amount (median, before the customer's spend level) and log-sd, per category.
AMOUNT_MEDIAN = {
    "grocery": 32.0,
    "fashion": 55.0,
    "electronics": 160.0,
    "home": 70.0,
    "beauty": 28.0,
    "travel": 260.0,
    "gaming": 22.0,
    "digital_goods": 12.0,
    "crypto_vouchers": 110.0,
}
AMOUNT_LOG_SD = {
    "grocery": 0.6,
    "fashion": 0.7,
    "electronics": 0.9,
    "home": 0.8,
    "beauty": 0.6,
    "travel": 0.8,
    "gaming": 0.8,
    "digital_goods": 0.7,
    "crypto_vouchers": 0.9,
}
# Natural amounts stay inside the contract's range even after a month of inflation, so every
# out-of-range amount in the landing files is injected dirt the manifest counts.
NATURAL_AMOUNT_MIN, NATURAL_AMOUNT_MAX, CONTRACT_AMOUNT_MAX = 0.50, 20_000.0, 49_999.99

# Channel mix (web, app, pos) per category: groceries are bought in shops, vouchers online.
CHANNEL_MIX = {
    "grocery": (0.15, 0.20, 0.65),
    "fashion": (0.35, 0.30, 0.35),
    "electronics": (0.45, 0.25, 0.30),
    "home": (0.35, 0.20, 0.45),
    "beauty": (0.30, 0.30, 0.40),
    "travel": (0.55, 0.40, 0.05),
    "gaming": (0.35, 0.60, 0.05),
    "digital_goods": (0.45, 0.55, 0.0),
    "crypto_vouchers": (0.50, 0.50, 0.0),
}
# Device mix (desktop, mobile, tablet, terminal) per channel: a POS sale is always on a terminal.
DEVICE_MIX = {"web": (0.62, 0.28, 0.10, 0.0), "app": (0.0, 0.84, 0.16, 0.0), "pos": (0.0, 0.0, 0.0, 1.0)}

# Chance of paying outside the home country, before the customer's travel habit; lower in shops.
ABROAD_BASE = {
    "grocery": 0.02,
    "fashion": 0.04,
    "electronics": 0.05,
    "home": 0.02,
    "beauty": 0.03,
    "travel": 0.25,
    "gaming": 0.05,
    "digital_goods": 0.05,
    "crypto_vouchers": 0.08,
}
ABROAD_POS_FACTOR = 0.4

CURRENCY_OF_COUNTRY = {
    "DE": "EUR",
    "FR": "EUR",
    "NL": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "PL": "EUR",
    "GB": "GBP",
    "US": "USD",
    "BR": "USD",
    "NG": "USD",
    "IN": "USD",
    "CN": "USD",
}

PRICE_STEP, PRICE_DAILY = 1.40, 1.02
NEW_CATEGORY_SHARE = 0.15

POS = data_contract.CHANNELS.index("pos")
APP = data_contract.CHANNELS.index("app")
MOBILE = data_contract.DEVICES.index("mobile")


@dataclass(frozen=True)
class DayTransactions:
    """One day's real transactions in event-time order (before dirt and re-sends)."""

    day: date
    second: np.ndarray  # seconds since midnight UTC
    customer: np.ndarray  # index into population.customers
    merchant: np.ndarray  # index into population.merchants
    category: np.ndarray  # index into ALL_CATEGORIES
    channel: np.ndarray  # index into data_contract.CHANNELS
    device: np.ndarray  # index into data_contract.DEVICES
    country: np.ndarray  # index into data_contract.COUNTRIES
    currency: np.ndarray  # index into data_contract.CURRENCIES
    amount: np.ndarray  # float, rounded to cents
    is_fraud: np.ndarray  # bool, hidden until its label arrives
    label_delay_s: np.ndarray  # seconds from event to label
    rule: str  # which fraud rule was in force

    def __len__(self) -> int:
        return len(self.second)


def rows_on(day: date, rows_per_day: int) -> int:
    return round(rows_per_day * WEEKDAY_VOLUME[day.weekday()])


def simulate_day(
    population: Population, day: date, rows_per_day: int, seed: int, windows: Sequence[ScenarioWindow]
) -> DayTransactions:
    active = {w.name: w for w in windows if w.active_on(day)}
    n = rows_on(day, rows_per_day)
    customers, merchants = population.customers, population.merchants
    signed_up = customers.signed_up_by(day)
    if signed_up == 0:
        raise ValueError(f"{day}: no customer has signed up yet (signups start {customers.signup_day[0]})")
    ordinal = day.toordinal()
    weekend = day.weekday() >= 5

    # Base draws: always all of them, always in this order (see module docstring).
    rng = np.random.default_rng([seed, ordinal, BASE_STREAM])
    u_who, u_hour, u_second, u_category = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
    u_merchant, u_channel, u_device = rng.random(n), rng.random(n), rng.random(n)
    u_abroad, u_where = rng.random(n), rng.random(n)
    amount_z = rng.standard_normal(n)
    u_fraud, fraud_noise = rng.random(n), rng.standard_normal(n)

    activity = customers.activity_cum[:signed_up]
    who = np.minimum(np.searchsorted(activity, u_who * activity[-1], side="right"), signed_up - 1)
    hour = _pick(u_hour, HOURLY_WEEKEND if weekend else HOURLY_WEEKDAY)
    second = hour * 3600 + (u_second * 3600).astype(np.int64)

    category = _pick(u_category, _category_volume(weekend))
    if NEW_MERCHANT_CATEGORY in active:
        moved = np.random.default_rng([seed, ordinal, SCENARIO_STREAM[NEW_MERCHANT_CATEGORY]]).random(n)
        category[moved < NEW_CATEGORY_SHARE] = NEW_CATEGORY_INDEX
    merchant = _merchants_for(population, category, u_merchant, ordinal)

    channel = _pick_per_row(u_channel, _table(CHANNEL_MIX, ALL_CATEGORIES), category)
    device = _pick_per_row(u_device, _table(DEVICE_MIX, data_contract.CHANNELS), channel)

    home = customers.home_country[who]
    p_abroad = _lookup(ABROAD_BASE, ALL_CATEGORIES)[category] * customers.travel[who]
    p_abroad = np.minimum(np.where(channel == POS, p_abroad * ABROAD_POS_FACTOR, p_abroad), 0.9)
    abroad = u_abroad < p_abroad
    n_countries = len(data_contract.COUNTRIES)
    elsewhere = (home + 1 + (u_where * (n_countries - 1)).astype(np.int64)) % n_countries
    country = np.where(abroad, elsewhere, home)
    currency_table = np.array([data_contract.CURRENCIES.index(CURRENCY_OF_COUNTRY[c]) for c in data_contract.COUNTRIES])
    currency = currency_table[country]

    typical = _lookup(AMOUNT_MEDIAN, ALL_CATEGORIES)[category] * customers.spend_level[who]
    amount = typical * np.exp(_lookup(AMOUNT_LOG_SD, ALL_CATEGORIES)[category] * amount_z)
    amount = np.clip(amount, NATURAL_AMOUNT_MIN, NATURAL_AMOUNT_MAX)
    if PRICE_INFLATION in active:
        # Prices move, people do not: the customer's usual spend inflates too, so the fraud rule
        # (which looks at the amount relative to the usual) is untouched.
        amount = amount * PRICE_STEP * PRICE_DAILY ** active[PRICE_INFLATION].days_since_start(day)
    amount = np.clip(np.round(amount, 2), 0.01, CONTRACT_AMOUNT_MAX)

    signals = fraud.Signals(
        amount_surprise=amount_z,
        night=np.isin(hour, fraud.NIGHT_HOURS),
        daytime=np.isin(hour, fraud.DAYTIME_HOURS),
        foreign=abroad,
        account_age_days=ordinal - customers.signup_day[who],
        risky_category=fraud.category_flags(ALL_CATEGORIES, fraud.RISKY_CATEGORIES)[category],
        everyday_category=fraud.category_flags(ALL_CATEGORIES, fraud.EVERYDAY_CATEGORIES)[category],
        card_not_present=channel != POS,
        app_on_phone=(channel == APP) & (device == MOBILE),
        merchant_risk=merchants.risk[merchant],
        customer_risk=customers.risk[who],
    )
    rule = fraud.ACCOUNT_TAKEOVER if FRAUD_PATTERN_SHIFT in active else fraud.STOLEN_CARD
    is_fraud = u_fraud < rule.probability(signals, fraud_noise)

    label_delay_s = _label_delays(np.random.default_rng([seed, ordinal, LABEL_STREAM]), is_fraud)

    order = np.argsort(second, kind="stable")
    return DayTransactions(
        day=day,
        second=second[order],
        customer=who[order],
        merchant=merchant[order],
        category=category[order],
        channel=channel[order],
        device=device[order],
        country=country[order],
        currency=currency[order],
        amount=amount[order],
        is_fraud=is_fraud[order],
        label_delay_s=label_delay_s[order],
        rule=rule.name,
    )


# Chargebacks take 1-10 days, most around 3; a legit sale is confirmed after the 3-7 day dispute window.
FRAUD_DELAY_MEDIAN_DAYS, FRAUD_DELAY_LOG_SD = 3.0, 0.45
FRAUD_DELAY_MIN_DAYS, FRAUD_DELAY_MAX_DAYS = 1.0, 10.0
LEGIT_DELAY_MIN_DAYS, LEGIT_DELAY_MAX_DAYS = 3.0, 7.0


def _label_delays(rng: np.random.Generator, is_fraud: np.ndarray) -> np.ndarray:
    n = len(is_fraud)
    # Both delays are drawn for every row so the stream does not depend on which rows are fraud.
    chargeback = np.clip(
        rng.lognormal(np.log(FRAUD_DELAY_MEDIAN_DAYS), FRAUD_DELAY_LOG_SD, n),
        FRAUD_DELAY_MIN_DAYS,
        FRAUD_DELAY_MAX_DAYS,
    )
    confirmation = rng.uniform(LEGIT_DELAY_MIN_DAYS, LEGIT_DELAY_MAX_DAYS, n)
    return np.round(np.where(is_fraud, chargeback, confirmation) * 86_400).astype(np.int64)


def _merchants_for(population: Population, category: np.ndarray, u: np.ndarray, ordinal: int) -> np.ndarray:
    merchants = population.merchants
    out = np.zeros(len(category), dtype=np.int64)
    live = merchants.onboarded_day <= ordinal
    for c in np.unique(category):  # a handful of categories, not rows
        rows = category == c
        candidates = np.flatnonzero(live & (merchants.category == c))
        if len(candidates) == 0:
            raise ValueError(f"no merchant in category {ALL_CATEGORIES[c]} is onboarded on that day")
        cum = np.cumsum(merchants.popularity[candidates])
        pick = np.minimum(np.searchsorted(cum, u[rows] * cum[-1], side="right"), len(candidates) - 1)
        out[rows] = candidates[pick]
    return out


def _category_volume(weekend: bool) -> np.ndarray:
    # The new category takes its share by moving rows (see simulate_day), so its base weight is zero.
    w = np.array([CATEGORY_VOLUME.get(c, 0.0) for c in ALL_CATEGORIES])
    if weekend:
        w = w * np.array([WEEKEND_CATEGORY_LIFT.get(c, 1.0) for c in ALL_CATEGORIES])
    return w


def _lookup(table: dict[str, float], order: tuple[str, ...]) -> np.ndarray:
    return np.array([table[k] for k in order], dtype=float)


def _table(table: dict[str, tuple[float, ...]], order: tuple[str, ...]) -> np.ndarray:
    return np.array([table[k] for k in order], dtype=float)


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative shares along the last axis, exactly 1.0 once no weight is left.

    Rounding could otherwise leave 0.9999999 before a zero-weight tail and let a uniform near 1 pick an
    impossible option (a POS sale of digital goods, a base-day crypto voucher).
    """
    cum = np.cumsum(weights, axis=-1)
    total = cum[..., -1:]
    return np.where(total - cum <= 1e-12 * total, 1.0, cum / total)


def _pick(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of an index from one weight vector, for uniforms `u`."""
    return np.searchsorted(_cdf(weights), u, side="right")


def _pick_per_row(u: np.ndarray, table: np.ndarray, row_key: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw where each row uses the weight vector `table[row_key]`."""
    return (u[:, None] >= _cdf(table)[row_key]).sum(axis=1)
