"""`evergreen up | status | down` (what `make up`, `make status`, `make down` run) with real processes.

One stack for the module, on free ports and its own directories (never the developer's `make up` on the
default ports): up -> every component healthy -> the Airflow UI login and the MLflow UI work -> a second up
changes nothing -> `kill -9` of the scheduler shows as dead and the next up restarts only it, its orphaned
group stopped first -> down leaves no process of ours.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from evergreen.devtools import processes
from tests.e2e.local_stack import stack_at
from tests.paths import DAGS_DIR


@pytest.fixture(scope="module")
def stack():
    with stack_at() as s:
        yield s


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read().decode(errors="replace")


def test_up_starts_every_component_healthy_and_prints_the_login(stack):
    out = stack.cli("up")
    health = stack.status()
    assert set(health) == {"postgres", "kafka", "mlflow", "api-server", "scheduler", "dag-processor", "triggerer"}
    assert {name: row["state"] for name, row in health.items()} == dict.fromkeys(health, "healthy"), health
    for row in health.values():
        assert processes.alive(row["pid"]), row
        assert Path(row["log"]).exists(), row
    assert stack.url("AIRFLOW_PORT") in out.stdout
    assert stack.url("MLFLOW_PORT") in out.stdout
    assert "user admin" in out.stdout
    assert str(stack.root / "airflow" / "simple_auth_manager_passwords.json.generated") in out.stdout
    # The stores are PostgreSQL's: Airflow's metadata, MLflow's backend, the Evergreen tables.
    env = stack.state()["env"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["EVERGREEN_EVERGREEN_DB_URL"].endswith(f":{stack.ports['POSTGRES_PORT']}/evergreen")
    assert env["EVERGREEN_MLFLOW_TRACKING_URI"] == stack.url("MLFLOW_PORT")


def test_the_airflow_ui_login_and_the_mlflow_ui_work(stack):
    passwords = json.loads((stack.root / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
    body = json.dumps({"username": "admin", "password": passwords["admin"]}).encode()
    req = urllib.request.Request(
        f"{stack.url('AIRFLOW_PORT')}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    _, dags = _get(f"{stack.url('AIRFLOW_PORT')}/api/v2/dags?limit=100", token)
    paused = {d["dag_id"]: d["is_paused"] for d in json.loads(dags)["dags"]}
    # Every DAG of the dags folder is on after up (each file is named after its dag_id).
    assert paused == {f.stem: False for f in DAGS_DIR.glob("*.py")}
    assert {"ingest_daily", "ingest_disputes", "score_and_watch", "retrain", "drift_event_sweep"} <= set(paused)
    status, page = _get(f"{stack.url('AIRFLOW_PORT')}/")
    assert status == 200
    assert "airflow" in page.lower()
    status, page = _get(f"{stack.url('MLFLOW_PORT')}/")
    assert status == 200
    assert "<title>MLflow</title>" in page


def test_a_second_up_changes_nothing(stack):
    before = {name: row["pid"] for name, row in stack.status().items()}
    out = stack.cli("up")
    after = {name: row["pid"] for name, row in stack.status().items()}
    assert after == before
    assert "started" not in out.stdout, out.stdout
    assert {row["state"] for row in stack.status().values()} == {"healthy"}


def test_a_killed_scheduler_is_dead_in_status_and_the_next_up_restarts_only_it(stack):
    before = stack.status()
    old = stack.state()["components"]["scheduler"]
    group_before = processes.group(old["pgid"], old["started_at"])
    assert len(group_before) > 1, "the scheduler runs its log server and LocalExecutor workers in its group"
    os.kill(old["pid"], signal.SIGKILL)
    time.sleep(1)
    health = stack.status()
    assert health["scheduler"]["state"] == "dead", health["scheduler"]
    assert {n: r["state"] for n, r in health.items() if n != "scheduler"} == dict.fromkeys(
        [n for n in health if n != "scheduler"], "healthy"
    )
    # The dead leader's group lives on: its log server still holds the port.
    assert processes.group(old["pgid"], old["started_at"]), "orphans of the killed scheduler"

    log = Path(health["scheduler"]["log"])
    offset = log.stat().st_size
    out = stack.cli("up")
    assert [line.split()[1] for line in out.stdout.splitlines() if " started " in line] == ["scheduler"], out.stdout
    health = stack.status()
    assert {row["state"] for row in health.values()} == {"healthy"}, health
    assert health["scheduler"]["pid"] != old["pid"]
    assert {n: r["pid"] for n, r in health.items() if n != "scheduler"} == {
        n: r["pid"] for n, r in before.items() if n != "scheduler"
    }
    assert processes.group(old["pgid"], old["started_at"]) == [], "the old group was stopped"
    time.sleep(5)  # the new log server has bound (or failed to) by now
    since_restart = log.read_bytes()[offset:].decode(errors="replace")
    assert "address already in use" not in since_restart.lower()
    with socket.create_connection(("127.0.0.1", stack.ports["WORKER_LOG_PORT"]), timeout=5):
        pass  # the new scheduler's log server serves


def test_down_leaves_no_process_of_ours(stack):
    state = stack.state()["components"]
    stack.cli("down")
    assert stack.ours() == []
    for name, rec in state.items():
        if rec.get("pgid") and name not in ("postgres", "kafka"):
            assert processes.group(rec["pgid"], rec["started_at"]) == [], name
    assert {row["state"] for row in stack.status().values()} <= {"stopped", "dead"}
