#!/usr/bin/env bash
# The project's S3 server on loopback: S3Proxy (https://github.com/gaul/s3proxy) serving the S3 API over a
# local folder. MLflow's artifacts, landing drops and (later) the lake then go through the S3 API the way
# they do in production, with boto3 and Hadoop's s3a:// doing the talking, not a local path.
#
#   scripts/s3.sh install          fetch the S3Proxy jar listed in scripts/s3/pom.xml (once, cached)
#   scripts/s3.sh start            start, wait until a signed S3 request succeeds; prints the endpoint URL
#   scripts/s3.sh status           exit 0 if this data dir's server runs and answers, 1 if not (prints why)
#   scripts/s3.sh stop             stop the server of this data dir (its whole process group), wait for exit
#   scripts/s3.sh bucket B1 B2 ... create buckets if missing (server must be running)
#   scripts/s3.sh url              print the endpoint URL (http://127.0.0.1:PORT)
#   scripts/s3.sh env              print `export AWS_...=` lines for a client of this server
#
# Every command is idempotent: start on a running server, stop on a stopped one and a second install are
# no-ops. One data dir = one server: stop never touches a server started for another S3_DATA_DIR.
# Objects live in $S3_DATA_DIR/objects (one folder per bucket) and survive restarts.
#
# Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY if both are set; otherwise a pair generated once for
# this data dir into $S3_DATA_DIR/credentials.env (mode 0600, `export` lines). Never in the repo.
# Point a client at the server with: eval "$(scripts/s3.sh env)"
#
# Settings (env): S3PROXY_HOME (jar; default .cache/s3proxy), S3_DATA_DIR (default .run/s3), S3_PORT (9000),
# S3_HEAP (-Xmx512m), S3_START_TIMEOUT (60 s), S3_STOP_TIMEOUT (20 s before SIGKILL),
# S3_PYTHON (the venv's python: readiness and `bucket` use its boto3).
#
# stdout carries only what a caller captures (the URL of start/url, the lines of env); logs go to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S3PROXY_HOME="${S3PROXY_HOME:-$ROOT/.cache/s3proxy}"
S3_DATA_DIR="${S3_DATA_DIR:-$ROOT/.run/s3}"
S3_PORT="${S3_PORT:-9000}"
S3_HEAP="${S3_HEAP:--Xmx512m}"
S3_START_TIMEOUT="${S3_START_TIMEOUT:-60}"
S3_STOP_TIMEOUT="${S3_STOP_TIMEOUT:-20}"
PYTHON="${S3_PYTHON:-$ROOT/.venv/bin/python}"

POM="$ROOT/scripts/s3/pom.xml"

