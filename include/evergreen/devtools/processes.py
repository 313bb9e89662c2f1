"""Processes the local stack started: who they are, whether they live, and stopping a whole process group.

A PID alone is a weak name: after a `kill -9` the number may be handed to another program, and a dead
scheduler's process group (its log server, LocalExecutor workers, their spark-submit JVMs) outlives it.
The stack records each leader's PID with its start time and starts it in its own process group, so:
- a group's members are ours while its leader is the recorded process, and also once the leader is dead
  (Linux never hands out a PID that is still some group's id, so the orphans are the original group's);
- if a *different* process now holds the leader's PID, the number was recycled: nothing is touched.
Every process the stack starts also carries a marker in its environment (`EVERGREEN_STACK_MARK=<dir>`),
which `down` sweeps for at the end. (Processes that rewrite their title with setproctitle, such as
Airflow's workers, lose their environment from /proc: the group rule is what finds them.)
Linux only (reads /proc).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

# Never a setting's name: a shell that sets a setting must not look like one of the stack's processes.
MARKER = "EVERGREEN_STACK_MARK"
_PROC = Path("/proc")


def _boot_time() -> float:
    for line in (_PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> float | None:
    """When `pid` started (epoch seconds, to 1/100 s), or None if there is no such process."""
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = int(fields[19])  # field 22 of stat: starttime, in clock ticks since boot
    return round(_boot_time() + ticks / os.sysconf("SC_CLK_TCK"), 2)


def state(pid: int) -> str | None:
    fields = _stat(pid)
    return None if fields is None else fields[0]


def pgid(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[2])


def alive(pid: int | None, started: float | None = None) -> bool:
    """`pid` runs (not a zombie) and, when `started` is given, is the same process that started then."""
    if not pid:
        return False
    st = state(pid)
    if st is None or st in ("Z", "X"):
        return False
    return started is None or abs((start_time(pid) or 0) - started) < 1.0


def marker_of(pid: int) -> str | None:
    """The stack marker in a process's environment, if any."""
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    prefix = f"{MARKER}=".encode()
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def _pids() -> list[int]:
    return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]


def ancestors() -> set[int]:
    """This process and its parents up to init: never stopped by anything here, whatever they carry."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        fields = _stat(pid)
        if fields is None:
            break
        pid = int(fields[1])
    return out


def marked(marker: str) -> list[int]:
    """Every live process carrying `marker` (the stack's processes, their children and grandchildren)."""
    mine = ancestors()
    return [p for p in _pids() if p not in mine and alive(p) and marker_of(p) == marker]


def group(group_id: int, leader_started: float | None) -> list[int]:
    """Live members of process group `group_id`, whose leader started at `leader_started`; empty if the
    leader's PID now names another process (recycled)."""
    if alive(group_id) and leader_started is not None and not alive(group_id, leader_started):
        return []
    mine = ancestors()
    return [p for p in _pids() if p not in mine and pgid(p) == group_id and alive(p)]


def command(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def _signal_all(pids: list[int], sig: int) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, sig)


def stop_pids(pids_now, timeout: float = 30) -> list[int]:
    """SIGTERM to what `pids_now()` returns, SIGKILL to what is left after `timeout`; returns the pids it
    signalled. `pids_now` is asked again each round, so children forked meanwhile are caught too."""
    signalled: set[int] = set()
    pids = pids_now()
    if not pids:
        return []
    _signal_all(pids, signal.SIGTERM)
    signalled.update(pids)
    deadline = time.monotonic() + timeout
    while (pids := pids_now()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(50):  # up to ~10 s of SIGKILL rounds: a fork may race the first one
        pids = pids_now()
        if not pids:
            break
        _signal_all(pids, signal.SIGKILL)
        signalled.update(pids)
        time.sleep(0.2)
    return sorted(signalled)


def stop_group(group_id: int, leader_started: float | None, timeout: float = 30) -> list[int]:
    """Stop every member of a process group we started (a dead leader's orphans included)."""
    return stop_pids(lambda: group(group_id, leader_started), timeout)
