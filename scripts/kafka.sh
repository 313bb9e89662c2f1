#!/usr/bin/env bash
# One script for the project's single-node Apache Kafka (KRaft, broker+controller in one JVM).
# Tests, `make demo` and CI all go through it, so the broker they talk to is always the same one.
#
#   scripts/kafka.sh install   fetch Apache Kafka jars from Maven Central (once, cached)
#   scripts/kafka.sh start     format the data dir if new, start, wait until it answers (idempotent)
#   scripts/kafka.sh status    exit 0 if the broker answers on its port
#   scripts/kafka.sh stop      stop the broker this data dir belongs to (idempotent)
#   scripts/kafka.sh topics T1 T2 ...   create topics if missing
#
# Settings (env): KAFKA_HOME (jars; default .cache/kafka), KAFKA_DATA_DIR (default .run/kafka),
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (-Xmx512m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.cache/kafka}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$ROOT/.run/kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms128m}"
KAFKA_VERSION=4.3.1

LIBS="$KAFKA_HOME/libs"
PIDFILE="$KAFKA_DATA_DIR/broker.pid"
PROPS="$KAFKA_DATA_DIR/server.properties"
LOG="$KAFKA_DATA_DIR/broker.log"

log() { printf '[kafka] %s\n' "$*" >&2; }

java_cp() { java $KAFKA_HEAP -cp "$LIBS/*" -Dlog4j2.configurationFile="$KAFKA_DATA_DIR/log4j2.properties" "$@"; }

install() {
  if [ -f "$LIBS/.complete-$KAFKA_VERSION" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime
  touch "$LIBS/.complete-$KAFKA_VERSION"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
  mkdir -p "$KAFKA_DATA_DIR/log"
  cat > "$PROPS" <<PROPS
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
  cat > "$KAFKA_DATA_DIR/log4j2.properties" <<L4J
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
L4J
}

start() {
  install
  if pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT"; then log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  fi
  if port_open "$KAFKA_PORT"; then
    log "port $KAFKA_PORT is taken by another process: set KAFKA_PORT or stop it"; exit 1
  fi
  write_config
  if [ ! -f "$KAFKA_DATA_DIR/log/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java_cp org.apache.kafka.tools.StorageTool random-uuid 2>/dev/null || java_cp kafka.tools.StorageTool random-uuid)"
    java_cp kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$PROPS" >/dev/null
    log "formatted $KAFKA_DATA_DIR (cluster $cluster_id)"
  fi
  nohup java $KAFKA_HEAP -XX:+UseG1GC -cp "$LIBS/*" \
      -Dlog4j2.configurationFile="$KAFKA_DATA_DIR/log4j2.properties" \
      kafka.Kafka "$PROPS" >>"$KAFKA_DATA_DIR/stdout.log" 2>&1 &
  echo $! > "$PIDFILE"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
  until port_open "$KAFKA_PORT"; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      log "broker died on start; last lines:"; tail -20 "$KAFKA_DATA_DIR/stdout.log" "$LOG" >&2 || true; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { log "broker did not open $KAFKA_PORT in time"; stop; exit 1; }
    sleep 0.3
  done
  log "started (pid $(cat "$PIDFILE")) on 127.0.0.1:$KAFKA_PORT, data in $KAFKA_DATA_DIR"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

topics() {
  install
  local t
  for t in "$@"; do
    java_cp org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --create --if-not-exists --topic "$t" --partitions 1 --replication-factor 1 >/dev/null
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) port_open "$KAFKA_PORT" ;;
  topics) shift; topics "$@" ;;
  *) echo "usage: $0 install|start|stop|status|topics T..." >&2; exit 2 ;;
esac
