"""Broken landing files on purpose: what upstream systems really send, for the bad-input corpus.

Each function rewrites one landing file (CSV or JSON Lines, as `landing` writes them) in place and is
deterministic given its arguments. They work on the file's bytes line by line, which is fine for the
few-hundred-row files tests use (the pipeline itself never loops over rows in Python).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Values an upstream system in Latin-1 sends for the free-text `category` column.
LATIN1_VALUES = ("épicerie", "straße", "crème")


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _write(path: Path, lines: list[bytes], end: bytes = b"\n") -> None:
    path.write_bytes(end.join(lines) + (end if lines else b""))


def _is_csv(path: Path) -> bool:
    return path.suffix == ".csv"


def _set_field(path: Path, line_no: int, column: str, value: object) -> None:
    """Line `line_no` (0-based, counting the CSV header) gets `value` in `column`; JSON keeps its type."""
    lines = _lines(path)
    if _is_csv(path):
        header = lines[0].decode().split(",")
        fields = lines[line_no].split(b",")
        fields[header.index(column)] = str(value).encode()
        lines[line_no] = b",".join(fields)
    else:
        record = json.loads(lines[line_no])
        record[column] = value
        lines[line_no] = json.dumps(record, separators=(",", ":")).encode()
    _write(path, lines)


def latin1(path: Path, every: int = 25, column: str = "category") -> int:
    """The file as an upstream system in Latin-1 writes it: every `every`-th row gets an accented value.
    Returns the rows changed."""
    lines = _lines(path)
    header = lines[0].decode().split(",")
    at = header.index(column)
    changed = 0
    for i in range(1, len(lines), every):
        fields = lines[i].decode().split(",")
        fields[at] = LATIN1_VALUES[changed % len(LATIN1_VALUES)]
        lines[i] = ",".join(fields).encode("latin-1")
        changed += 1
    _write(path, lines)
    return changed


def empty(path: Path) -> None:
    path.write_bytes(b"")


def header_only(path: Path) -> None:
    _write(path, _lines(path)[:1])


def rename_column(path: Path, old: str, new: str) -> None:
    lines = _lines(path)
    if _is_csv(path):
        lines[0] = b",".join(new.encode() if n == old.encode() else n for n in lines[0].split(b","))
    else:
        lines = [line.replace(f'"{old}":'.encode(), f'"{new}":'.encode()) for line in lines]
    _write(path, lines)


def set_value(path: Path, row: int, column: str, value: object) -> None:
    """Data row `row` (0-based) gets `value` in `column`."""
    _set_field(path, row + 1 if _is_csv(path) else row, column, value)


def nested_json(path: Path, row: int, column: str) -> None:
    """A JSON object where a scalar belongs: {"amount": {"value": 12.5, "currency": "EUR"}}."""
    record = json.loads(_lines(path)[row])
    _set_field(path, row, column, {"value": record.get(column), "unit": "EUR"})


def truncate(path: Path, keep: float = 0.6) -> int:
    """The file cut mid-line, as a transfer that died leaves it. Returns the bytes kept."""
    data = path.read_bytes()
    cut = int(len(data) * keep)
    while data[cut - 1 : cut] in (b"\n", b"\r"):
        cut -= 3  # always mid-line
    path.write_bytes(data[:cut])
    return cut


def binary_junk(path: Path, size: int = 512, seed: int = 7) -> None:
    """Random bytes appended (a wrong file concatenated onto the real one)."""
    junk = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(path.read_bytes() + junk)


def mixed_line_endings(path: Path) -> None:
    """Lines ending in \\r\\n, \\n and \\r by turns (files merged from several systems)."""
    lines = _lines(path)
    ends = (b"\r\n", b"\n", b"\r")
    path.write_bytes(b"".join(line + ends[i % 3] for i, line in enumerate(lines)))


def huge_line(path: Path, row: int, size: int) -> None:
    """One data row whose first value runs to `size` bytes (a field that swallowed a blob)."""
    if _is_csv(path):
        _set_field(path, row + 1, "transaction_id", "x" * size)
    else:
        _set_field(path, row, "transaction_id", "x" * size)


def duplicate_column(path: Path, column: str, instead_of: str) -> None:
    """The header names `column` twice (in place of `instead_of`)."""
    lines = _lines(path)
    lines[0] = b",".join(column.encode() if n == instead_of.encode() else n for n in lines[0].split(b","))
    _write(path, lines)


def repeated_header(path: Path, at_row: int) -> None:
    """The header line again inside the file (two files concatenated)."""
    lines = _lines(path)
    lines.insert(at_row + 1, lines[0])
    _write(path, lines)


def delimiter(path: Path, sep: str = ";") -> None:
    lines = _lines(path)
    _write(path, [line.replace(b",", sep.encode()) for line in lines])


def blank_lines(path: Path, every: int = 10) -> None:
    """Empty and whitespace-only lines between rows (readers skip them; so does the count)."""
    lines = _lines(path)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i and i % every == 0:
            out.append(b"" if i % (2 * every) else b"  \t")
    _write(path, out)


CORRUPTIONS: dict[str, Callable[..., object]] = {
    "latin1": latin1,
    "empty": empty,
    "header_only": header_only,
    "rename_column": rename_column,
    "set_value": set_value,
    "nested_json": nested_json,
    "truncate": truncate,
    "binary_junk": binary_junk,
    "mixed_line_endings": mixed_line_endings,
    "huge_line": huge_line,
    "duplicate_column": duplicate_column,
    "repeated_header": repeated_header,
    "delimiter": delimiter,
    "blank_lines": blank_lines,
}
