"""A real Airflow on this machine: api-server, scheduler, dag-processor and triggerer as separate processes.

The event path (Kafka -> AssetWatcher in the triggerer -> asset event -> scheduler -> run) only exists with
these processes running; `dag.test()` has no triggerer. The demo, the end-to-end tests and the latency
benchmark all start Airflow through this one class, so they exercise the same thing.

Why not `airflow standalone`: it starts 32 workers by default, does not restart a dead triggerer and, on
SIGTERM, left its scheduler and workers running (docs/decisions/0003-own-airflow-processes.md). Here every
process is started in its own process group and stopped by PID, children included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from evergreen.devtools.ports import free_port

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class AirflowStackError(RuntimeError):
    """A component did not start, or died; the message carries the tail of its log."""


def kafka_connection(bootstrap: str, group_id: str) -> str:
    """The watcher's Kafka connection as an AIRFLOW_CONN_* value: its own group id (watchers must never
    share one), earliest offset for a new group, and manual commits (the shared stream commits only once
    the asset event is stored)."""
    extra = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": "false",
    }
    return json.dumps({"conn_type": "kafka", "extra": extra})


@dataclass
class AirflowStack:
    """Airflow's four long-running components over one AIRFLOW_HOME (SQLite metadata DB, LocalExecutor).

    `dags_folder` lets a test load only the DAGs it needs; `env` adds settings (connections, EVERGREEN_*).
    """

    home: Path
    dags_folder: Path
    env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    port: int = field(default_factory=free_port)
    # The triggerer's and workers' log servers default to 8794 / 8793: two stacks (a demo and a test run)
    # on one machine would fight over them.
    log_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    # The metadata DB; SQLite in the home unless given (`make up` uses PostgreSQL).
    sql_alchemy_conn: str | None = None
    heartbeat_bound_s: float = 30

    @property
    def db_url(self) -> str:
        return self.sql_alchemy_conn or f"sqlite:///{self.home / 'airflow.db'}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__DAGS_FOLDER")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_ports[0]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_ports[1]),
                # Hand-off from an asset event to a queued run (docs/decisions/0002-shared-stream-kafka-trigger.md)
                # and a quick first parse.
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def migrate(self) -> None:
        """Airflow's metadata DB and the project's own DB (the one the components will use: `evergreen db
        upgrade` runs with their environment), both to their heads before anything starts."""
        self.home.mkdir(parents=True, exist_ok=True)
        for what, argv in (
            ("airflow db migrate", [self._airflow(), "db", "migrate"]),
            ("evergreen db upgrade", [sys.executable, "-m", "evergreen.cli", "db", "upgrade"]),
        ):
            out = subprocess.run(argv, env=self.environ(), capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise AirflowStackError(f"{what} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")

    def start_component(self, name: str) -> None:
        # A dead component's group may live on (a killed scheduler's log server and workers): stop it
        # first, or the new one's log server fails with "address already in use".
        old = self.procs.pop(name, None)
        if old is not None:
            old.poll()
            _kill_group(old.pid)
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.procs[name] = subprocess.Popen(
            [self._airflow(), name],
            env=self.environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches the workers it forks
        )

    def start(self, *, wait_for_dags: tuple[str, ...] = (), timeout: float = 180) -> AirflowStack:
        self.migrate()
        for name in COMPONENTS:
            self.start_component(name)
        self.wait_until(self.api_healthy, timeout, "the api-server to answer /api/v2/monitor/health")
        for dag_id in wait_for_dags:
            self.wait_until(lambda d=dag_id: self.dag_active(d), timeout, f"DAG {dag_id} to be parsed and active")
        return self

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def check_alive(self) -> None:
        dead = [n for n in self.procs if not self.alive(n)]
        if dead:
            raise AirflowStackError(f"Airflow component(s) died: {dead}\n" + "\n".join(self.log_tail(n) for n in dead))

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- {name}.log ---\n" + "\n".join(text)

    def stop_component(self, name: str, timeout: float = 30) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # Task workers forked by the scheduler's executor live in its group; anything left goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop_component(name)

    def __enter__(self) -> AirflowStack:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- observing --------------------------------------------------------------------------------------
    def api_healthy(self) -> bool:
        import urllib.request

        try:
            # http to our own loopback api-server only
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2) as r:  # noqa: S310
                return r.status == 200
        except OSError:
            return False

    def token(self, username: str = "admin") -> str:
        """A JWT for the public API: the API never answers anonymous calls (SimpleAuthManager, login
        required); passwords are generated per home by the api-server, never stored in the repo."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        body = {"username": username, "password": passwords[username]}
        return self.api("POST", "/auth/token", body, token=None)["access_token"]

    def api(self, method: str, path: str, body: dict | None = None, *, token: str | None = "") -> Any:
        """One call to the api-server; `token=""` fetches an admin token first, `None` sends none."""
        import urllib.request

        if token == "":
            token = self.token()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.api_url}{path}", data=data, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - our own loopback api-server
            return json.loads(r.read() or b"null")

    def post_asset_event(self, uri: str, extra: dict | None = None) -> dict:
        """What a producing task's outlet does: an asset event that starts the runs scheduled on it."""
        from urllib.parse import quote

        token = self.token()
        assets = self.api("GET", f"/api/v2/assets?uri_pattern={quote(uri)}", token=token)["assets"]
        (asset,) = [a for a in assets if a["uri"] == uri]
        return self.api("POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": extra or {}}, token=token)

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.db_url)

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        eng = self.engine()
        try:
            with eng.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
        except sa.exc.OperationalError:  # the scheduler may hold the write lock for a moment, or no table yet
            return []
        finally:
            eng.dispose()

    def dag_active(self, dag_id: str) -> bool:
        rows = self.query("SELECT is_paused, is_stale FROM dag WHERE dag_id = :d", d=dag_id)
        return bool(rows) and not rows[0]["is_paused"] and not rows[0]["is_stale"]

    def watchers_ready(self, count: int = 1) -> bool:
        """A live triggerer, whose own job beat within the bound, runs `count` asset watchers' triggers.

        Asks the live process: a trigger row assigned to a dead triggerer's job (the row stays for a while)
        does not count."""
        if not self.alive("triggerer"):
            return False
        from evergreen.devtools import processes

        since = processes.start_time(self.procs["triggerer"].pid) or 0
        jobs = self.query(
            "SELECT id, state, start_date, latest_heartbeat FROM job WHERE job_type = 'TriggererJob' "
            "ORDER BY id DESC LIMIT 5"
        )
        now = dt.datetime.now(dt.UTC)
        live = [
            j["id"]
            for j in jobs
            if j["state"] == "running"
            and j["start_date"] is not None
            and j["latest_heartbeat"] is not None
            and _utc(j["start_date"]).timestamp() >= since - 5
            and (now - _utc(j["latest_heartbeat"])).total_seconds() <= self.heartbeat_bound_s
        ]
        if not live:
            return False
        rows = self.query("SELECT count(*) AS n FROM trigger WHERE triggerer_id = :j", j=live[0])
        return bool(rows) and rows[0]["n"] >= count

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT run_id, state, run_type, queued_at, start_date, end_date FROM dag_run "
            "WHERE dag_id = :d ORDER BY id",
            d=dag_id,
        )
        for r in rows:  # SQLite hands timestamps back as text; Airflow stores them in UTC
            for k in ("queued_at", "start_date", "end_date"):
                if isinstance(r[k], str):
                    r[k] = dt.datetime.fromisoformat(r[k])
                if isinstance(r[k], dt.datetime) and r[k].tzinfo is None:
                    r[k] = r[k].replace(tzinfo=dt.UTC)
        return rows

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        rows = self.query(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id
        )
        return {(r["task_id"] if r["map_index"] < 0 else f"{r['task_id']}[{r['map_index']}]"): r["state"] for r in rows}

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self.check_alive()
            time.sleep(every)
        raise AirflowStackError(
            f"timed out after {timeout:.0f} s waiting for {what}\n" + "\n".join(self.log_tail(n) for n in self.procs)
        )


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _kill_group(group_id: int) -> None:
    """SIGKILL what is left of a process group whose leader we started (and has died)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group_id, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group_id, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)


def wait_finished(stack: AirflowStack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        rows = [r for r in stack.runs(dag_id) if r["run_id"] == run_id]
        return rows[0] if rows and rows[0]["state"] in ("success", "failed") else None

    return stack.wait_until(done, timeout, f"{dag_id} run {run_id} to finish", every=0.5)
