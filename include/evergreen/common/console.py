"""What people read on a terminal: fixed-width tables of plain rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def table(rows: Iterable[Mapping], columns: Sequence[str], width: int = 12) -> str:
    """Right-aligned columns, `-` for a missing value."""
    lines = ["  ".join(f"{c:>{width}}" for c in columns)]
    lines += ["  ".join(f"{'-' if r.get(c) is None else r[c]!s:>{width}}" for c in columns) for r in rows]
    return "\n".join(lines)
