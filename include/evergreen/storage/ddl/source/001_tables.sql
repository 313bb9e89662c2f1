-- Operational source tables the fraud model reads (customers, merchants).
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. evergreen.db.apply_ddl(engine, "source").
CREATE TABLE IF NOT EXISTS customers (
    customer_id   VARCHAR(32) PRIMARY KEY,
    signup_date   DATE        NOT NULL,
    home_country  VARCHAR(2)  NOT NULL,
    segment       VARCHAR(16) NOT NULL
);

CREATE TABLE IF NOT EXISTS merchants (
    merchant_id        VARCHAR(32) PRIMARY KEY,
    merchant_category  VARCHAR(32) NOT NULL,
    merchant_country   VARCHAR(2)  NOT NULL,
    onboarded_date     DATE        NOT NULL
);
