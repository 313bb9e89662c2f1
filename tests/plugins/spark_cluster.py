"""A real Spark standalone cluster for tests: one master and one worker per test session, on free ports.

`spark_cluster` runs scripts/spark-cluster.sh (the script a person runs) with its own data dir under the test
run dir, so a developer's cluster on 7077 is never touched. If it cannot start, the fixture fails with the
script's output.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evergreen.devtools.ports import free_ports
from tests.plugins.service_script import run_service_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark-cluster.sh"


class SparkClusterError(RuntimeError):
    """scripts/spark-cluster.sh failed; the message carries its exit code and output."""


@dataclass(frozen=True)
class SparkCluster:
    url: str  # spark://127.0.0.1:PORT
    web_port: int

    def applications(self) -> list[dict]:
        """The master's record of applications, running and finished (name, state, cores, ...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/json/", timeout=10) as r:
            state = json.load(r)
        return state.get("activeapps", []) + state.get("completedapps", [])


@pytest.fixture(scope="session")
def spark_cluster(run_dir) -> Iterator[SparkCluster]:
    port, web, worker_web = free_ports(3)
    env = dict(os.environ)
    env.update(
        SPARK_CLUSTER_DIR=str(run_dir / "spark-cluster"),
        SPARK_MASTER_PORT=str(port),
        SPARK_MASTER_WEBUI_PORT=str(web),
        SPARK_WORKER_WEBUI_PORT=str(worker_web),
    )

    def script(*args: str):
        context = f"SPARK_CLUSTER_DIR={env['SPARK_CLUSTER_DIR']}, SPARK_MASTER_PORT={port}"
        return run_service_script(
            SCRIPT, args, env=env, timeout=180, check=True, error=SparkClusterError, context=context
        )

    url = script("start").stdout.strip()
    try:
        yield SparkCluster(url=url, web_port=web)
    finally:
        script("stop")
