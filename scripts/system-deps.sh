#!/usr/bin/env bash
# System packages the project needs, installed only when missing (Debian/Ubuntu; needs root or sudo).
# Java runs Spark and the Kafka broker; Maven fetches Kafka's jars; python3.11 builds the venv;
# PostgreSQL's server (scripts/postgres.sh) backs the MLflow server tests. Debian keeps initdb and pg_ctl in
# /usr/lib/postgresql/<ver>/bin, off PATH: look there, as scripts/postgres.sh does. Chromium is the browser the
# UI tests drive through Playwright (never `playwright install`: it downloads a browser of its own).
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v python3.11 >/dev/null || need+=(python3.11 python3.11-venv)
pg_server() { local d; for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0; done; return 1; }
pg_server || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
echo "[setup] installing system packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
