"""The real Kafka broker for tests (integration and end-to-end): one per test session.

`kafka_broker` runs a real Apache Kafka broker through scripts/kafka.sh (the same script the demo and CI use)
with its own data dir under the test run dir and its own free ports, so a developer's broker on 9092/9093
is never touched. If the broker cannot start, the fixture fails with the script's output: a Kafka test
that is skipped proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from evergreen.devtools.ports import free_ports
from tests.plugins.service_script import run_service_script

# kafka-python 3.0.12 warns ~200 times on import; half of those are attributed to importlib.resources, which
# pyproject's `DeprecationWarning:kafka.*` filter does not match. Import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "scripts" / "kafka.sh"


class KafkaBrokerError(RuntimeError):
    """scripts/kafka.sh failed; the message carries its exit code and output."""


class KafkaBroker:
    """One broker of scripts/kafka.sh, bound to one data dir and two ports.

    `bootstrap` is "127.0.0.1:PORT". `start()`, `stop()` and `restart()` call the script and raise
    KafkaBrokerError with its output when it fails; `last_start_s` / `last_stop_s` are their wall times.
    """

    def __init__(self, data_dir: Path, port: int, controller_port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.bootstrap = f"127.0.0.1:{port}"
        self.last_start_s: float | None = None
        self.last_stop_s: float | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Always our own data dir and ports, whatever the caller's environment says.
        env.update(
            KAFKA_DATA_DIR=str(self.data_dir),
            KAFKA_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
        )
        return env

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `scripts/kafka.sh ARGS...` for this broker."""
        return run_service_script(
            KAFKA_SH,
            args,
            env=self._env(),
            timeout=timeout,
            check=check,
            error=KafkaBrokerError,
            context=f"KAFKA_DATA_DIR={self.data_dir}, KAFKA_PORT={self.port}",
        )

    def start(self) -> None:
        t0 = time.monotonic()
        # A first start on a fresh machine downloads the jars with Maven: allow for it.
        self.run("start", timeout=900)
        self.last_start_s = time.monotonic() - t0

    def stop(self) -> None:
        t0 = time.monotonic()
        self.run("stop", timeout=120)
        self.last_stop_s = time.monotonic() - t0

    def restart(self) -> None:
        """Stop (controlled shutdown, waits for the JVM to exit) and start again on the same data dir."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """True if the broker runs and answers requests (`scripts/kafka.sh status`)."""
        return self.run("status", timeout=30, check=False).returncode == 0

    def pid(self) -> int | None:
        pidfile = self.data_dir / "broker.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None


@pytest.fixture(scope="session")
def kafka_broker(run_dir: Path) -> Iterator[KafkaBroker]:
    port, controller_port = free_ports(2)
    broker = KafkaBroker(run_dir / "kafka", port, controller_port)
    error = None
    try:
        broker.start()
    except KafkaBrokerError as e:
        error = str(e)
    if error is not None:
        broker.run("stop", timeout=120, check=False)
        pytest.fail(f"the Kafka broker did not start:\n{error}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()
