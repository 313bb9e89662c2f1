"""A real S3 server for tests: S3Proxy through scripts/s3.sh, one per test session, on a free port.

`s3_server` runs the script a person runs, with its own data dir under the test run dir, so a developer's
server on 9000 is never touched. The script's caller's AWS_* keys are withheld: the script generates the
data dir's own pair, as on a fresh machine, and the fixture hands it out (`access_key`, `secret_key`, `env()`).
If the server cannot start, the fixture fails with the script's output: a skipped S3 test proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evergreen.devtools.ports import free_port
from evergreen.storage import s3
from tests.plugins.service_script import run_service_script

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "s3.sh"
REGION = "us-east-1"
# Whatever the developer's shell points boto3 at, the script and its server must not see it.
_WITHHELD = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


class S3ServerError(RuntimeError):
    """scripts/s3.sh failed; the message carries its exit code and output."""


class S3Server:
    """One server of scripts/s3.sh, bound to one data dir and one port.

    `endpoint` is http://127.0.0.1:PORT. `start()`, `stop()` and `restart()` call the script and raise
    S3ServerError with its output when it fails; `last_start_s` is the last start's wall time.
    """

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.access_key = ""
        self.secret_key = ""
        self.last_start_s: float | None = None

    def _script_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _WITHHELD}
        env.update(S3_DATA_DIR=str(self.data_dir), S3_PORT=str(self.port))
        return env

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `scripts/s3.sh ARGS...` for this server."""
        return run_service_script(
            SCRIPT,
            args,
            env=self._script_env(),
            timeout=timeout,
            check=check,
            error=S3ServerError,
            context=f"S3_DATA_DIR={self.data_dir}, S3_PORT={self.port}",
        )

    def start(self) -> None:
        began = time.monotonic()
        # A first start on a fresh machine downloads the jar (55 MB) with Maven: allow for it.
        out = self.run("start", timeout=900).stdout.strip()
        self.last_start_s = time.monotonic() - began
        if out != self.endpoint:
            raise S3ServerError(f"scripts/s3.sh start printed {out!r}, expected only {self.endpoint!r}")
        self._read_credentials()

    def stop(self) -> None:
        self.run("stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """True if the server runs and a signed request succeeds (`scripts/s3.sh status`)."""
        return self.run("status", check=False).returncode == 0

    def pid(self) -> int | None:
        pidfile = self.data_dir / "s3proxy.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None

    def _read_credentials(self) -> None:
        values = {}
        for line in (self.data_dir / "credentials.env").read_text().splitlines():
            name, sep, value = line.removeprefix("export ").partition("=")
            if sep and not line.startswith("#"):
                values[name.strip()] = value.strip()
        self.access_key = values["AWS_ACCESS_KEY_ID"]
        self.secret_key = values["AWS_SECRET_ACCESS_KEY"]

    def env(self) -> dict[str, str]:
        """What a process needs to reach this server with boto3, MLflow or Hadoop's s3a (added to its env)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> s3.S3Client:
        """A boto3 client of this server (path-style, this server's keys), whatever the environment says."""
        return s3.client(self.endpoint, access_key=self.access_key, secret_key=self.secret_key)


@pytest.fixture(scope="session")
def s3_server(run_dir: Path) -> Iterator[S3Server]:
    server = S3Server(run_dir / "s3", free_port())
    error = None
    try:
        server.start()
    except S3ServerError as e:
        error = str(e)
    if error is not None:
        server.run("stop", check=False)
        pytest.fail(f"the S3 server did not start:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
