# Sourced by the Makefile and scripts: one place that says where everything lives on this machine.
# Secrets are generated once per machine into .run/secrets.env (never committed).
EVERGREEN_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EVERGREEN_REPO
export VIRTUAL_ENV="$EVERGREEN_REPO/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export PYSPARK_PYTHON="$VIRTUAL_ENV/bin/python"
export PYSPARK_DRIVER_PYTHON="$VIRTUAL_ENV/bin/python"
export EVERGREEN_HOME="${EVERGREEN_HOME:-$EVERGREEN_REPO/.run/evergreen}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$EVERGREEN_REPO/.run/airflow}"
export AIRFLOW_CONFIG="${AIRFLOW_CONFIG:-$EVERGREEN_REPO/airflow.cfg}"
export WHYLOGS_NO_ANALYTICS=True
export GX_ANALYTICS_ENABLED=False
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning:kafka}"

# Connections come from the environment, never from the repo. The Spark master is a setting.
export AIRFLOW_CONN_SPARK_DEFAULT="${AIRFLOW_CONN_SPARK_DEFAULT:-{\"conn_type\": \"spark\", \"host\": \"${EVERGREEN_SPARK_MASTER:-local[*]}\"\}}"

# The drift watcher's own connection: its own consumer group (watchers must never share one) and manual
# commits (the shared-stream trigger commits an offset only once its asset event is stored).
_kafka="${EVERGREEN_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
export AIRFLOW_CONN_KAFKA_DRIFT="${AIRFLOW_CONN_KAFKA_DRIFT:-{\"conn_type\": \"kafka\", \"extra\": {\"bootstrap.servers\": \"$_kafka\", \"group.id\": \"evergreen-drift-watcher\", \"auto.offset.reset\": \"earliest\", \"enable.auto.commit\": \"false\"\}\}}"

mkdir -p "$EVERGREEN_REPO/.run" "$AIRFLOW_HOME"
_secrets="$EVERGREEN_REPO/.run/secrets.env"
if [ ! -f "$_secrets" ]; then
  umask 077
  {
    echo "export AIRFLOW__CORE__FERNET_KEY=$("$VIRTUAL_ENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' 2>/dev/null || head -c 32 /dev/urandom | base64 | tr '+/' '-_')"
    echo "export AIRFLOW__API__SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "export AIRFLOW__API_AUTH__JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } > "$_secrets"
fi
# shellcheck disable=SC1090
. "$_secrets"
