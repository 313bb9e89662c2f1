-- The promotion audit trail: one row per decision about a model's champion (promote, reject,
-- force_promote, rollback). Written by evergreen.registry; never updated or deleted.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. evergreen.db.apply_ddl(engine, "evergreen").
-- id is a UUID (hex) made by the writer, so no engine-specific auto-increment is needed; order by decided_at.
-- decided_at is UTC. The *_metrics and triggered_by columns hold JSON text (NULL when there is none, e.g.
-- no champion yet, or a rollback, which moves aliases without evaluating anything).
CREATE TABLE IF NOT EXISTS promotions (
    id                  VARCHAR(32)  PRIMARY KEY,
    decided_at          TIMESTAMP    NOT NULL,
    model               VARCHAR(128) NOT NULL,
    challenger_version  VARCHAR(32)  NOT NULL,
    champion_version    VARCHAR(32),
    challenger_metrics  TEXT,
    champion_metrics    TEXT,
    decision            VARCHAR(32)  NOT NULL,
    reason              TEXT         NOT NULL,
    actor               VARCHAR(128) NOT NULL,
    triggered_by        TEXT,
    run_id              VARCHAR(64)
);

CREATE INDEX IF NOT EXISTS promotions_model_decided_at ON promotions (model, decided_at);
