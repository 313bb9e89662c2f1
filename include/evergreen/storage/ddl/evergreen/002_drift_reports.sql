-- Drift reports: one row per (model, window day), written by evergreen.monitoring.watch_day. Re-running a
-- day replaces its row (delete + insert in one transaction), so the k-of-n rule never counts a day twice.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. evergreen.db.apply_ddl(engine, "evergreen").
-- computed_at is UTC. feature_scores, drifted_features, thresholds, performance and reasons hold JSON text.
-- breached: this window alone breaches; fires: the rule (k of the last n windows, the latest included) fires.
CREATE TABLE IF NOT EXISTS drift_reports (
    model             VARCHAR(128)     NOT NULL,
    window_day        DATE             NOT NULL,
    model_version     VARCHAR(32)      NOT NULL,
    computed_at       TIMESTAMP        NOT NULL,
    rows_profiled     INTEGER          NOT NULL,
    measure           VARCHAR(32)      NOT NULL,
    feature_scores    TEXT             NOT NULL,
    drifted_features  TEXT             NOT NULL,
    thresholds        TEXT             NOT NULL,
    prediction_drift  DOUBLE PRECISION,
    performance       TEXT,
    reasons           TEXT             NOT NULL,
    breached          BOOLEAN          NOT NULL,
    fires             BOOLEAN          NOT NULL,
    rule              TEXT             NOT NULL,
    html_path         TEXT,
    PRIMARY KEY (model, window_day)
);

CREATE INDEX IF NOT EXISTS drift_reports_model_version ON drift_reports (model, model_version, window_day);
