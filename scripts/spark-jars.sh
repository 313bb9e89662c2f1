#!/usr/bin/env bash
# Extra jars for the Spark that pyspark ships, fetched from Maven Central by Maven (never by Spark's Ivy).
#
#   scripts/spark-jars.sh install SET     fetch the jars of scripts/spark-jars/SET/pom.xml into
#                                         .cache/spark-jars/SET (once; again only when the pom changes)
#   scripts/spark-jars.sh classpath SET   print the set's jar paths, comma-separated, for `spark.jars` or
#                                         `spark-submit --jars` (installs the set first if needed)
#
# Sets: delta (Delta Lake 4.4 for Spark 4.2; scripts/spark-jars/delta/pom.xml says which jars and why).
#
# Why not `spark.jars.packages`: Ivy resolves through ~/.m2, where Maven leaves pom-only entries for artifacts
# it never needed as jars; Ivy takes those for the artifact and fails. Maven fetches, Spark only loads files.
#
# Both commands are idempotent and safe to run concurrently (flock). A successful install prints one line on
# stderr, a cached one nothing; Maven's own output goes to .cache/spark-jars/SET.install.log (its tail is shown
# if it fails). stdout carries only the classpath.
#
# Settings (env): SPARK_JARS_HOME (default .cache/spark-jars); SPARK_BUNDLED_JARS (the jars folder of the Spark
# these jars are for; default: pyspark/jars in the project's venv). An install is refused if one of its jars
# is an artifact that folder already has (a second Hadoop, Parquet, Jackson or scala-library on the classpath
# fails at run time, depending on which copy loads first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPARK_JARS_HOME="${SPARK_JARS_HOME:-$ROOT/.cache/spark-jars}"

log() { printf '[spark-jars] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { echo "usage: $0 install|classpath SET   (sets: $(sets))" >&2; exit 2; }
sets() { (cd "$ROOT/scripts/spark-jars" && ls -d -- */ 2>/dev/null | tr -d / | tr '\n' ' ' | sed 's/ $//'); }

[ $# -eq 2 ] || usage
CMD="$1" SET="$2"
case "$SET" in '' | *[!a-z0-9-]*) die "bad set name '$SET' (sets: $(sets))" ;; esac
POM="$ROOT/scripts/spark-jars/$SET/pom.xml"
[ -f "$POM" ] || die "no set '$SET': ${POM#"$ROOT"/} does not exist (sets: $(sets))"

mkdir -p "$SPARK_JARS_HOME"
SPARK_JARS_HOME="$(cd "$SPARK_JARS_HOME" && pwd)" # absolute: the paths printed are used from anywhere
JARS="$SPARK_JARS_HOME/$SET"

# ---------------------------------------------------------------------------------------------- install
# The cached jars are keyed by the pom's checksum: editing the pom fetches them again.
pom_key() { cksum <"$POM" | cut -d' ' -f1; }

installed() { [ -f "$JARS/.complete" ] && [ "$(cat "$JARS/.complete")" = "$(pom_key)" ]; }

bundled_jars() { # the jars folder of the target Spark, or nothing
  if [ -n "${SPARK_BUNDLED_JARS:-}" ]; then
    [ -d "$SPARK_BUNDLED_JARS" ] || die "SPARK_BUNDLED_JARS=$SPARK_BUNDLED_JARS is not a folder"
    echo "$SPARK_BUNDLED_JARS"
    return 0
  fi
  local d
  for d in "$ROOT"/.venv/lib/python3*/site-packages/pyspark/jars; do
    [ -d "$d" ] && { echo "$d"; return 0; }
  done
  return 0
}

artifact() { basename "$1" | sed -E 's/-[0-9].*\.jar$//'; } # zstd-jni-1.5.7-7.jar -> zstd-jni

check_no_overlap() { # check_no_overlap DIR: no jar of DIR is an artifact the target Spark already ships
  local bundled jar clash=""
  bundled="$(bundled_jars)"
  [ -n "$bundled" ] || die "cannot find pyspark's jars folder to check the set against: run \`make setup\` or set SPARK_BUNDLED_JARS"
  declare -A have=()
  for jar in "$bundled"/*.jar; do have["$(artifact "$jar")"]=1; done
  for jar in "$1"/*.jar; do
    if [ -n "${have["$(artifact "$jar")"]+x}" ]; then clash="$clash $(basename "$jar")"; fi
  done
  [ -z "$clash" ] || die "${POM#"$ROOT"/} brings jars that $bundled already has:$clash (exclude them in the pom)"
}

install() {
  installed && return 0
  command -v java >/dev/null || die "java not found: install a JDK >= 17 (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  (
    # flock(1) serialises concurrent installs (two test sessions, a developer and CI). It is optional.
    if command -v flock >/dev/null; then
      exec 9>"$SPARK_JARS_HOME/.$SET.lock"
      flock -w 300 9 || die "could not lock $SPARK_JARS_HOME/.$SET.lock within 300 s"
    fi
    installed && exit 0
    local tmp="$JARS.tmp.$$" old="$JARS.old.$$" out="$SPARK_JARS_HOME/$SET.install.log"
    trap 'rm -rf "$tmp"' EXIT # a failed install leaves nothing half copied (after the swap it is gone anyway)
    log "fetching the $SET jars of ${POM#"$ROOT"/} from Maven Central into $JARS (log: $out)"
    rm -rf "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$out" 2>&1; then
      log "mvn failed; last lines of $out:"
      tail -n 40 "$out" >&2
      exit 1
    fi
    ls "$tmp"/*.jar >/dev/null 2>&1 || die "mvn copied no jar (see $out)"
    check_no_overlap "$tmp"
    pom_key >"$tmp/.complete"
    # Swap whole directories: a JVM already running with the old jars keeps its open files.
    if [ -d "$JARS" ]; then mv "$JARS" "$old"; fi
    mv "$tmp" "$JARS"
    rm -rf "$old"
  )
}

classpath() {
  install
  local jars=("$JARS"/*.jar)
  local IFS=,
  echo "${jars[*]}"
}

case "$CMD" in
  install) install ;;
  classpath) classpath ;;
  *) usage ;;
esac
