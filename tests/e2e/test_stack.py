"""`evergreen up | status | down` (what `make up`, `make status`, `make down` run) with real processes.

One stack for the module, on free ports and its own directories (never the developer's `make up` on the
default ports): up -> every component healthy -> the Airflow UI login and the MLflow UI work -> a second up
changes nothing -> `kill -9` of the scheduler shows as dead and the next up restarts only it, its orphaned
group stopped first -> down leaves no process of ours.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from evergreen.devtools import processes
from evergreen.devtools.ports import free_ports

PORTS = (
    "POSTGRES_PORT",
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "MLFLOW_PORT",
    "AIRFLOW_PORT",
    "WORKER_LOG_PORT",
    "TRIGGER_LOG_PORT",
    "SCHEDULER_HEALTH_PORT",
)


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
        self.ports = ports
        self.env = {
            **os.environ,
            "EVERGREEN_HOME": str(root / "evergreen"),
            "AIRFLOW_HOME": str(root / "airflow"),
            "EVERGREEN_STACK_DIR": str(root / "stack"),
            "EVERGREEN_STACK_POSTGRES_DIR": str(root / "postgres"),
            "EVERGREEN_STACK_KAFKA_DIR": str(root / "kafka"),
            "EVERGREEN_STACK_START_TIMEOUT_S": "600",
            **{f"EVERGREEN_STACK_{k}": str(v) for k, v in ports.items()},
        }
        for key in ("EVERGREEN_MLFLOW_TRACKING_URI", "EVERGREEN_EVERGREEN_DB_URL", "EVERGREEN_KAFKA_BOOTSTRAP"):
            self.env.pop(key, None)

    def cli(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "evergreen.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"evergreen {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
        return out

    def status(self) -> dict[str, dict]:
        out = self.cli("status", "--json", check=False)
        return {row["component"]: row for row in json.loads(out.stdout)}

    def state(self) -> dict:
        return json.loads((self.root / "stack" / "state.json").read_text())

    def ours(self) -> list[str]:
        """Every live process whose command line or environment names this stack's directory."""
        found = []
        for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
            if pid == os.getpid() or not processes.alive(pid):
                continue
            cmd = processes.command(pid)
            if str(self.root) in cmd or processes.marker_of(pid) == str((self.root / "stack").resolve()):
                found.append(f"{pid} {cmd[:160]}")
        return found

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


@pytest.fixture(scope="module")
def stack():
    # PostgreSQL runs as the `postgres` user when we are root: its folder must be reachable by it.
    root = Path(tempfile.mkdtemp(prefix="evergreen-stack-"))
    root.chmod(0o711)
    s = Stack(root)
    try:
        yield s
    finally:
        s.cli("down", check=False, timeout=300)
        leftovers = s.ours()
        for line in leftovers:  # never leave a process behind, even when a test failed
            os.kill(int(line.split()[0]), signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


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
    # The DAGs are on after up.
    assert paused == {"ingest_daily": False, "retrain": False, "rollback_model": False, "score_and_watch": False}
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
