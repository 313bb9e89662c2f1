#!/usr/bin/env bash
# A Spark standalone cluster on this machine (one master, one worker, both on 127.0.0.1), from the pyspark
# package's own `spark-class`: the same Spark, jars and Python as the venv's `local[*]`, but the daily steps
# then run as a driver plus executors in separate JVMs, as they would on a real cluster.
#
#   scripts/spark-cluster.sh start    start the master and the worker, wait until the worker is registered
#   scripts/spark-cluster.sh status   exit 0 if the master answers with an ALIVE worker, 1 if not (prints why)
#   scripts/spark-cluster.sh stop     stop both (their whole process groups) and wait until they have exited
#   scripts/spark-cluster.sh url      print the master URL (spark://127.0.0.1:PORT)
#
# Point the project at it with EVERGREEN_SPARK_MASTER="$(scripts/spark-cluster.sh url)" (scripts/env.sh turns
# that into Airflow's spark_default connection). Every command is idempotent. One data dir = one cluster.
#
# Settings (env): SPARK_CLUSTER_DIR (work, logs, pids; default .run/spark-cluster), SPARK_MASTER_PORT (7077),
# SPARK_MASTER_WEBUI_PORT (8090), SPARK_WORKER_WEBUI_PORT (8091), SPARK_WORKER_CORES (2),
# SPARK_WORKER_MEMORY (2g: what executors may take in all), SPARK_DAEMON_MEMORY (512m: each daemon's heap),
# SPARK_CLUSTER_START_TIMEOUT (90 s), SPARK_CLUSTER_STOP_TIMEOUT (20 s before SIGKILL).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPARK_CLUSTER_DIR="${SPARK_CLUSTER_DIR:-$ROOT/.run/spark-cluster}"
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
SPARK_MASTER_WEBUI_PORT="${SPARK_MASTER_WEBUI_PORT:-8090}"
SPARK_WORKER_WEBUI_PORT="${SPARK_WORKER_WEBUI_PORT:-8091}"
SPARK_WORKER_CORES="${SPARK_WORKER_CORES:-2}"
SPARK_WORKER_MEMORY="${SPARK_WORKER_MEMORY:-2g}"
export SPARK_DAEMON_MEMORY="${SPARK_DAEMON_MEMORY:-512m}"
SPARK_CLUSTER_START_TIMEOUT="${SPARK_CLUSTER_START_TIMEOUT:-90}"
SPARK_CLUSTER_STOP_TIMEOUT="${SPARK_CLUSTER_STOP_TIMEOUT:-20}"
PYTHON="${PYSPARK_PYTHON:-$ROOT/.venv/bin/python}"

log() { printf '[spark-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$SPARK_MASTER_PORT$SPARK_MASTER_WEBUI_PORT$SPARK_WORKER_WEBUI_PORT$SPARK_WORKER_CORES" in
  *[!0-9]*) die "ports and SPARK_WORKER_CORES must be numbers" ;;
esac
[ -x "$PYTHON" ] || die "no python at $PYTHON: run 'make setup' first"
# SPARK_HOME is the pyspark package folder: the wheel carries bin/spark-class and the jars, no sbin scripts.
SPARK_HOME="${SPARK_HOME:-$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_HOME
[ -x "$SPARK_HOME/bin/spark-class" ] || die "no spark-class under $SPARK_HOME"

mkdir -p "$SPARK_CLUSTER_DIR"
SPARK_CLUSTER_DIR="$(cd "$SPARK_CLUSTER_DIR" && pwd)"
# The defaults put work and log dirs inside site-packages; keep everything under the data dir.
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$SPARK_CLUSTER_DIR/tmp" SPARK_LOG_DIR="$SPARK_CLUSTER_DIR/logs"
export SPARK_WORKER_DIR="$SPARK_CLUSTER_DIR/work" SPARK_PID_DIR="$SPARK_CLUSTER_DIR"
# Executors run the driver's PYSPARK_PYTHON; the worker's own Python must have pyarrow too.
export PYSPARK_PYTHON="$PYTHON"
mkdir -p "$SPARK_LOCAL_DIRS" "$SPARK_LOG_DIR" "$SPARK_WORKER_DIR"

URL="spark://127.0.0.1:$SPARK_MASTER_PORT"