log() { printf '[s3] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$S3_PORT$S3_START_TIMEOUT$S3_STOP_TIMEOUT" in *[!0-9]*) die "S3_PORT and the timeouts must be numbers" ;; esac

# Absolute paths: the server is recognised by the properties path on its command line.
mkdir -p "$S3PROXY_HOME" "$S3_DATA_DIR"
S3PROXY_HOME="$(cd "$S3PROXY_HOME" && pwd)"
S3_DATA_DIR="$(cd "$S3_DATA_DIR" && pwd)"
LIBS="$S3PROXY_HOME/libs"
PIDFILE="$S3_DATA_DIR/s3proxy.pid"
PROPS="$S3_DATA_DIR/s3proxy.properties"
CREDS="$S3_DATA_DIR/credentials.env"
LOG="$S3_DATA_DIR/s3proxy.log"
OBJECTS="$S3_DATA_DIR/objects"
ENDPOINT="http://127.0.0.1:$S3_PORT"

read -r -a HEAP <<<"$S3_HEAP"

# ---------------------------------------------------------------------------------------------- locking
# flock(1) serialises concurrent calls (two test sessions, a developer and CI). It is optional.
lock() { # lock FILE: take an exclusive lock on FILE with fd 9 for the rest of this process
  command -v flock >/dev/null || return 0
  exec 9>"$1"
  flock -w 300 9 || die "could not lock $1 within 300 s"
}

# ---------------------------------------------------------------------------------------------- install
# The cached jar is keyed by the pom's checksum: editing the pom (a new version) fetches it again.
pom_key() { cksum <"$POM" | cut -d' ' -f1; }

installed() { [ -f "$LIBS/.complete" ] && [ "$(cat "$LIBS/.complete")" = "$(pom_key)" ]; }

jar() { # the one S3Proxy jar of $LIBS
  local j
  for j in "$LIBS"/s3proxy-*-jar-with-dependencies.jar; do
    [ -f "$j" ] && { echo "$j"; return 0; }
  done
  return 1
}

install() {
  installed && return 0
  command -v java >/dev/null || die "java not found: install a JRE >= 17 (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  (
    lock "$S3PROXY_HOME/.install.lock"
    installed && exit 0
    local tmp="$S3PROXY_HOME/libs.tmp.$$" old="$S3PROXY_HOME/libs.old.$$" out="$S3PROXY_HOME/install.log"
    log "fetching the S3Proxy jar of ${POM#"$ROOT"/} from Maven Central into $LIBS"
    rm -rf "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$out" 2>&1; then
      log "mvn failed; last lines of $out:"
      tail -n 40 "$out" >&2
      rm -rf "$tmp"
      exit 1
    fi
    ls "$tmp"/s3proxy-*-jar-with-dependencies.jar >/dev/null 2>&1 || die "mvn copied no s3proxy jar into $tmp"
    pom_key >"$tmp/.complete"
    # Swap whole directories: a server already running from $LIBS keeps its open jar.
    if [ -d "$LIBS" ]; then mv "$LIBS" "$old"; fi
    mv "$tmp" "$LIBS"
    rm -rf "$old"
    log "installed $(basename "$(jar)")"
  )
}

# ---------------------------------------------------------------------------------------------- credentials
# Both from the environment or both from the data dir's file: half a pair from each would never sign right.
# load_credentials [create]: only start and env create the file; a status check writes nothing.
load_credentials() {
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    CRED_SOURCE="the environment"
  else
    [ -z "${AWS_ACCESS_KEY_ID:-}${AWS_SECRET_ACCESS_KEY:-}" ] ||
      die "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (then $CREDS is used)"
    if [ ! -f "$CREDS" ]; then
      [ "${1:-}" = create ] || die "no keys: neither AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY nor $CREDS (made by start)"
      new_credentials
    fi
    # shellcheck disable=SC1090
    . "$CREDS"
    [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || die "$CREDS lacks a key pair"
    CRED_SOURCE="$CREDS"
  fi
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
}

hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }

new_credentials() {
  local tmp="$CREDS.tmp.$$"
  (
    umask 077
    printf '# S3 credentials of the server in this folder (scripts/s3.sh), generated %s. Keep private.\n' "$(date -u +%FT%TZ)"
    printf 'export AWS_ACCESS_KEY_ID=EVG%s\n' "$(hex 9 | tr 'a-f' 'A-F')"
    printf 'export AWS_SECRET_ACCESS_KEY=%s\n' "$(hex 20)"
  ) >"$tmp"
  chmod 600 "$tmp"
  # A hard link fails if the file exists: of two concurrent first calls, one pair wins and both use it.
  ln "$tmp" "$CREDS" 2>/dev/null && log "generated credentials into $CREDS"
  rm -f "$tmp"
}

# ---------------------------------------------------------------------------------------------- probes
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Readiness is a signed ListBuckets that succeeds with this server's credentials: an open port shows neither
# that Jetty routes requests to the blob store nor that the keys match. One Python process polls (importing
# boto3 costs ~0.5 s, too much per attempt). Exit codes: 0 ready, 1 not ready in time, 3 the pid exited,
# 4 the server answers but refuses these keys (waiting would not change that).
#   py_s3 wait PID SECONDS | py_s3 check | py_s3 buckets NAME...
py_s3() {
  [ -x "$PYTHON" ] || die "no python at $PYTHON (set S3_PYTHON, or run 'make setup' first)"
  "$PYTHON" - "$ENDPOINT" "$@" <<'EOF'
import os, sys, time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

endpoint, command, *args = sys.argv[1:]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    config=Config(
        s3={"addressing_style": "path"},
        connect_timeout=2,
        read_timeout=5,
        retries={"total_max_attempts": 1},
    ),
)


