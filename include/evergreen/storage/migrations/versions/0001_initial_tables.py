"""The project's four tables, exactly as the pre-migration DDL files made them.

Revision ID: 0001
Revises:
Create Date: 2026-11-20

Before migrations, `CREATE TABLE IF NOT EXISTS` DDL was re-applied at run time, so existing databases already
hold these tables (with rows) and no version table. This revision adopts them: a table that exists is kept
as it is, after checking it has exactly these columns; only what is missing is created. On an empty database
it simply creates everything. Either way the database ends up at 0001 with the same shape.

Column types, nullability, keys and index names are the old DDL's, so fresh and adopted databases are alike
(tests/integration/test_migrations.py compares them on SQLite and PostgreSQL). That includes primary-key
columns declared without NOT NULL (promotions.id, drift_events.event_id, drift_runs.run_id): SQLite then
accepts a NULL key where PostgreSQL does not; the writers always set them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    # nullable=True: no NOT NULL in the DDL, as the old `name TYPE PRIMARY KEY` column (see the docstring).
    return sa.Column(name, type_, primary_key=True, nullable=True)


def _tables() -> list[tuple[str, list[sa.Column], list[tuple[str, tuple[str, ...]]]]]:
    """(table, its columns, its (index name, columns)), in creation order; fresh Column objects per call."""
    # The promotion audit trail: one row per decision about a model's champion (promote, reject,
    # force_promote, rollback). Written by evergreen.registry.audit; never updated or deleted.
    # id is a UUID (hex) made by the writer, so no engine-specific auto-increment is needed; order by
    # decided_at (UTC). The *_metrics and triggered_by columns hold JSON text (NULL when there is none,
    # e.g. no champion yet, or a rollback, which moves aliases without evaluating anything).
    promotions = [
        _key("id", sa.VARCHAR(32)),
        sa.Column("decided_at", sa.TIMESTAMP(), nullable=False),
        sa.Column("model", sa.VARCHAR(128), nullable=False),
        sa.Column("challenger_version", sa.VARCHAR(32), nullable=False),
        sa.Column("champion_version", sa.VARCHAR(32)),
        sa.Column("challenger_metrics", sa.TEXT()),
        sa.Column("champion_metrics", sa.TEXT()),
        sa.Column("decision", sa.VARCHAR(32), nullable=False),
        sa.Column("reason", sa.TEXT(), nullable=False),
        sa.Column("actor", sa.VARCHAR(128), nullable=False),
        sa.Column("triggered_by", sa.TEXT()),
        sa.Column("run_id", sa.VARCHAR(64)),
    ]
    # Drift reports: one row per (model, window day), written by evergreen.monitoring.report_table. Re-running
    # a day replaces its row (delete + insert in one transaction), so the k-of-n rule never counts a day twice.
    # computed_at is UTC. feature_scores, drifted_features, thresholds, performance and reasons hold JSON
    # text. breached: this window alone breaches; fires: the rule (k of the last n windows, the latest
    # included) fires.
    drift_reports = [
        sa.Column("model", sa.VARCHAR(128), primary_key=True, nullable=False),
        sa.Column("window_day", sa.DATE(), primary_key=True, nullable=False),
        sa.Column("model_version", sa.VARCHAR(32), nullable=False),
        sa.Column("computed_at", sa.TIMESTAMP(), nullable=False),
        sa.Column("rows_profiled", sa.INTEGER(), nullable=False),
        sa.Column("measure", sa.VARCHAR(32), nullable=False),
        sa.Column("feature_scores", sa.TEXT(), nullable=False),
        sa.Column("drifted_features", sa.TEXT(), nullable=False),
        sa.Column("thresholds", sa.TEXT(), nullable=False),
        sa.Column("prediction_drift", sa.DOUBLE_PRECISION()),
        sa.Column("performance", sa.TEXT()),
        sa.Column("reasons", sa.TEXT(), nullable=False),
        sa.Column("breached", sa.BOOLEAN(), nullable=False),
        sa.Column("fires", sa.BOOLEAN(), nullable=False),
        sa.Column("rule", sa.TEXT(), nullable=False),
        sa.Column("html_path", sa.TEXT()),
    ]
    # The drift event ledger: every drift event the watcher accepted (and every dead letter it could not
    # deliver), with what became of it. Airflow's asset events can be dropped or grouped by timing
    # (apache/airflow#56050, #56750), so this table, not Airflow, says which run consumed which event.
    # Written only by evergreen.events.ledger.
    #
    # status: armed     fired one asset event; waits for a retrain run to claim it
    #         queued    arrived while another event of the model was armed: rides along with it (no event)
    #         consumed  claimed by run_id, which trains on data up to as_of
    #         covered   needs no run of its own: run_id already trains on data up to as_of >= drift_window
    #         dead_letter_failed  a refused message that could not be written to the dead-letter topic
    #                   (payload holds the dead-letter record: nothing is silently lost)
    # drift_window/source_* are not named window/offset: both are reserved words in PostgreSQL.
    # Times are naive UTC. drift_window and as_of are ISO dates (YYYY-MM-DD), so they compare as text.
    drift_events = [
        _key("event_id", sa.VARCHAR(80)),
        sa.Column("model", sa.VARCHAR(128)),
        sa.Column("model_version", sa.VARCHAR(64)),
        sa.Column("drift_window", sa.VARCHAR(10)),
        sa.Column("payload", sa.TEXT(), nullable=False),
        sa.Column("source_topic", sa.VARCHAR(255)),
        sa.Column("source_partition", sa.INTEGER()),
        sa.Column("source_offset", sa.BIGINT()),
        sa.Column("received_at", sa.TIMESTAMP(), nullable=False),
        sa.Column("status", sa.VARCHAR(32), nullable=False),
        sa.Column("run_id", sa.VARCHAR(250)),
        sa.Column("as_of", sa.VARCHAR(10)),
        sa.Column("settled_at", sa.TIMESTAMP()),
        sa.Column("reason", sa.TEXT()),
    ]
    # Retrain runs that claimed drift events (or claimed none: a cron or new-data run still covers later
    # events for the same data). status: running (claimed), settled (finished), released (failed: covers
    # nothing; what it held is queued again).
    drift_runs = [
        _key("run_id", sa.VARCHAR(250)),
        sa.Column("model", sa.VARCHAR(128), nullable=False),
        sa.Column("as_of", sa.VARCHAR(10), nullable=False),
        sa.Column("claimed_at", sa.TIMESTAMP(), nullable=False),
        sa.Column("settled_at", sa.TIMESTAMP()),
        sa.Column("status", sa.VARCHAR(32), nullable=False),
    ]
    return [
        ("promotions", promotions, [("promotions_model_decided_at", ("model", "decided_at"))]),
        ("drift_reports", drift_reports, [("drift_reports_model_version", ("model", "model_version", "window_day"))]),
        (
            "drift_events",
            drift_events,
            [
                ("drift_events_model_status", ("model", "status", "received_at")),
                ("drift_events_run_id", ("run_id",)),
            ],
        ),
        ("drift_runs", drift_runs, [("drift_runs_model_claimed_at", ("model", "claimed_at"))]),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns, indexes in _tables():
        if inspector.has_table(table):
            found = [c["name"] for c in inspector.get_columns(table)]
            expected = [c.name for c in columns]
            if sorted(found) != sorted(expected):
                # Adopting a table of another shape would hide the difference from every later migration.
                raise RuntimeError(
                    f"table {table} exists but is not the pre-migration one: columns {found}, expected {expected}"
                )
            existing = {i["name"] for i in inspector.get_indexes(table)}
        else:
            op.create_table(table, *columns)
            existing = set()
        for name, on in indexes:
            if name not in existing:
                op.create_index(name, table, list(on))


def downgrade() -> None:
    for table, _columns, indexes in reversed(_tables()):
        for name, _ in indexes:
            op.drop_index(name, table_name=table)
        op.drop_table(table)
