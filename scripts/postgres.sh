#!/usr/bin/env bash
# One script for the project's own PostgreSQL server (the production-shaped backend of MLflow and of the
# project DB). Tests, the demo and CI all go through it, so the server they talk to is always started alike.
#
#   scripts/postgres.sh start            initdb the data dir if new, start, wait until it accepts connections
#   scripts/postgres.sh status           exit 0 if this data dir's server runs and answers, 1 if not
#   scripts/postgres.sh stop             stop this data dir's server (fast shutdown) and wait until it exited
#   scripts/postgres.sh createdb D1 ...  create databases if missing (server must be running)
#   scripts/postgres.sh url [DB]         print the SQLAlchemy URL of DB (default: postgres)
#
# Every command is idempotent. One data dir = one server: stop never touches another data dir's server.
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system user (created by
# Debian's postgresql package) through runuser, and the data dir is handed to that user (its parent
# directories must be searchable by it).
#
# Settings (env): PG_DATA_DIR (default .run/postgres), PG_PORT (55432: never the system cluster's 5432),
# PG_USER (superuser role made by initdb; evergreen), PG_BIN (folder with initdb/pg_ctl; default the newest
# /usr/lib/postgresql/<ver>/bin, Debian's place), PG_START_TIMEOUT (60 s), PG_RUN_AS (user when root;
# postgres).
#
# Authentication is `trust` on 127.0.0.1 only (no other address listens): a local development and test
# server. A shared server uses passwords or certificates, and its URL is a setting, not this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_DATA_DIR="${PG_DATA_DIR:-$ROOT/.run/postgres}"
PG_PORT="${PG_PORT:-55432}"
PG_USER="${PG_USER:-evergreen}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
PG_RUN_AS="${PG_RUN_AS:-postgres}"

log() { printf '[postgres] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$PG_PORT" in '' | *[!0-9]*) die "PG_PORT must be a number" ;; esac
case "$PG_USER" in '' | *[!a-z0-9_]*) die "PG_USER must be [a-z0-9_]+" ;; esac

mkdir -p "$PG_DATA_DIR"
PG_DATA_DIR="$(cd "$PG_DATA_DIR" && pwd)"
CLUSTER="$PG_DATA_DIR/data"
LOGFILE="$PG_DATA_DIR/postgres.log"

# ---------------------------------------------------------------------------------------------- binaries
find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] || die "PG_BIN=$PG_BIN has no initdb"
    echo "$PG_BIN"
    return
  fi
  local dir best=""
  while read -r dir; do # newest major version last
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && best="$dir"
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
  if [ -z "$best" ] && command -v pg_config >/dev/null; then
    dir="$(pg_config --bindir)"
    [ -x "$dir/initdb" ] && best="$dir"
  fi
  if [ -z "$best" ] && command -v initdb >/dev/null; then best="$(dirname "$(command -v initdb)")"; fi
  [ -n "$best" ] || die "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/system-deps.sh (Debian package postgresql)"
  echo "$best"
}
BIN="$(find_bin)"

# As root, every server-side command runs as PG_RUN_AS.
AS=()
if [ "$(id -u)" -eq 0 ]; then
  id "$PG_RUN_AS" >/dev/null 2>&1 || die "running as root, but there is no '$PG_RUN_AS' user to run PostgreSQL as (set PG_RUN_AS)"
  command -v runuser >/dev/null || die "running as root, but runuser is missing (util-linux)"
  AS=(runuser -u "$PG_RUN_AS" --)
fi
as_server() { "${AS[@]}" "$@"; }

# ---------------------------------------------------------------------------------------------- locking
lock() {
  command -v flock >/dev/null || return 0
  exec 9>"$PG_DATA_DIR/.postgres-sh.lock"
  flock -w 120 9 || die "could not lock $PG_DATA_DIR within 120 s"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -t 2; }
running() { [ -f "$CLUSTER/PG_VERSION" ] && as_server "$BIN/pg_ctl" -D "$CLUSTER" status >/dev/null 2>&1; }

