"""The one module that imports great_expectations: a quiet import, the shared file context, and one
validation run (checkpoint -> result JSON -> Data Docs page).

The file context lives at `settings().home / "gx"` and is shared by every job process. GX's file
stores write plain files without locking, so writes go under an exclusive `flock` and validations
under a shared one: two gates may validate at once, but never while the suites or the Data Docs
index are being rewritten.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

# Both must be in place before the first `import great_expectations`: GX logs ~200 INFO lines from its
# API-docs decorators at import time (Airflow's structlog prints every one), and reads the analytics
# switch from the environment. Only GX's own loggers are touched; warnings stay on.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
from great_expectations.core.result_format import ResultFormat  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
)
from great_expectations.exceptions.resource_freshness import ResourceFreshnessAggregateError  # noqa: E402

from evergreen.config import settings  # noqa: E402

PANDAS, SPARK = "pandas", "spark"
DOCS_SITE = "local_site"  # the site a new file context is scaffolded with
BATCH_DEFINITION = "whole_dataframe"
# The engine the gates use unless told otherwise: bench/gate_speed.py measured GX's Spark engine on the
# (persisted) staged DataFrame well ahead of one Arrow toPandas() + GX on pandas, in time and memory.
DEFAULT_ENGINE = SPARK

# Two result formats, two checkpoints over the same validation definition. Every run first gets counts
# and observed values without example values: on Spark each example list is one more full scan per
# column-map expectation, which found nothing on a good batch (about half a passing gate's time).
# Only a failed batch is validated again with examples, under the same run id, so its stored result
# (and Data Docs page) is replaced by the one that shows the offending values.
QUICK = {"result_format": ResultFormat.SUMMARY.value, "partial_unexpected_count": 0}
DIAGNOSE = {"result_format": ResultFormat.SUMMARY.value, "partial_unexpected_count": 20}

_lock = threading.Lock()  # one gate at a time per process touches the context objects
_contexts: dict[Path, Any] = {}
_ensured: dict[tuple[Path, str], Any] = {}  # (root, checkpoint name) -> (signature, checkpoint)


@dataclass
class Validation:
    success: bool
    result: dict[str, Any]  # the GX suite validation result, JSON-ready
    result_path: Path
    docs_path: Path | None


def gx_root() -> Path:
    return settings().home / "gx"


@contextmanager
def _flock(root: Path, *, exclusive: bool) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".evergreen.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _context(root: Path) -> Any:
    ctx = _contexts.get(root)
    if ctx is not None:
        return ctx
    with _flock(root, exclusive=True):
        # `get_context` scaffolds the project on first use and loads it afterwards: that is what makes
        # a second process (or a re-run) reuse the same context instead of failing on existing files.
        ctx = gx.get_context(mode="file", context_root_dir=str(root))
        # GX draws a tqdm bar per validation unless told not to, in the context's config.
        bars = dict(ctx.variables.progress_bars or {})  # a dict once loaded from the YAML
        if bars.get("globally", True) or bars.get("metric_calculations", True) or ctx.config.analytics_enabled:
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            ctx.config.analytics_enabled = False
            ctx.variables.save()
    _contexts[root] = ctx
    return ctx


def _dataframe_batch_definition(ctx: Any, engine: str, asset_name: str) -> Any:
    """Data source `staged_<engine>`, one DataFrame asset per gate, one whole-DataFrame batch definition.
    Each piece is added only when missing: adding rewrites great_expectations.yml."""
    name = f"staged_{engine}"
    try:
        source = ctx.data_sources.get(name)
    except KeyError:
        source = None
    if engine == PANDAS:
        source = source or ctx.data_sources.add_pandas(name=name)
    elif source is None or source.persist:
        # GX's Spark source persists every batch by default and never unpersists it: a leak in a job
        # whose batch was not cached, and a "cache already cached data" warning in one whose was.
        # The gate caches around the validation itself (evergreen.pipeline.quality.gates).
        source = ctx.data_sources.add_or_update_spark(name=name, persist=False)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _expectation_keys(expectations: list[Any]) -> list[str]:
    """What an expectation checks, without the id GX gives it on save."""
    keys = []
    for e in expectations:
        config = e.configuration.to_json_dict()
        config.pop("id", None)
        keys.append(json.dumps(config, sort_keys=True, default=str))
    return sorted(keys)


def _checkpoints(ctx: Any, root: Path, name: str, engine: str, asset: str, expectations: list[Any]) -> Any:
    """Suite, validation definition and the quick and diagnose checkpoints named after `name`.

    The suite is written only when what it checks differs from the stored one. GX 1.24's
    `suites.add_or_update` promises stable ids for unchanged expectations but compares them id
    included, so every call re-ids the whole suite, and every other process's checkpoint then fails
    with "ExpectationSuite ... has changed since it has last been saved".
    """
    wanted = _expectation_keys(expectations)
    cached = _ensured.get((root, name))
    if cached is not None and cached[0] == wanted:
        return cached[1]
    with _flock(root, exclusive=True):
        batch_definition = _dataframe_batch_definition(ctx, engine, asset)
        try:
            suite = ctx.suites.get(name)
        except gx.exceptions.DataContextError:
            suite = None
        if suite is None or _expectation_keys(suite.expectations) != wanted:
            suite = ctx.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
        # These two keep their ids on add_or_update, so re-running it (a re-run, another process) is a
        # rewrite of the same content, never an "already exists" error.
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        # No UpdateDataDocsAction: docs are built after the run under the exclusive lock instead.
        checkpoints = tuple(
            ctx.checkpoints.add_or_update(
                gx.Checkpoint(name=cp_name, validation_definitions=[definition], result_format=result_format)
            )
            for cp_name, result_format in ((name, QUICK), (f"{name}_diagnose", DIAGNOSE))
        )
    _ensured[(root, name)] = (wanted, checkpoints)
    return checkpoints


def validate(
    *,
    gate: str,
    batch_id: str,
    data: Any,
    engine: str,
    asset: str,
    expectations: list[Any],
    parameters: dict[str, Any] | None = None,
) -> tuple[Validation, dict[str, float]]:
    """Run one gate's suite on `data` (a pandas or Spark DataFrame, matching `engine`)."""
    root = gx_root()
    seconds: dict[str, float] = {}
    with _lock:
        ctx = _context(root)
        name = gate if engine == DEFAULT_ENGINE else f"{gate}_{engine}"

        # The run name is the batch id, so Data Docs list validations by batch.
        run_id = RunIdentifier(run_name=batch_id, run_time=dt.datetime.now(dt.UTC))

        def run(diagnose: bool) -> Any:
            started = time.perf_counter()
            for attempt in (1, 2):
                checkpoint = _checkpoints(ctx, root, name, engine, asset, expectations)[int(diagnose)]
                try:
                    with _flock(root, exclusive=False):
                        outcome = checkpoint.run(
                            batch_parameters={"dataframe": data},
                            expectation_parameters=parameters or {},
                            run_id=run_id,
                        )
                    break
                except ResourceFreshnessAggregateError:
                    # Another process rewrote the suite (its settings differ from ours): write ours
                    # back and run once more, rather than fail the job on a bookkeeping race.
                    if attempt == 2:
                        raise
                    _ensured.pop((root, name), None)
            seconds["diagnose" if diagnose else "validate"] = time.perf_counter() - started
            return outcome

        outcome = run(diagnose=False)
        if not outcome.success:
            outcome = run(diagnose=True)
        ((result_id, suite_result),) = outcome.run_results.items()

        started = time.perf_counter()
        with _flock(root, exclusive=True):
            ctx.build_data_docs(
                site_names=[DOCS_SITE],
                resource_identifiers=[result_id, ExpectationSuiteIdentifier(name=name)],
            )
            urls = ctx.get_docs_sites_urls(resource_identifier=result_id, site_names=[DOCS_SITE])
        seconds["docs"] = time.perf_counter() - started

    result = suite_result.to_json_dict()
    result_path = settings().home / "reports" / "gates" / batch_id / f"{gate}.json"
    _write_atomically(result_path, json.dumps(result, indent=2, default=str))
    return Validation(bool(outcome.success), result, result_path, _docs_page(root, urls)), seconds


def _docs_page(root: Path, urls: list[dict[str, Any]]) -> Path | None:
    """The validation's own page when GX names one, else the site index."""
    for site in urls:
        url = site.get("site_url") or ""
        path = Path(unquote(urlparse(url).path)) if url.startswith("file://") else None
        if path is not None and path.exists():
            return path
    index = root / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"
    return index if index.exists() else None


def _write_atomically(path: Path, text: str) -> None:
    """Readers (the DAG's gate task, the UI) never see a half-written result, even on a re-run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
