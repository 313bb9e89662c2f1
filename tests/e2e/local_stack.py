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