show_log() {
  [ -s "$LOGFILE" ] || return 0
  log "last lines of $LOGFILE:"
  tail -n "${1:-30}" "$LOGFILE" >&2
}

# ---------------------------------------------------------------------------------------------- commands
init_cluster() {
  [ -f "$CLUSTER/PG_VERSION" ] && return 0
  if [ ${#AS[@]} -gt 0 ]; then
    chown "$PG_RUN_AS" "$PG_DATA_DIR"
    as_server test -w "$PG_DATA_DIR" ||
      die "user $PG_RUN_AS cannot write $PG_DATA_DIR: its parent directories must be searchable by it (chmod o+x)"
  fi
  rm -rf "$CLUSTER"
  local out
  if ! out="$(as_server "$BIN/initdb" -D "$CLUSTER" -U "$PG_USER" --auth=trust -E UTF8 --locale=C 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "initdb into $CLUSTER failed"
  fi
  log "initialised $CLUSTER ($("$BIN/postgres" --version))"
}

start() {
  lock
  local started=$SECONDS
  if running; then
    ready || die "the server of $CLUSTER runs but does not answer on 127.0.0.1:$PG_PORT (another PG_PORT?)"
    log "already running on 127.0.0.1:$PG_PORT, data in $CLUSTER"
    return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by another process: set PG_PORT or stop it"
  init_cluster
  [ -f "$LOGFILE" ] && mv -f "$LOGFILE" "$LOGFILE.prev"
  if [ ${#AS[@]} -gt 0 ]; then touch "$LOGFILE" && chown "$PG_RUN_AS" "$LOGFILE"; fi
  # Socket in the data dir (Debian's default /var/run/postgresql may not exist); TCP on loopback only.
  # fd 9 (the lock) must not leak into the long-lived server.
  if ! as_server "$BIN/pg_ctl" -D "$CLUSTER" -l "$LOGFILE" -w -t "$PG_START_TIMEOUT" \
    -o "-p $PG_PORT -k $PG_DATA_DIR -c listen_addresses=127.0.0.1" start >/dev/null 9>&-; then
    show_log 40
    die "the server did not start within ${PG_START_TIMEOUT}s (PG_START_TIMEOUT)"
  fi
  local deadline=$((SECONDS + PG_START_TIMEOUT))
  until ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log 40
      die "the server started but does not accept connections on 127.0.0.1:$PG_PORT"
    fi
    sleep 0.2
  done
  log "started on 127.0.0.1:$PG_PORT in $((SECONDS - started))s, data in $CLUSTER"
}

stop() {
  lock
  if ! running; then
    log "not running (data in $CLUSTER)"
    return 0
  fi
  local started=$SECONDS
  if ! as_server "$BIN/pg_ctl" -D "$CLUSTER" -m fast -w -t 60 stop >/dev/null; then
    log "fast shutdown timed out: immediate"
    as_server "$BIN/pg_ctl" -D "$CLUSTER" -m immediate -w -t 30 stop >/dev/null || die "the server would not stop"
  fi
  log "stopped in $((SECONDS - started))s"
}

status() {
  if running && ready; then
    log "running on 127.0.0.1:$PG_PORT, data in $CLUSTER"
    return 0
  fi
  log "not running or not answering on 127.0.0.1:$PG_PORT (data in $CLUSTER)"
  return 1
}

createdb() {
  ready || die "no server answers on 127.0.0.1:$PG_PORT: run scripts/postgres.sh start"
  local db exists
  for db in "$@"; do
    case "$db" in '' | *[!a-z0-9_]*) die "database names must be [a-z0-9_]+, got '$db'" ;; esac
    exists="$("$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'")"
    if [ "$exists" != "1" ]; then
      "$BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$db"
      log "created database $db"
    fi
  done
}

url() { echo "postgresql+psycopg2://$PG_USER@127.0.0.1:$PG_PORT/${1:-postgres}"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  createdb)
    shift
    createdb "$@"
    ;;
  url) url "${2:-}" ;;
  *)
    echo "usage: $0 start|stop|status|createdb DB...|url [DB]" >&2
    exit 2
    ;;
esac