DENIED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
denied = False


def probe() -> str:
    """'' if a signed ListBuckets succeeds, else why not."""
    global denied
    try:
        s3.list_buckets()
        return ""
    except ClientError as e:
        err = e.response.get("Error", {})
        denied = err.get("Code") in DENIED
        return f"{endpoint} refused ListBuckets: {err.get('Code')} ({err.get('Message')})"
    except BotoCoreError as e:
        return f"{endpoint}: {e}"


def exited(pid: int) -> bool:
    # The server is this script's child: once dead it stays a zombie until the script exits.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


if command == "wait":
    pid, deadline = int(args[0]), time.monotonic() + float(args[1])
    while reason := probe():
        if exited(pid):
            sys.exit(3)
        if denied:
            print(reason, file=sys.stderr)
            sys.exit(4)
        if time.monotonic() >= deadline:
            print(reason, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
elif command == "check":
    if reason := probe():
        print(reason, file=sys.stderr)
        sys.exit(1)
elif command == "buckets":
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in args:
        if name not in have:
            try:
                s3.create_bucket(Bucket=name)
            except ClientError as e:
                err = e.response.get("Error", {})
                if err.get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    sys.exit(f"creating bucket {name!r} on {endpoint}: {err.get('Code')} ({err.get('Message')})")
EOF
}

# The pid of this data dir's server, if it runs: the pid file, checked against the process's command line
# (a stale pid file can name a recycled pid), else a scan for a JVM started with our properties file.
is_our_server() {
  local args
  args="$(ps -ww -o args= -p "$1" 2>/dev/null)" || return 1
  case "$args" in *" --properties $PROPS") return 0 ;; *) return 1 ;; esac
}

server_pid() {
  local pid args
  if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && is_our_server "$pid"; then echo "$pid"; return 0; fi
  fi
  while read -r pid args; do
    case "$args" in *" --properties $PROPS") echo "$pid"; return 0 ;; esac
  done < <(ps -ww -eo pid=,args= 2>/dev/null)
  return 1
}

# Any live (non-zombie) process left in group PGID. A dead server whose parent has not reaped it yet is gone
# for every purpose but kill -0.
group_alive() {
  ps -eo pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

show_log() {
  [ -s "$LOG" ] || return 0
  log "last lines of $LOG:"
  tail -n "${1:-30}" "$LOG" >&2
}

# ---------------------------------------------------------------------------------------------- config
write_config() {
  mkdir -p "$OBJECTS"
  # The properties carry the secret: readable by this user only.
  (
    umask 077
    cat >"$PROPS.tmp" <<PROPS
s3proxy.endpoint=$ENDPOINT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$AWS_ACCESS_KEY_ID
s3proxy.credential=$AWS_SECRET_ACCESS_KEY
jclouds.provider=filesystem
jclouds.filesystem.basedir=$OBJECTS
PROPS
  )
  mv -f "$PROPS.tmp" "$PROPS"
}

# ---------------------------------------------------------------------------------------------- commands
wait_ready() { # wait_ready PID [ours]: until a signed request succeeds; else show the log and fail
  local pid="$1" ours="${2:-}" rc=0
  py_s3 wait "$pid" "$S3_START_TIMEOUT" || rc=$?
  case "$rc" in
    0) return 0 ;;
    4)
      if [ -n "$ours" ]; then
        show_log 40
        stop_pid "$pid"
        die "the server just started (pid $pid) refuses the keys it was given, from $CRED_SOURCE"
      fi
      # A server already running was started with other keys: restarting it is the caller's decision.
      die "the server (pid $pid) on $ENDPOINT refuses the keys from $CRED_SOURCE: it was started with others (scripts/s3.sh stop, then start, to use these)"
      ;;
    3)
      log "ERROR: the server (pid $pid) exited during start-up"
      show_log 40
      rm -f "$PIDFILE"
      exit 1
      ;;
    *)
      log "ERROR: the server (pid $pid) did not answer a signed request on $ENDPOINT within ${S3_START_TIMEOUT}s (S3_START_TIMEOUT)"
      show_log 40
      [ -n "$ours" ] && stop_pid "$pid"
      exit 1
      ;;
  esac
}

