"""A whole local stack (`evergreen up`) for end-to-end tests: free ports, its own directories, never the
developer's `make up` on the default ports; `stack_at` stops it (and anything left of it) afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    """One stack's settings (env for `evergreen ...`), its CLI, its state and its processes."""

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


@contextmanager
def stack_at(**env: str) -> Iterator[Stack]:
    # PostgreSQL runs as the `postgres` user when we are root: its folder must be reachable by it.
    root = Path(tempfile.mkdtemp(prefix="evergreen-stack-"))
    root.chmod(0o711)
    s = Stack(root)
    s.env.update(env)
    try:
        yield s
    finally:
        s.cli("down", check=False, timeout=300)
        leftovers = s.ours()
        for line in leftovers:  # never leave a process behind, even when a test failed
            os.kill(int(line.split()[0]), signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def airflow_of(env: dict[str, str]):
    """The running stack's Airflow seen from this process (REST with a token, metadata queries)."""
    from evergreen import config
    from evergreen.devtools.stack import LocalStack, StackSettings

    with config.overridden(env):
        return LocalStack(StackSettings()).airflow()


def wait_quiet(airflow, dag_ids, settle_s: float = 45, timeout: float = 1800) -> None:
    """Until no run of `dag_ids` is queued or running for `settle_s` seconds."""
    import time

    deadline = time.monotonic() + timeout
    calm_since, busy = None, []
    while time.monotonic() < deadline:
        busy = [r for d in dag_ids for r in airflow.runs(d) if r["state"] in ("queued", "running")]
        if busy:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= settle_s:
            return
        time.sleep(3)
    raise AssertionError(f"runs still active after {timeout} s: {busy}")


def retrain_by_hand(airflow, conf: dict, timeout: float = 1800) -> tuple[str, dict]:
    """A person's `retrain` run through the REST API (the form's fields as `conf`), until it ends."""
    from evergreen.devtools.replay import wait_run

    run_id = airflow.api("POST", "/api/v2/dags/retrain/dagRuns", {"logical_date": None, "conf": conf}, token="")[
        "dag_run_id"
    ]
    return run_id, wait_run(airflow, "retrain", run_id, timeout)


def drift_event(model: str, window: str):
    """A valid drift event for `model` on `window`, as the watcher of score_and_watch would publish it."""
    import datetime as dt

    from evergreen.contracts.drift_event import DriftDetected

    return DriftDetected(
        model=model,
        model_version="1",
        window=window,
        drifted_features={"amount": 0.31},
        rule="2 of the last 3 windows breach and the latest does",
        detected_at=dt.datetime.now(dt.UTC),
    )


_HISTORY = """
import datetime as dt, json, os, sys
from pathlib import Path
from evergreen.devtools.datagen import generate
from evergreen.devtools.dag_runs import backfill_days
start, days, rows, seed = dt.date.fromisoformat(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
generate(start, days=days, rows_per_day=rows, seed=seed)
names = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
out = backfill_days(names, Path(os.environ["EVERGREEN_HOME"]) / "logs")
print(json.dumps({d: r["state"] for d, r in out.items()}))
"""


def up_with_history(stack: Stack, start: str, days: int, rows_per_day: int, seed: int = 11) -> dict[str, str]:
    """`evergreen up`, then `days` generated days from `start` backfilled in one Spark session into the stack's
    lake (gold/features and gold/disputes), as a team lands history before the daily DAGs take over; returns
    the environment that talks to this stack."""
    stack.cli("up")
    env = {**stack.env, **{k: v for k, v in stack.state()["env"].items() if k.startswith("EVERGREEN_")}}
    argv = [sys.executable, "-c", _HISTORY, start, str(days), str(rows_per_day), str(seed)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    states = json.loads(out.stdout.splitlines()[-1])
    assert set(states.values()) == {"success"}, states
    return env


@contextmanager
def stack_with_history(
    specs: Path, start: str, days: int, rows_per_day: int, seed: int = 11
) -> Iterator[tuple[Stack, dict]]:
    """A stack on the spec copies in `specs` (a folder in a temporary one, removed afterwards) with history
    landed (up_with_history): (stack, its environment)."""
    try:
        with stack_at(EVERGREEN_SPECS_DIRS=str(specs)) as stack:
            yield stack, up_with_history(stack, start, days, rows_per_day, seed)
    finally:
        shutil.rmtree(specs.parent, ignore_errors=True)
