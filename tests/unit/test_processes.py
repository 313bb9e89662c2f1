"""The stack's process bookkeeping on real processes: a group outlives its killed leader and is stopped
whole; a recycled leader PID is never signalled; the marker finds our processes and never our ancestors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from evergreen.devtools import processes

# A leader that forks two children into its own process group, then waits.
LEADER = (
    "import subprocess, sys, time\nkids = [subprocess.Popen(['sleep', '300']) for _ in range(2)]\ntime.sleep(300)\n"
)


def _leader(env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LEADER], start_new_session=True, env=env)
    deadline = time.monotonic() + 30
    while len(processes.group(proc.pid, None)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc


def test_a_killed_leaders_group_lives_on_and_is_stopped_whole():
    proc = _leader()
    started = processes.start_time(proc.pid)
    assert processes.alive(proc.pid, started)
    members = processes.group(proc.pid, started)
    assert len(members) == 3
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert not processes.alive(proc.pid, started)
    orphans = processes.group(proc.pid, started)
    assert len(orphans) == 2, "the children outlive their leader, still in its group"
    assert set(processes.stop_group(proc.pid, started, timeout=5)) == set(orphans)
    assert processes.group(proc.pid, started) == []


def test_a_recycled_leader_pid_is_never_signalled():
    proc = _leader()
    try:
        wrong_start = processes.start_time(proc.pid) - 100  # as if the recorded leader were another process
        assert processes.group(proc.pid, wrong_start) == []
        assert processes.stop_group(proc.pid, wrong_start, timeout=1) == []
        assert processes.alive(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_the_marker_finds_our_processes_and_never_our_ancestors():
    marker = f"/tmp/evergreen-test-marker-{os.getpid()}"
    proc = _leader({**os.environ, processes.MARKER: marker})
    try:
        assert set(processes.marked(marker)) == set(processes.group(proc.pid, None))
        assert processes.ancestors() >= {os.getpid(), os.getppid()}
        assert not processes.ancestors() & set(processes.marked(marker))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
