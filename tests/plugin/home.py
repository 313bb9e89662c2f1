"""An Evergreen home the page can show, built by the package's own functions (no hand-written rows).

- registry: four decisions on real XGBoost models trained on synthetic gold (tests/integration/test_registry.py
  does the same): a weak first model rejected, a middling one promoted, a strong one promoted (it becomes
  champion, the middling one previous champion), the weak one challenged again and rejected (challenger);
- drift: six windows of the champion's predecessor written with `report_table.replace_window` and their HTML
  pages with `drift_report.write_html`; the fifth and sixth breach, the sixth fires;
- events: a drift event consumed by the strong model's retrain run (`ledger.record` + `ledger.claim`), and a
  later one still armed;
- lake: three days of Parquet partitions and step reports, the middle one a broken batch (raw contract failed,
  whole batch quarantined), with Data Docs pages where the gates put them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = "2026-01-24"
RUN_MID = "manual__2026-01-23T03:00:00+00:00"
RUN_STRONG = "manual__2026-01-24T03:00:00+00:00"
EVENT_CONSUMED = "drift.fraud.v2.2026-01-20"
EVENT_ARMED = "drift.fraud.v3.2026-01-25"
DRIFT_DAYS = [f"2026-01-{d}" for d in range(15, 21)]
BROKEN_DAY = "2026-01-05"
HEALTH_DAYS = ["2026-01-04", BROKEN_DAY, "2026-01-06"]
HOSTILE = "<script>alert('x')</script>"  # lands in a drift reason and a gate reason: must show as text
RECIPES = {
    "weak": {"max_depth": 1, "n_estimators": 3, "learning_rate": 0.05},
    "mid": {"max_depth": 2, "n_estimators": 20},
    "strong": {"n_estimators": 150},
}


@dataclass
class Home:
    path: Path
    versions: dict[str, str] = field(default_factory=dict)  # recipe -> registered version
    run_ids: dict[str, str] = field(default_factory=dict)  # recipe -> MLflow run id
    docs_page: str = ""  # the broken day's Data Docs page, relative to the site root


def relaxed_spec():
    """fraud.yaml with the scoring-time guard relaxed (milliseconds on a shared box are noise)."""
    from evergreen.contracts.model_spec import Guard, load_spec

    base = load_spec("fraud")
    guards = dict(base.metric.guards)
    guards["score_ms_per_10k"] = Guard(tolerance_ratio=50.0, lower_is_better=True)
    return base.model_copy(update={"metric": base.metric.model_copy(update={"guards": guards})})


def build(root: Path) -> Home:
    """Populate the home the current settings point at (EVERGREEN_HOME = `root`)."""
    from evergreen.storage import migrate

    migrate.upgrade()  # a new home's evergreen DB, as setup makes it (code checks, never migrates)
    home = Home(root)
    _registry(home, root)
    _drift(home)
    _events(home)
    _lake(home, root)
    return home


def _registry(home: Home, root: Path) -> None:
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.registry.mlflow_log import log_training
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.training import load_training_data
    from evergreen.training.train import train

    spec = relaxed_spec()
    gold = root / "synthetic-lake"
    write_gold(synthetic_gold("2026-01-01", 16, 3000, built_as_of=AS_OF), gold / "gold" / "features")
    data = load_training_data(spec, as_of=AS_OF, lake_root=str(gold))
    refs = {}
    for name, params in RECIPES.items():
        result = train(spec, data, params_override=params, plots_dir=root / "plots" / name)
        run = RUN_STRONG if name == "strong" else RUN_MID
        tags = {"airflow_dag_id": "retrain", "airflow_run_id": run}
        if name == "strong":
            tags["drift_event_ids"] = EVENT_CONSUMED
        refs[name] = log_training(result, data, spec, lineage_tags=tags)
        home.versions[name] = refs[name].version
        home.run_ids[name] = refs[name].run_id

    def trigger(run_id: str, events: list[str] | None = None) -> dict:
        return {"dag_id": "retrain", "run_id": run_id, "run_type": "manual", "drift_events": events or []}

    challenge_and_promote(spec, refs["weak"], data.holdout, triggered_by=trigger(RUN_MID))
    challenge_and_promote(spec, refs["mid"], data.holdout, triggered_by=trigger(RUN_MID))
    challenge_and_promote(spec, refs["strong"], data.holdout, triggered_by=trigger(RUN_STRONG, [EVENT_CONSUMED]))
    challenge_and_promote(spec, refs["weak"], data.holdout, triggered_by=trigger(RUN_STRONG))


def _drift(home: Home) -> None:
    from evergreen.contracts.model_spec import load_spec
    from evergreen.monitoring import report_table
    from evergreen.monitoring.daily_watch import report_path
    from evergreen.monitoring.drift_report import DriftReport, write_html

    spec = load_spec("fraud")
    eng = report_table.engine_with_table()
    history: list[tuple[str, bool]] = []
    for i, day in enumerate(DRIFT_DAYS):
        breached = i >= 4
        history.append((day, breached))
        scores = dict.fromkeys(spec.features.names, 0.02 + 0.005 * i)
        scores["amount"] = 0.31 if breached else 0.04
        drifted = {"amount": 0.31} if breached else {}
        decay = 0.55 if day == DRIFT_DAYS[-1] else 0.05 * i
        performance = {"recall_decay": decay, "breached": decay > 0.4, "verdict": "breach" if decay > 0.4 else "ok"}
        reasons = ["amount drift 0.310 > 0.100"] if breached else []
        if day == DRIFT_DAYS[-1]:
            reasons.append(f"recall decay 0.550 > 0.400 {HOSTILE}")
        fires = report_table_fires(history, spec)
        report = DriftReport(
            model="fraud",
            model_version=home.versions["mid"],
            window=day,
            measure="hellinger",
            feature_scores=scores,
            drifted_features=drifted,
            thresholds={f: (None if f in spec.drift.exclude else spec.drift.threshold(f)) for f in scores},
            prediction_drift=0.03 + 0.01 * i,
            prediction_threshold=spec.drift.prediction_threshold,
            performance=performance,
            breached=breached,
            fires=fires,
            rule=spec.drift.rule,
            reasons=reasons,
            history=history[-spec.drift.n :],
            rows=1000 + i,
            computed_at=f"{day}T06:00:00Z",
        )
        report.html_path = str(write_html(report, report_path("fraud", day)))
        report_table.replace_window(eng, report.table_row(dt.datetime.fromisoformat(f"{day}T06:00:00")))


def report_table_fires(history: list[tuple[str, bool]], spec) -> bool:
    from evergreen.monitoring.rule import fires

    return fires([hit for _, hit in history], spec.drift.k, spec.drift.n)


def _events(home: Home) -> None:
    from evergreen.contracts.drift_event import DriftDetected
    from evergreen.events import ledger
    from evergreen.orchestration.retraining import ledger_key

    def event(event_id: str, version: str, window: str) -> DriftDetected:
        return DriftDetected(
            event_id=event_id,
            model="fraud",
            model_version=version,
            window=window,
            drifted_features={"amount": 0.31},
            rule="2 of the last 3 windows breach and the latest does",
            detected_at=dt.datetime.fromisoformat(f"{window}T06:00:00+00:00"),
        )

    ledger.record(event(EVENT_CONSUMED, home.versions["mid"], "2026-01-20"), now=dt.datetime(2026, 1, 21, 6))
    ledger.claim("fraud", ledger_key(RUN_STRONG, "fraud"), AS_OF, now=dt.datetime(2026, 1, 21, 6, 1))
    ledger.record(event(EVENT_ARMED, home.versions["strong"], "2026-01-25"), now=dt.datetime(2026, 1, 26, 6))


def _rows(n: int, **columns) -> pa.Table:
    return pa.table({"transaction_id": [f"t{i}" for i in range(n)], **{k: [v] * n for k, v in columns.items()}})


def _partition(root: Path, layer: str, table: str, key: str, value: str, rows: pa.Table) -> None:
    folder = root / "lake" / layer / table / f"{key}={value}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, folder / "part-00000.parquet")


def _gate(gate: str, day: str, status: str, reason: str, rows: int, docs: Path | None) -> dict:
    from evergreen.pipeline.quality.gate_result import GateResult

    failed = [{"expectation": "expect_column_to_exist", "column": "amount_cents", "observed": None, "expected": None}]
    return GateResult(
        gate=gate,
        batch_id=f"transactions-{day}",
        status=status,
        reason=reason,
        row_count=rows,
        failed_expectations=failed if status == "failed" else [],
        docs_path=None if docs is None else str(docs),
    ).to_dict()


def _lake(home: Home, root: Path) -> None:
    from evergreen.storage.step_reports import write_report

    site = root / "gx" / "uncommitted" / "data_docs" / "local_site"
    for day in HEALTH_DAYS:
        docs = site / "validations" / "raw_contract" / f"transactions-{day}" / "result.html"
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(f"<html><body><h1>Data Docs: raw_contract transactions-{day}</h1></body></html>")
        batch = f"transactions-{day}"
        if day == BROKEN_DAY:
            reason = f"raw contract failed for {batch}: amount_cents missing {HOSTILE}"
            _partition(
                root, "quarantine", "transactions", "batch_id", batch, _rows(120, stage="raw_contract", reason=reason)
            )
            write_report(
                day,
                "ingest",
                {
                    "day": day,
                    "batch_id": batch,
                    "landing_rows": 120,
                    "bronze_rows": 0,
                    "quarantined_rows": 120,
                    "gate": _gate("raw_contract", day, "failed", reason, 120, docs),
                },
            )
            home.docs_page = docs.relative_to(site).as_posix()
            continue
        q = pa.concat_tables(
            [_rows(2, stage="clean", reason="null_customer_id"), _rows(1, stage="clean", reason="amount_out_of_range")]
        )
        _partition(root, "quarantine", "transactions", "batch_id", batch, q)
        for layer, table, n in (
            ("bronze", "transactions", 100),
            ("silver", "transactions", 97),
            ("gold", "features", 97),
        ):
            _partition(root, layer, table, "event_date", day, _rows(n))
        clean_status = "partial" if day == HEALTH_DAYS[-1] else "passed"
        write_report(
            day,
            "ingest",
            {
                "day": day,
                "batch_id": batch,
                "landing_rows": 100,
                "bronze_rows": 100,
                "quarantined_rows": 0,
                "gate": _gate("raw_contract", day, "passed", "raw contract passed: 100 rows", 100, docs),
            },
        )
        write_report(
            day,
            "clean",
            {
                "day": day,
                "batch_id": batch,
                "bronze_rows": 100,
                "silver_rows": 97,
                "quarantined_rows": 3,
                "quarantine_reasons": {"null_customer_id": 2, "amount_out_of_range": 1},
                "gate": _gate(
                    "clean_quality", day, clean_status, f"clean quality {clean_status}: 3% quarantined", 97, None
                ),
            },
        )
