"""The file gate: every landing file of a day is judged on its own, before its rows join the day's batch.

A file is refused whole, with a one-line reason that names it, when

* its bytes are not text in its declared encoding (UTF-8 unless the source declares another), it is empty,
  holds a NUL byte, or a line longer than the source allows (`evergreen.storage.landing_scan`);
* its header (CSV) or keys (JSON Lines) do not name exactly the contract's columns: missing, unexpected,
  duplicated or empty names, or another delimiter than the source's;
* it holds no rows (a header alone), unless the feed is sparse (`Source.sparse`: a header alone is "nothing
  today");
* its values break the contract in bulk: a key (or not-null) column null or not of its type, lines that do
  not parse, coded values outside their allowed list, in more than the settings' tolerance of its rows.
  One bad row is clean's business (quarantined with its own reason); a burst of them is a broken file.

The day goes on with the files that passed; its gate is `partial` when any file was refused, `failed` when
none is left (or the GX raw contract refuses what is left). No GX here: one Spark aggregation grouped by
file gives every file's counts in one pass over the staged batch.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from evergreen.config import Settings
from evergreen.contracts import data_contract
from evergreen.pipeline.quality.gate_result import FAILED, PARTIAL, PASSED, RAW_CONTRACT, GateResult
from evergreen.storage.landing_scan import FileScan

EXAMPLE_CHARS = 40  # a quoted example value is cut here (the record keeps it whole)
_OTHER_DELIMITERS = (";", "\t", "|", ",")
_TYPE_WORDS = {
    data_contract.DOUBLE: "a number",
    data_contract.LONG: "an integer",
    data_contract.INT: "an integer",
    data_contract.TIMESTAMP: "a timestamp",
    data_contract.DATE: "a date",
}


def type_word(logical: str) -> str:
    """How a reason names a contract type: "amount not a number"."""
    return _TYPE_WORDS.get(logical, f"a {logical}")


@dataclass
class FileVerdict:
    """One landing file: its rows (counted from its bytes) and, if refused, why."""

    path: str
    name: str
    format: str
    rows: int
    problem: str | None = None
    # True once the file's rows were parsed into the staged batch: a file refused after that is quarantined
    # as parsed records; one refused before (bytes, header) is quarantined line by line.
    parsed: bool = False
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.problem is None

    @property
    def reason(self) -> str | None:
        return None if self.problem is None else f"{self.name}: {self.problem}"

    def refuse(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = "accepted" if self.accepted else "refused"
        out["reason"] = self.reason
        return out


def from_scan(scan: FileScan) -> FileVerdict:
    return FileVerdict(scan.path, scan.name, scan.format, scan.rows, scan.problem)


# ---- structure: before Spark reads the rows -------------------------------------------------------------
def check_header(verdict: FileVerdict, header: str | None, source: data_contract.Source) -> list[str] | None:
    """A CSV file's header against the contract; returns its column names when they are the contract's."""
    if verdict.problem:
        return None
    if header is None:
        verdict.refuse("no header line")
        return None
    names = next(csv.reader([header], delimiter=source.delimiter), [])
    expected = data_contract.names(source.columns)
    if len(names) == 1 and len(expected) > 1:
        other = next((d for d in _OTHER_DELIMITERS if d != source.delimiter and d in header), None)
        if other is not None:
            verdict.refuse(f"wrong delimiter: the header splits on {other!r}, not {source.delimiter!r}")
            return None
    if any(not n.strip() for n in names):
        verdict.refuse(f"empty column name in the header (column {[n.strip() for n in names].index('') + 1})")
        return None
    problem = column_problem(names, expected)
    if problem:
        verdict.refuse(problem)
        return None
    if verdict.rows == 0 and not source.sparse:
        verdict.refuse("header only, no rows")
        return None
    return names


def check_keys(verdict: FileVerdict, keys: list[str], source: data_contract.Source) -> bool:
    """A JSON Lines file's keys (over all its lines) against the contract."""
    if verdict.problem:
        return False
    if not keys:
        verdict.refuse("no line is a JSON object")
        return False
    problem = column_problem(keys, data_contract.names(source.columns))
    if problem:
        verdict.refuse(problem)
        return False
    return True


