-- The drift event ledger: every drift event the watcher accepted (and every dead letter it could not
-- deliver), with what became of it. Airflow's asset events can be dropped or grouped by timing
-- (apache/airflow#56050, #56750), so this table, not Airflow, says which run consumed which event.
-- Written only by evergreen.events.ledger; portable DDL (SQLite and PostgreSQL).
--
-- status: armed     fired one asset event; waits for a retrain run to claim it
--         queued    arrived while another event of the model was armed: rides along with it (no event)
--         consumed  claimed by run_id, which trains on data up to as_of
--         covered   needs no run of its own: run_id already trains on data up to as_of >= drift_window
--         dead_letter_failed  a refused message that could not be written to the dead-letter topic
--                   (payload holds the dead-letter record: nothing is silently lost)
-- drift_window/source_* are not named window/offset: both are reserved words in PostgreSQL.
-- Times are naive UTC. drift_window and as_of are ISO dates (YYYY-MM-DD), so they compare as text.
CREATE TABLE IF NOT EXISTS drift_events (
    event_id          VARCHAR(80)  PRIMARY KEY,
    model             VARCHAR(128),
    model_version     VARCHAR(64),
    drift_window      VARCHAR(10),
    payload           TEXT         NOT NULL,
    source_topic      VARCHAR(255),
    source_partition  INTEGER,
    source_offset     BIGINT,
    received_at       TIMESTAMP    NOT NULL,
    status            VARCHAR(32)  NOT NULL,
    run_id            VARCHAR(250),
    as_of             VARCHAR(10),
    settled_at        TIMESTAMP,
    reason            TEXT
);

CREATE INDEX IF NOT EXISTS drift_events_model_status ON drift_events (model, status, received_at);
CREATE INDEX IF NOT EXISTS drift_events_run_id ON drift_events (run_id);

-- Retrain runs that claimed drift events (or claimed none: a cron or new-data run still covers later
-- events for the same data). status: running (claimed), settled (finished), released (failed: covers
-- nothing; what it held is queued again).
CREATE TABLE IF NOT EXISTS drift_runs (
    run_id      VARCHAR(250) PRIMARY KEY,
    model       VARCHAR(128) NOT NULL,
    as_of       VARCHAR(10)  NOT NULL,
    claimed_at  TIMESTAMP    NOT NULL,
    settled_at  TIMESTAMP,
    status      VARCHAR(32)  NOT NULL
);

CREATE INDEX IF NOT EXISTS drift_runs_model_claimed_at ON drift_runs (model, claimed_at);
