-- Operational source tables the fraud model reads (customers, merchants), as the emulated upstream system
-- has them. Plain DDL, not migrations: upstream owns these shapes; the synthetic generator only stands in for
-- it (evergreen.devtools.datagen.generate runs this file). Portable: SQLite and PostgreSQL.
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
