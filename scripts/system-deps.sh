#!/usr/bin/env bash
# System packages the project needs, installed only when missing (Debian/Ubuntu; needs root or sudo).
# Java runs Spark and the Kafka broker; Maven fetches Kafka's jars; python3.11 builds the venv.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v python3.11 >/dev/null || need+=(python3.11 python3.11-venv)
[ ${#need[@]} -eq 0 ] && exit 0
echo "[setup] installing system packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
