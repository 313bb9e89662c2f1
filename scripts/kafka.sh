#!/usr/bin/env bash
# One script for the project's single-node Apache Kafka (KRaft, broker+controller in one JVM).
# Tests, `make demo` and CI all go through it, so the broker they talk to is always the same one.
#
#   scripts/kafka.sh install   fetch the Apache Kafka jars listed in scripts/kafka/pom.xml (once, cached)
#   scripts/kafka.sh start     format the data dir if new, start, wait until the broker answers requests
#   scripts/kafka.sh status    exit 0 if this data dir's broker runs and answers, 1 if not (prints which)
#   scripts/kafka.sh stop      stop the broker of this data dir and wait until it has exited
#   scripts/kafka.sh topics T1 T2 ...   create topics if missing (broker must be running)
#
# Every command is idempotent: start on a running broker, stop on a stopped one and a second install are
# no-ops. One data dir = one broker: stop never touches a broker started for another KAFKA_DATA_DIR.
#
# Settings (env): KAFKA_HOME (jars; default .cache/kafka), KAFKA_DATA_DIR (default .run/kafka),
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (-Xmx512m -Xms128m),
# KAFKA_START_TIMEOUT (90 s), KAFKA_STOP_TIMEOUT (30 s before SIGKILL), KAFKA_PARTITIONS (for topics; 1).
#
# "Ready" means the broker answered a Metadata request on 127.0.0.1:$KAFKA_PORT listing itself and a leader
# for every partition (see broker_ready below); an open port alone proves nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.cache/kafka}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$ROOT/.run/kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms128m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-1}"

POM="$ROOT/scripts/kafka/pom.xml"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$KAFKA_PORT$KAFKA_CONTROLLER_PORT" in *[!0-9]*) die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must be numbers" ;; esac
[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"

# Absolute paths: the broker is recognised by the properties path on its command line.
mkdir -p "$KAFKA_HOME" "$KAFKA_DATA_DIR"
KAFKA_HOME="$(cd "$KAFKA_HOME" && pwd)"
KAFKA_DATA_DIR="$(cd "$KAFKA_DATA_DIR" && pwd)"
LIBS="$KAFKA_HOME/libs"
PIDFILE="$KAFKA_DATA_DIR/broker.pid"
PROPS="$KAFKA_DATA_DIR/server.properties"
LOG="$KAFKA_DATA_DIR/broker.log"
STDOUT_LOG="$KAFKA_DATA_DIR/stdout.log"

read -r -a HEAP <<<"$KAFKA_HEAP"

# ---------------------------------------------------------------------------------------------- locking
# flock(1) serialises concurrent calls (two test sessions, a developer and CI). It is optional.
lock() { # lock FILE: take an exclusive lock on FILE with fd 9 for the rest of this process
  command -v flock >/dev/null || return 0
  exec 9>"$1"
  flock -w 300 9 || die "could not lock $1 within 300 s"
}

# ---------------------------------------------------------------------------------------------- install
# The cached jars are keyed by the pom's checksum: editing the pom fetches them again.
pom_key() { cksum <"$POM" | cut -d' ' -f1; }

installed() { [ -f "$LIBS/.complete" ] && [ "$(cat "$LIBS/.complete")" = "$(pom_key)" ]; }

install() {
  installed && return 0
  command -v java >/dev/null || die "java not found: install a JDK >= 17 (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  (
    lock "$KAFKA_HOME/.install.lock"
    installed && exit 0
    local tmp="$KAFKA_HOME/libs.tmp.$$" old="$KAFKA_HOME/libs.old.$$" out="$KAFKA_HOME/install.log"
    log "fetching the Apache Kafka jars of ${POM#"$ROOT"/} from Maven Central into $LIBS"
    rm -rf "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$out" 2>&1; then
      log "mvn failed; last lines of $out:"
      tail -n 40 "$out" >&2
      rm -rf "$tmp"
      exit 1
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "mvn copied no kafka_2.13 jar into $tmp"
    pom_key >"$tmp/.complete"
    # Swap whole directories: a broker already running from $LIBS keeps its open jars.
    if [ -d "$LIBS" ]; then mv "$LIBS" "$old"; fi
    mv "$tmp" "$LIBS"
    rm -rf "$old"
    log "installed $(find "$LIBS" -name '*.jar' | wc -l | tr -d ' ') jars"
  )
}

