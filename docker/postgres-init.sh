#!/usr/bin/env bash
# Runs once from /docker-entrypoint-initdb.d on an empty data volume: feeds postgres-init.sql the
# per-service passwords as psql variables (plain .sql init files cannot read the environment).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" \
  -v mlflow_password="$MLFLOW_DB_PASSWORD" \
  -v evergreen_password="$EVERGREEN_DB_PASSWORD" \
  -f /evergreen/postgres-init.sql