# ---------------------------------------------------------------------------------------------- probes
alive() { # alive NAME: the daemon of this data dir named NAME runs (pid file and the process agree)
  local pid
  pid="$(cat "$SPARK_CLUSTER_DIR/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "$SPARK_CLUSTER_DIR" "/proc/$pid/cmdline" 2>/dev/null
}

# Ready means the master's own JSON lists a worker ALIVE with this data dir's cores: an open port proves
# neither that the master accepts applications nor that any worker would run them.
ready() {
  "$PYTHON" - "$SPARK_MASTER_WEBUI_PORT" "$SPARK_WORKER_CORES" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=3) as r:
        state = json.load(r)
except Exception as exc:
    print(f"master not answering on its web port {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
workers = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
if state.get("status") != "ALIVE" or not workers:
    print(f"master {state.get('status')}, {len(workers)} alive worker(s)", file=sys.stderr)
    sys.exit(1)
EOF
}

# ---------------------------------------------------------------------------------------------- commands
daemon() { # daemon NAME CLASS ARGS...: start CLASS in its own process group, logs in the data dir
  local name="$1"
  shift
  alive "$name" && return 0
  # setsid: the daemon and every JVM it forks form one group that `stop` ends as a whole.
  # --properties-file: the data dir on the command line is how `alive` recognises this cluster's daemons.
  : >"$SPARK_CLUSTER_DIR/spark-defaults.conf"
  setsid "$SPARK_HOME/bin/spark-class" "$@" --properties-file "$SPARK_CLUSTER_DIR/spark-defaults.conf" \
    >>"$SPARK_LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$SPARK_CLUSTER_DIR/$name.pid"
}

start() {
  command -v java >/dev/null || die "java not found: install a JDK >= 17"
  if alive master && alive worker && ready 2>/dev/null; then
    log "running: $URL (web UI http://127.0.0.1:$SPARK_MASTER_WEBUI_PORT)"
    echo "$URL"
    return 0
  fi
  daemon master org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_MASTER_WEBUI_PORT"
  daemon worker org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --webui-port "$SPARK_WORKER_WEBUI_PORT" --cores "$SPARK_WORKER_CORES" \
    --memory "$SPARK_WORKER_MEMORY" --work-dir "$SPARK_WORKER_DIR" "$URL"
  local waited=0
  until ready 2>/dev/null; do
    for name in master worker; do
      alive "$name" || { tail -n 30 "$SPARK_LOG_DIR/$name.log" >&2; stop; die "the $name exited during start (log above: $SPARK_LOG_DIR/$name.log)"; }
    done
    [ "$waited" -lt "$SPARK_CLUSTER_START_TIMEOUT" ] || { stop; die "no worker registered within ${SPARK_CLUSTER_START_TIMEOUT}s (logs: $SPARK_LOG_DIR)"; }
    sleep 1
    waited=$((waited + 1))
  done
  log "ready in ${waited}s: $URL, $SPARK_WORKER_CORES cores and $SPARK_WORKER_MEMORY for executors (web UI http://127.0.0.1:$SPARK_MASTER_WEBUI_PORT, logs $SPARK_LOG_DIR)"
  echo "$URL"
}

stop() {
  local name pid waited
  for name in worker master; do
    alive "$name" || { rm -f "$SPARK_CLUSTER_DIR/$name.pid"; continue; }
    pid="$(cat "$SPARK_CLUSTER_DIR/$name.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    waited=0
    while kill -0 -- "-$pid" 2>/dev/null; do
      if [ "$waited" -ge $((SPARK_CLUSTER_STOP_TIMEOUT * 10)) ]; then
        log "$name did not stop within ${SPARK_CLUSTER_STOP_TIMEOUT}s: SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    rm -f "$SPARK_CLUSTER_DIR/$name.pid"
  done
  log "stopped"
}

status() {
  local ok=0 name
  for name in master worker; do
    if alive "$name"; then log "$name: pid $(cat "$SPARK_CLUSTER_DIR/$name.pid")"; else log "$name: not running"; ok=1; fi
  done
  if [ "$ok" = 0 ] && ready; then log "ready: $URL"; else ok=1; fi
  return "$ok"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) die "usage: $0 {start|status|stop|url}" ;;
esac
