"""Days as the lake names them: ISO strings `YYYY-MM-DD` (partition values, params, event windows)."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def iso_day(value: str | date, what: str = "a day") -> str:
    """YYYY-MM-DD from a date, a datetime or a string; a clear error naming `what` otherwise."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"{what} must be a day YYYY-MM-DD, got {value!r}") from None


def shift_day(day: str | date, days: int) -> str:
    """The ISO day `days` after `day` (negative: before)."""
    return (date.fromisoformat(iso_day(day)) + timedelta(days=days)).isoformat()


def days_back(day: str | date, count: int) -> list[str]:
    """`count` days ending with `day`, newest first."""
    return [shift_day(day, -i) for i in range(count)]


def days_between(first: str | date, last: str | date) -> list[str]:
    """Every day from `first` to `last`, both included, oldest first (empty if `last` is before `first`)."""
    start, end = date.fromisoformat(iso_day(first)), date.fromisoformat(iso_day(last))
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