# ---------------------------------------------------------------------------------------------- probes
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Readiness: a Metadata request (v4, all topics) that the broker answers with at least one live broker and
# a leader for every partition of every topic, internal ones included. An open port alone does not show
# that the broker processes requests (a KRaft broker serves them only once it has caught up with the
# metadata log and been unfenced), and an answer with a leaderless partition would still fail clients.
# (Here, partition leaders were always in place by the time the broker answered at all; the check costs
# ~0.1 s.) Metadata v4 is the oldest version Kafka 4.x serves; should a later Kafka drop it, start fails
# on its timeout with a clear message rather than passing.
# Plain bash: /dev/tcp, head and od; the response is walked as a hex string.
_H="" _P=0 _V=0
_int() { # _int N: next N-byte big-endian signed integer of _H into _V
  local n=$(($1 * 2))
  [ $((_P + n)) -le ${#_H} ] || return 1
  _V=$((16#${_H:_P:n}))
  _P=$((_P + n))
  if [ "$_V" -ge $((1 << ($1 * 8 - 1))) ]; then _V=$((_V - (1 << ($1 * 8)))); fi
}
_str() { _int 2 && { [ "$_V" -le 0 ] || _P=$((_P + _V * 2)); } && [ "$_P" -le ${#_H} ]; } # skip a string
_ints() { _int 4 && { [ "$_V" -le 0 ] || _P=$((_P + _V * 8)); } && [ "$_P" -le ${#_H} ]; } # skip int32[]

broker_ready() {
  # shellcheck disable=SC2016 # $0 is expanded by the inner bash
  _H="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x02\x00\x05ready\xff\xff\xff\xff\x00" >&3
    n="$(head -c 4 <&3 | od -An -v -tx1 | tr -d " \n")"
    [ "${#n}" -eq 8 ] || exit 1
    head -c "$((16#$n))" <&3 | od -An -v -tx1 | tr -d " \n"' "$KAFKA_PORT" 2>/dev/null)" || return 1
  _P=0
  local brokers topics partitions i j
  { _int 4 && [ "$_V" -eq 2 ]; } || return 1 # correlation id
  _int 4 || return 1                         # throttle time
  _int 4 || return 1
  brokers=$_V
  [ "$brokers" -ge 1 ] || return 1
  for ((i = 0; i < brokers; i++)); do
    { _int 4 && _str && _int 4 && _str; } || return 1 # node id, host, port, rack
  done
  { _str && _int 4 && _int 4; } || return 1 # cluster id, controller id, topic count
  topics=$_V
  for ((i = 0; i < topics; i++)); do
    { _int 2 && [ "$_V" -eq 0 ]; } || return 1 # topic error code
    { _str && _int 1 && _int 4; } || return 1  # name, is_internal, partition count
    partitions=$_V
    for ((j = 0; j < partitions; j++)); do
      { _int 2 && [ "$_V" -eq 0 ]; } || return 1        # partition error code
      { _int 4 && _int 4 && [ "$_V" -ge 0 ]; } || return 1 # index, leader
      { _ints && _ints; } || return 1                    # replicas, isr (v4 has no offline replicas)
    done
  done
  [ "$_P" -eq "${#_H}" ]
}

# The pid of this data dir's broker, if it runs: the pid file, checked against the process's command line
# (a stale pid file can name a recycled pid), else a scan for a JVM started with our properties file.
is_our_broker() {
  local args
  args="$(ps -ww -o args= -p "$1" 2>/dev/null)" || return 1
  case "$args" in *" kafka.Kafka $PROPS") return 0 ;; *) return 1 ;; esac
}

broker_pid() {
  local pid args
  if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && is_our_broker "$pid"; then echo "$pid"; return 0; fi
  fi
  while read -r pid args; do
    case "$args" in *" kafka.Kafka $PROPS") echo "$pid"; return 0 ;; esac
  done < <(ps -ww -eo pid=,args= 2>/dev/null)
  return 1
}

# Liveness of a pid we already know is ours (just launched, or found by broker_pid): exists and is not a
# zombie. Unlike is_our_broker it is also true in the instant between fork and exec of `java`.
alive() {
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  case "$st" in Z*) return 1 ;; *) return 0 ;; esac
}

show_logs() {
  local f
  for f in "$STDOUT_LOG" "$LOG"; do
    [ -s "$f" ] || continue
    log "last lines of $f:"
    tail -n "${1:-30}" "$f" >&2
  done
}

# ---------------------------------------------------------------------------------------------- config
write_config() {
  mkdir -p "$KAFKA_DATA_DIR/log"
  cat >"$PROPS" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA_DIR/log
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# flush on every message: a test kills the broker right after producing (acks=all) and expects it all back
log.flush.interval.messages=1
PROPS
  # The broker logs warnings (and its "started"/"shut down" lines) to broker.log.
  cat >"$KAFKA_DATA_DIR/log4j2.properties" <<L4J
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = info
L4J
  # Command-line tools (format, topics) print warnings and errors to stderr.
  cat >"$KAFKA_DATA_DIR/tools-log4j2.properties" <<L4J
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [kafka-tool] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
L4J
}

tool() { # tool CLASS ARGS...: run a Kafka command-line tool with a small, fast-starting JVM
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true -cp "$LIBS/*" \
    -Dlog4j2.configurationFile="$KAFKA_DATA_DIR/tools-log4j2.properties" "$@"
}

# A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid), not starting with '-'.
cluster_id() {
  local id=""
  while [ "${#id}" -ne 22 ] || [ "${id#-}" != "$id" ]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "$id"
}

# ---------------------------------------------------------------------------------------------- commands
wait_ready() { # wait_ready PID: until the broker answers; on death or timeout show the logs and fail
  local pid="$1" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until broker_ready; do
    if ! alive "$pid"; then
      log "ERROR: the broker (pid $pid) exited during start-up"
      show_logs 40
      rm -f "$PIDFILE"
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "ERROR: the broker (pid $pid) did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s (KAFKA_START_TIMEOUT)"
      show_logs 40
      stop_pid "$pid"
      exit 1
    fi
    sleep 0.2
  done
}

start() {
  install
  lock "$KAFKA_DATA_DIR/.kafka-sh.lock"
  local pid started=$SECONDS
  if pid="$(broker_pid)"; then
    wait_ready "$pid"
    echo "$pid" >"$PIDFILE"
    log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT, data in $KAFKA_DATA_DIR"
    return 0
  fi
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port $port is taken by another process (not the broker of $KAFKA_DATA_DIR): set KAFKA_PORT / KAFKA_CONTROLLER_PORT or stop it"
    fi
  done
  write_config
  # Keep one previous run's logs; the tail shown on failure is then this run's only.
  [ -f "$STDOUT_LOG" ] && mv -f "$STDOUT_LOG" "$STDOUT_LOG.prev"
  [ -f "$LOG" ] && mv -f "$LOG" "$LOG.prev"
  if [ ! -f "$KAFKA_DATA_DIR/log/meta.properties" ]; then
    local id out
    id="$(cluster_id)"
    if ! out="$(tool kafka.tools.StorageTool format --standalone -t "$id" -c "$PROPS" 2>&1)"; then
      printf '%s\n' "$out" >&2
      die "formatting $KAFKA_DATA_DIR/log failed"
    fi
    log "formatted $KAFKA_DATA_DIR (cluster $id)"
  fi
  # fd 9 (the lock) must not leak into the long-lived JVM.
  nohup java "${HEAP[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -cp "$LIBS/*" \
    -Dlog4j2.configurationFile="$KAFKA_DATA_DIR/log4j2.properties" \
    kafka.Kafka "$PROPS" >"$STDOUT_LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
  log "started (pid $pid) on 127.0.0.1:$KAFKA_PORT in $((SECONDS - started))s, data in $KAFKA_DATA_DIR"
}

stop_pid() { # stop_pid PID: SIGTERM (controlled shutdown), SIGKILL after KAFKA_STOP_TIMEOUT, wait for exit
  local pid="$1" deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while is_our_broker "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the broker (pid $pid) did not stop within ${KAFKA_STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while is_our_broker "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || die "the broker (pid $pid) survived SIGKILL"
        sleep 0.1
      done
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

stop() {
  lock "$KAFKA_DATA_DIR/.kafka-sh.lock"
  local pid started=$SECONDS
  if ! pid="$(broker_pid)"; then
    rm -f "$PIDFILE"
    log "not running (data in $KAFKA_DATA_DIR)"
    return 0
  fi
  stop_pid "$pid"
  log "stopped (pid $pid) in $((SECONDS - started))s"
}

status() {
  local pid
  if ! pid="$(broker_pid)"; then
    log "not running (data in $KAFKA_DATA_DIR)"
    return 1
  fi
  if broker_ready; then
    log "running (pid $pid) on 127.0.0.1:$KAFKA_PORT, data in $KAFKA_DATA_DIR"
    return 0
  fi
  log "pid $pid runs but does not answer on 127.0.0.1:$KAFKA_PORT (starting, stopping or stuck)"
  return 1
}

topics() {
  install
  broker_ready || die "no broker answers on 127.0.0.1:$KAFKA_PORT: run scripts/kafka.sh start"
  local t deadline=$((SECONDS + 30))
  for t in "$@"; do
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --create --if-not-exists --topic "$t" --partitions "$KAFKA_PARTITIONS" --replication-factor 1 >/dev/null
  done
  until broker_ready; do # every new partition has its leader
    [ "$SECONDS" -lt "$deadline" ] || die "topics created, but not every partition has a leader after 30 s"
    sleep 0.2
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  topics)
    shift
    topics "$@"
    ;;
  *)
    echo "usage: $0 install|start|stop|status|topics T..." >&2
    exit 2
    ;;
esac
