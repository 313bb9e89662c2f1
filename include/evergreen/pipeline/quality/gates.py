"""The two gates: the raw contract on a staged bronze batch, clean quality on a staged silver batch.

Each takes the Spark DataFrame the job is about to commit, validates it with GX, writes the full
validation result and its Data Docs page, and returns a `GateResult` whose `reason` is one line a
person can act on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame

from evergreen.config import settings
from evergreen.pipeline.quality import _gx, suites
from evergreen.pipeline.quality.gate_result import CLEAN_QUALITY, FAILED, PARTIAL, PASSED, RAW_CONTRACT, GateResult

DEFAULT_ENGINE = _gx.DEFAULT_ENGINE
TOP_QUARANTINE_REASONS = 3
EXAMPLES = 3  # unexpected values quoted in a reason


def raw_contract_gate(df: DataFrame, batch_id: str, *, engine: str | None = None) -> GateResult:
    """Pass/fail: does this staged bronze batch look like the feed the contract describes?"""
    engine = engine or DEFAULT_ENGINE
    run = _run(RAW_CONTRACT, df, batch_id, engine, "bronze_staging", suites.raw_contract(engine, settings()))
    if run.validation.success:
        status, reason = PASSED, f"raw contract passed for {batch_id}: {run.row_count} rows"
    else:
        status, reason = FAILED, f"raw contract failed for {batch_id}: {_explain(run.failed)}"
    return run.result(status, reason)


def clean_quality_gate(
    df: DataFrame,
    batch_id: str,
    *,
    previous_row_count: int | None,
    quarantined: dict[str, int],
    engine: str | None = None,
    partial_landing: bool = False,
) -> GateResult:
    """Failed if silver breaks an expectation; partial if clean had to quarantine too much; else passed.

    `quarantined` maps a quarantine reason to the rows clean set aside for it in this batch.
    `partial_landing`: the file gate refused some of the day's files, so the day is short by design; the
    row count only has to be positive and not above the day-over-day bound.
    """
    s = settings()
    engine = engine or DEFAULT_ENGINE
    bounds = suites.row_count_parameters(previous_row_count, s.row_count_tolerance, partial=partial_landing)
    run = _run(CLEAN_QUALITY, df, batch_id, engine, "silver_staging", suites.clean_quality(s), bounds)

    quarantined_rows = sum(quarantined.values())
    total = quarantined_rows + run.row_count
    share = quarantined_rows / total if total else 0.0
    if not run.validation.success:
        status, reason = FAILED, f"clean quality failed for {batch_id}: {_explain(run.failed, previous_row_count)}"
    elif share > s.quarantine_warn_share:
        top = sorted(quarantined.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_QUARANTINE_REASONS]
        named = ", ".join(f"{why} {_pct(rows / total)}" for why, rows in top)
        status = PARTIAL
        reason = f"clean quality partial for {batch_id}: {_pct(share)} of rows quarantined ({named})"
    else:
        status, reason = PASSED, f"clean quality passed for {batch_id}: {run.row_count} rows"

    run.statistics.update(
        previous_row_count=previous_row_count,
        row_count_bounds=[bounds[suites.MIN_ROWS], bounds[suites.MAX_ROWS]],
        quarantined=dict(quarantined),
        quarantined_rows=quarantined_rows,
        quarantined_share=share,
        quarantine_warn_share=s.quarantine_warn_share,
    )
    return run.result(status, reason)


@dataclass
class _GateRun:
    gate: str
    batch_id: str
    validation: _gx.Validation
    failed: list[dict[str, Any]]
    row_count: int
    statistics: dict[str, Any]

    def result(self, status: str, reason: str) -> GateResult:
        docs = self.validation.docs_path
        return GateResult(
            gate=self.gate,
            batch_id=self.batch_id,
            status=status,
            reason=reason,
            row_count=self.row_count,
            failed_expectations=self.failed,
            statistics=self.statistics,
            result_path=str(self.validation.result_path),
            docs_path=str(docs) if docs else None,
        )


def _run(
    gate: str,
    df: DataFrame,
    batch_id: str,
    engine: str,
    asset: str,
    expectations: list[Any],
    parameters: dict[str, Any] | None = None,
) -> _GateRun:
    with _engine_data(df, engine) as (data, convert_seconds):
        validation, seconds = _gx.validate(
            gate=gate,
            batch_id=batch_id,
            data=data,
            engine=engine,
            asset=asset,
            expectations=expectations,
            parameters=parameters,
        )
        row_count = _row_count(validation.result, data)
    statistics = {
        **validation.result.get("statistics", {}),
        "engine": engine,
        "seconds": {k: round(v, 3) for k, v in {"convert": convert_seconds, **seconds}.items()},
    }
    return _GateRun(gate, batch_id, validation, _failed_expectations(validation.result), row_count, statistics)


@contextmanager
def _engine_data(df: DataFrame, engine: str) -> Iterator[tuple[Any, float]]:
    """The batch as the engine validates it, and the seconds it took to get there."""
    if engine == _gx.SPARK:
        # GX runs about ten Spark jobs on the batch; without a cache each one recomputes the staged plan
        # (parsing the landing files, de-duplicating). The jobs persist their staged batch already; this
        # covers a caller that did not, leaves a caller's own cache alone, and is undone afterwards
        # (GX's own persist, which never unpersists, is switched off in evergreen.pipeline.quality._gx).
        cached_here = not df.is_cached
        if cached_here:
            df.persist()
        try:
            yield df, 0.0
        finally:
            if cached_here:
                df.unpersist()
        return
    if engine != _gx.PANDAS:
        raise ValueError(f"unknown gate engine {engine!r} (expected {_gx.SPARK!r} or {_gx.PANDAS!r})")
    started = time.perf_counter()
    # One Spark job computes the batch once; Arrow is on in every session (evergreen.pipeline.spark).
    pdf = df.toPandas()
    yield pdf, time.perf_counter() - started


def _row_count(result: dict[str, Any], data: Any) -> int:
    for r in result["results"]:
        if r["expectation_config"]["type"] == "expect_table_row_count_to_be_between":
            observed = r["result"].get("observed_value")
            if observed is not None:
                return int(observed)
    return int(data.count()) if hasattr(data, "sparkSession") else len(data)


# -- reading GX results ------------------------------------------------------------------------------

_NOT_EXPECTED_KWARGS = ("batch_id", "column")


def _failed_expectations(result: dict[str, Any]) -> list[dict[str, Any]]:
    failed = []
    for r in result["results"]:
        if r["success"]:
            continue
        config, outcome = r["expectation_config"], r.get("result") or {}
        kwargs = config.get("kwargs", {})
        entry: dict[str, Any] = {
            "expectation": config["type"],
            "column": kwargs.get("column"),
            "observed": _observed(outcome),
            "expected": {k: v for k, v in kwargs.items() if k not in _NOT_EXPECTED_KWARGS},
        }
        error = _error_message(r.get("exception_info") or {})
        if error:
            entry["error"] = error
        failed.append(entry)
    return failed


def _observed(outcome: dict[str, Any]) -> Any:
    if "observed_value" in outcome:
        details = outcome.get("details")
        return {"value": outcome["observed_value"], **({"details": details} if details else {})}
    if "unexpected_count" in outcome:
        element_count = outcome.get("element_count") or 0
        missing = outcome.get("missing_count") or 0
        return {
            "unexpected_count": outcome["unexpected_count"],
            "element_count": element_count,
            "missing_count": missing,
            # Nulls are no example: a not-null failure lists nothing but None.
            "examples": [v for v in outcome.get("partial_unexpected_list") or [] if v is not None][:EXAMPLES],
        }
    return None


def _error_message(info: dict[str, Any]) -> str | None:
    # GX 1.24 reports an expectation's exception either flat ({"raised_exception": ..}) or keyed by the
    # metric that raised ({"MetricConfigurationID(..)": {"raised_exception": ..}}).
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _explain(failed: list[dict[str, Any]], previous_row_count: int | None = None) -> str:
    """One line: the failures in the order of the suite, a column the set check already reported as
    missing not repeated for each expectation on it."""
    missing = {c for f in failed for c in _column_mismatch(f).get("missing", ())}
    parts = []
    for f in failed:
        if f["column"] in missing:
            continue
        part = _describe(f, previous_row_count)
        if part not in parts:
            parts.append(part)
    return "; ".join(parts) or "expectations failed"


def _describe(f: dict[str, Any], previous_row_count: int | None) -> str:
    kind, column, observed, expected = f["expectation"], f["column"], f["observed"] or {}, f["expected"]
    if f.get("error"):
        if column and "does not exist" in f["error"]:
            return f"column {column} missing"
        return f"{kind}{f' on {column}' if column else ''} could not run: {f['error']}"
    if kind == "expect_table_columns_to_match_set":
        mismatch = _column_mismatch(f)
        pieces = [f"{k} {', '.join(sorted(mismatch[k]))}" for k in ("missing", "unexpected") if mismatch.get(k)]
        return f"columns differ from contract: {'; '.join(pieces) or observed.get('value')}"
    if kind == "expect_column_values_to_be_of_type":
        return f"{column} is {observed.get('value')} (expected {expected.get('type_')})"
    if kind == "expect_table_row_count_to_be_between":
        low, high = expected.get("min_value"), expected.get("max_value")
        rows = observed.get("value")
        if high is None:
            return f"row count {rows} below {_num(low)}"
        since = f"; previous {previous_row_count}" if previous_row_count is not None else ""
        return f"row count {rows} outside [{_num(low)}, {_num(high)}]{since}"
    count = observed.get("unexpected_count", 0)
    rows = observed.get("element_count", 0)
    non_null = rows - observed.get("missing_count", 0)
    allowed = 1.0 - (expected.get("mostly") or 1.0)
    examples = ", ".join(repr(v) for v in observed.get("examples", []))
    eg = f"; e.g. {examples}" if examples else ""
    if kind == "expect_column_values_to_not_be_null":
        return f"{column} null in {_pct(count / rows if rows else 0)} of rows (allowed {_pct(allowed)})"
    if kind == "expect_column_values_to_be_in_set":
        share = count / non_null if non_null else 0
        return f"{column} outside allowed values in {_pct(share)} of non-null rows (allowed {_pct(allowed)}{eg})"
    if kind == "expect_column_values_to_be_unique":
        return f"{column} not unique: {count} rows share a value{eg}"
    if kind == "expect_column_values_to_be_between":
        low, high = _num(expected.get("min_value")), _num(expected.get("max_value"))
        return f"{column} outside [{low}, {high}] in {count} rows{eg}"
    return f"{kind}{f' on {column}' if column else ''} failed (observed {observed})"


def _column_mismatch(f: dict[str, Any]) -> dict[str, list[str]]:
    """{"missing": [...], "unexpected": [...]} of a failed column-set check, else {}."""
    if f["expectation"] != "expect_table_columns_to_match_set":
        return {}
    return ((f["observed"] or {}).get("details") or {}).get("mismatched") or {}


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _num(value: Any) -> str:
    """Row-count bounds and amount limits as people write them: 1500000, not 1.5e+06 or 1500000.0."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.10g}"
    return str(value)
