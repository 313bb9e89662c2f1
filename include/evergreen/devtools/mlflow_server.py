"""Start and stop an MLflow tracking server (`mlflow server`): the production shape of the registry, with
its own backend store (PostgreSQL in the tests, via scripts/postgres.sh) and proxied artifacts.

Used by the integration tests and meant for the demo, so both run the server the same way. The server is
ready when `GET /health` answers 200; if the process dies or the timeout passes first, `start` raises with
the end of the server's log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from evergreen.devtools.ports import free_port


class MlflowServerError(RuntimeError):
    """The server did not start (the message carries its log's last lines)."""


class MlflowServer:
    """One `mlflow server` process on 127.0.0.1:`port`; artifacts proxied to `artifacts_destination`."""

    def __init__(
        self,
        backend_store_uri: str,
        artifacts_destination: str | Path,
        *,
        port: int | None = None,
        log_path: str | Path | None = None,
        workers: int = 1,
        jobs: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts_destination = str(artifacts_destination)
        self.port = port or free_port()
        remote = "://" in self.artifacts_destination  # s3://bucket/...: the server writes through boto3
        if log_path is None and remote:
            raise ValueError(f"artifacts at {self.artifacts_destination}: give the server a local log_path")
        self.log_path = Path(log_path) if log_path else Path(self.artifacts_destination).parent / "mlflow-server.log"
        # The server's own extra environment (S3 endpoint and keys): clients then need no S3 settings.
        self.env = dict(env or {})
        self.workers = workers
        # MLflow's job runner (GenAI scorers, trace roll-ups: nothing Evergreen uses) starts seven huey
        # worker processes; off, the server starts faster and stops in about a second.
        self.jobs = jobs
        self.process: subprocess.Popen | None = None
        self.start_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        mlflow = Path(sys.executable).parent / "mlflow"
        return [
            str(mlflow) if mlflow.exists() else "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_store_uri,
            "--artifacts-destination",
            self.artifacts_destination,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:  # noqa: S310 (loopback http)
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 180) -> MlflowServer:
        """Start the server (it creates or migrates the backend's tables first) and wait until it is healthy."""
        if "://" not in self.artifacts_destination:
            Path(self.artifacts_destination).mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            # Own session: stop() signals the server and the workers it forks, and nothing else.
            env = {**os.environ, **self.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if self.jobs else "false"}
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        while not self.healthy():
            if self.process.poll() is not None:
                raise MlflowServerError(
                    f"mlflow server exited with {self.process.returncode} during start-up:\n{self.log_tail()}"
                )
            if time.monotonic() - began > timeout:
                self.stop()
                raise MlflowServerError(
                    f"mlflow server not healthy on {self.url} within {timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.25)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the server's process group, SIGKILL after `timeout`; waits until it has exited."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Workers that outlived the parent are still in its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
