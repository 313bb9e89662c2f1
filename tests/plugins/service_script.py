"""Running the project's service scripts (scripts/kafka.sh, scripts/postgres.sh) from test fixtures: one
way to call them, and one way to fail, with the script's own output and the settings it ran with."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run_service_script(
    script: Path,
    args: tuple[str, ...],
    *,
    env: dict[str, str],
    timeout: float,
    check: bool,
    error: type[Exception],
    context: str,
) -> subprocess.CompletedProcess[str]:
    """`bash script ARGS...`; raise `error` (never skip) on a time-out or, with `check`, a non-zero exit."""
    what = f"scripts/{script.name} {' '.join(args)}"
    try:
        proc = subprocess.run(
            ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise error(f"{what} timed out after {timeout}s") from e
    if check and proc.returncode != 0:
        raise error(f"{what} failed (exit {proc.returncode}, {context}):\n{proc.stdout}{proc.stderr}")
    return proc
