-- One PostgreSQL server, one database and one login per service (run once, on an empty data volume).
-- Passwords arrive as psql variables from postgres-init.sh, which reads them from the container's
-- environment (docker-compose.yaml passes them from .env): nothing secret is written in this file.
-- `evergreen` holds the project's own tables (promotions, drift reports, the event ledger: versioned
-- migrations in the evergreen package, applied by the compose stack's one-shot `evergreen-db-init`, version
-- table `evergreen_schema_version`) and, in this stack, the emulated operational source tables too
-- (customers, merchants: plain DDL run by the synthetic data generator). The table names do not overlap.

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;

CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;

CREATE ROLE evergreen LOGIN PASSWORD :'evergreen_password';
CREATE DATABASE evergreen OWNER evergreen;