start() {
  install
  lock "$S3_DATA_DIR/.s3-sh.lock"
  load_credentials create
  local pid started=$SECONDS
  if pid="$(server_pid)"; then
    wait_ready "$pid"
    echo "$pid" >"$PIDFILE"
    log "already running (pid $pid) on $ENDPOINT, objects in $OBJECTS"
    echo "$ENDPOINT"
    return 0
  fi
  if port_open "$S3_PORT"; then
    die "port $S3_PORT is taken by another process (not the server of $S3_DATA_DIR): set S3_PORT or stop it"
  fi
  write_config
  # Keep one previous run's log; the tail shown on failure is then this run's only.
  [ -f "$LOG" ] && mv -f "$LOG" "$LOG.prev"
  # setsid: the JVM leads its own process group, which stop ends as a whole. Without job control the
  # background child is no group leader, so setsid execs in place and $! is the JVM's pid.
  # fd 9 (the lock) must not leak into the long-lived JVM. Serial GC: a small heap needs no GC threads
  # competing for a laptop's cores. Logback's own start-up chatter would bury the server's log lines.
  setsid java "${HEAP[@]}" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener -jar "$(jar)" --properties "$PROPS" \
    >"$LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid" ours
  log "started (pid $pid) on $ENDPOINT in $((SECONDS - started))s, objects in $OBJECTS, credentials from $CRED_SOURCE"
  echo "$ENDPOINT"
}

stop_pid() { # stop_pid PID: SIGTERM to its group, SIGKILL after S3_STOP_TIMEOUT, wait until the group is gone
  local pid="$1" deadline=$((SECONDS + S3_STOP_TIMEOUT))
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  while group_alive "$pid" || is_our_server "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the server (pid $pid) did not stop within ${S3_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while group_alive "$pid" || is_our_server "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || die "the server (pid $pid) survived SIGKILL"
        sleep 0.1
      done
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

stop() {
  lock "$S3_DATA_DIR/.s3-sh.lock"
  local pid started=$SECONDS
  if ! pid="$(server_pid)"; then
    rm -f "$PIDFILE"
    log "not running (objects in $OBJECTS)"
    return 0
  fi
  stop_pid "$pid"
  log "stopped (pid $pid) in $((SECONDS - started))s"
}

status() {
  local pid
  if ! pid="$(server_pid)"; then
    log "not running (objects in $OBJECTS)"
    return 1
  fi
  load_credentials
  if py_s3 check; then
    log "running (pid $pid) on $ENDPOINT, objects in $OBJECTS"
    return 0
  fi
  log "pid $pid runs but a signed request on $ENDPOINT failed (starting, stuck, or other credentials than $CRED_SOURCE)"
  return 1
}

bucket() {
  [ "$#" -gt 0 ] || die "usage: $0 bucket NAME..."
  server_pid >/dev/null || die "no server runs for $S3_DATA_DIR: run scripts/s3.sh start"
  load_credentials
  py_s3 buckets "$@"
}

client_env() {
  load_credentials create
  printf 'export AWS_ACCESS_KEY_ID=%s\n' "$AWS_ACCESS_KEY_ID"
  printf 'export AWS_SECRET_ACCESS_KEY=%s\n' "$AWS_SECRET_ACCESS_KEY"
  printf 'export AWS_DEFAULT_REGION=us-east-1\n'
  printf 'export AWS_ENDPOINT_URL=%s\n' "$ENDPOINT"
  printf 'export MLFLOW_S3_ENDPOINT_URL=%s\n' "$ENDPOINT"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  bucket)
    shift
    bucket "$@"
    ;;
  url) echo "$ENDPOINT" ;;
  env) client_env ;;
  *)
    echo "usage: $0 install|start|status|stop|bucket NAME...|url|env" >&2
    exit 2
    ;;
esac