def column_problem(found: list[str], expected: list[str]) -> str | None:
    """ "column amount missing, amount_cents unexpected", "duplicate column amount", or None."""
    duplicated = sorted(n for n, k in Counter(found).items() if k > 1)
    if duplicated:
        return f"duplicate column{'s' if len(duplicated) > 1 else ''} {', '.join(duplicated)}"
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in found if n not in expected]
    parts = []
    if missing:
        parts.append(f"column{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
    if unexpected:
        parts.append(f"{', '.join(unexpected)} unexpected")
    return ", ".join(parts) or None


# ---- content: one aggregation over the staged, typed batch -----------------------------------------------
def check_content(staged: DataFrame, verdicts: list[FileVerdict], source: data_contract.Source, s: Settings) -> None:
    """Count per file what the contract cares about and refuse the files that break it in bulk.

    `staged` is the typed batch (evergreen.pipeline.transforms.ingest.type_batch) of the files in
    `verdicts` that passed the structure checks. Each such verdict is marked `parsed`; its row count must
    equal the rows counted from its bytes (else the reader and the count disagree: the file is refused
    and quarantined line by line, so no row is lost either way).
    """
    contract = source.columns
    raw = F.col(data_contract.RAW)
    # A malformed line is counted once, as malformed: its half-parsed fields do not count again as nulls,
    # untyped values or unknown codes.
    parsed = F.col(data_contract.CORRUPT_RECORD).isNull()
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(data_contract.CORRUPT_RECORD).alias("malformed")]
    aggs.append(F.first(data_contract.CORRUPT_RECORD, ignorenulls=True).alias("malformed_example"))
    for c in contract:
        if c.type != data_contract.STRING:
            untyped = F.when(parsed, raw[c.name])
            aggs.append(F.count(untyped).alias(f"{c.name}__untyped"))
            aggs.append(F.first(untyped, ignorenulls=True).alias(f"{c.name}__untyped_example"))
    for c in data_contract.checked_not_null(contract):
        aggs.append(F.count(F.when(parsed & F.col(c.name).isNull(), 1)).alias(f"{c.name}__null"))
    for c in contract:
        if c.allowed:
            outside = parsed & F.col(c.name).isNotNull() & ~F.col(c.name).isin(*c.allowed)
            aggs.append(F.count(F.when(parsed, F.col(c.name))).alias(f"{c.name}__non_null"))
            aggs.append(F.count(F.when(outside, 1)).alias(f"{c.name}__outside"))
            aggs.append(F.first(F.when(outside, F.col(c.name)), ignorenulls=True).alias(f"{c.name}__outside_example"))
    per_file = staged.groupBy(data_contract.SOURCE_FILE).agg(*aggs).collect()
    stats = {r[data_contract.SOURCE_FILE]: r.asDict() for r in per_file}

    for v in verdicts:
        if v.problem:
            continue
        got = stats.get(v.path, {"rows": 0})
        v.statistics = {k: val for k, val in got.items() if k != data_contract.SOURCE_FILE}
        if got["rows"] != v.rows:
            v.refuse(f"{v.rows} rows in the file but {got['rows']} read from it (a line break inside a quoted value?)")
            continue
        v.parsed = True
        problems = _content_problems(got, contract, s) if got["rows"] else []  # a sparse feed's header alone
        if problems:
            v.refuse("; ".join(problems))


