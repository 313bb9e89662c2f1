"""How the lake names what it holds, shared by the steps that write and the readers that count."""

from __future__ import annotations


def batch_id(day: str, table: str = "transactions") -> str:
    """A landing batch: one table's drop of one day (quarantine partitions are keyed by it)."""
    return f"{table}-{day}"