def _content_problems(got: dict[str, Any], contract: tuple[data_contract.Column, ...], s: Settings) -> list[str]:
    rows = got["rows"] or 1
    tolerance = _pct(s.null_burst_tolerance)
    problems = []
    if got["malformed"] / rows > s.null_burst_tolerance:
        problems.append(
            f"{_pct(got['malformed'] / rows)} of rows malformed (allowed {tolerance}; "
            f"e.g. {quote(got['malformed_example'])})"
        )
    untyped = set()
    for c in contract:
        if c.type == data_contract.STRING:
            continue
        bad = got.get(f"{c.name}__untyped", 0)
        if bad / rows > s.null_burst_tolerance:
            untyped.add(c.name)
            problems.append(
                f"{c.name} not {type_word(c.type)} in {_pct(bad / rows)} of rows (allowed {tolerance}; "
                f"e.g. {quote(got[f'{c.name}__untyped_example'])})"
            )
    for c in data_contract.checked_not_null(contract):
        nulls = got.get(f"{c.name}__null", 0)
        if c.name not in untyped and nulls / rows > s.null_burst_tolerance:
            problems.append(f"{c.name} null in {_pct(nulls / rows)} of rows (allowed {tolerance})")
    for c in contract:
        if not c.allowed:
            continue
        non_null, outside = got.get(f"{c.name}__non_null", 0), got.get(f"{c.name}__outside", 0)
        if non_null and outside / non_null > s.allowed_values_tolerance:
            problems.append(
                f"{c.name} outside its allowed values in {_pct(outside / non_null)} of non-null rows "
                f"(allowed {_pct(s.allowed_values_tolerance)}; e.g. {quote(got[f'{c.name}__outside_example'])})"
            )
    return problems


def quote(value: Any) -> str:
    """A landed value as a reason quotes it: 'abc', cut at EXAMPLE_CHARS, one line."""
    text = "" if value is None else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + "..."
    return f"'{text}'"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


# ---- the day's verdict ------------------------------------------------------------------------------------
def day_gate(batch_id: str, verdicts: list[FileVerdict], contract_gate: GateResult | None) -> GateResult:
    """The raw gate of a day from its files' verdicts and (when files were left) the GX raw contract on them.

    passed: every file accepted and the contract held; partial: some files refused, the rest held;
    failed: no file left, or the contract refused what was left (then every row goes to quarantine).
    """
    refused = [v for v in verdicts if not v.accepted]
    landing = sum(v.rows for v in verdicts)
    accepted_rows = sum(v.rows for v in verdicts if v.accepted)
    named = "; ".join(v.reason for v in refused if v.reason)
    files = {v.name: v.to_dict() for v in verdicts}
    if contract_gate is not None and contract_gate.status == FAILED:
        reason = contract_gate.reason + (f"; refused files: {named}" if refused else "")
        gate = GateResult(**{**contract_gate.to_dict(), "reason": reason})
    elif len(refused) == len(verdicts):
        reason = f"raw contract failed for {batch_id}: " + (named or "no landing files")
        gate = GateResult(gate=RAW_CONTRACT, batch_id=batch_id, status=FAILED, reason=reason, row_count=landing)
    elif refused:
        kept = len(verdicts) - len(refused)
        reason = (
            f"raw contract partial for {batch_id}: {len(refused)} of {len(verdicts)} files refused "
            f"({named}); {accepted_rows} rows of {kept} file{'s' if kept > 1 else ''} passed"
        )
        base = contract_gate.to_dict() if contract_gate is not None else {}
        fields = {"gate": RAW_CONTRACT, "batch_id": batch_id, "status": PARTIAL, "reason": reason}
        gate = GateResult(**{**base, **fields, "row_count": accepted_rows})
    elif contract_gate is not None:
        gate = contract_gate
    else:
        gate = GateResult(
            gate=RAW_CONTRACT,
            batch_id=batch_id,
            status=PASSED,
            reason=f"raw contract passed for {batch_id}: {accepted_rows} rows",
            row_count=accepted_rows,
        )
    gate.statistics = {**gate.statistics, "files": files, "landing_rows": landing, "refused_files": len(refused)}
    return gate
