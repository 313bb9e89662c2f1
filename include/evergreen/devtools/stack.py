"""`make up` / `make status` / `make down`: the whole stack as long-running local services.

    PostgreSQL   (scripts/postgres.sh)  databases `airflow`, `mlflow`, `evergreen`   (store = postgresql)
    Kafka        (scripts/kafka.sh)     broker + the drift and dead-letter topics
    MLflow       `mlflow server`        tracking server and UI, artifacts under $EVERGREEN_HOME/mlartifacts
    Airflow      api-server, scheduler, dag-processor, triggerer (LocalExecutor, bounded parallelism)

State (PIDs, start times, ports, log files, the environment the services run with) lives in
`<stack dir>/state.json`. `up` is idempotent: a component that runs and answers is left alone; a dead or
unresponsive one has its whole process group stopped (a killed scheduler leaves its log server and workers
behind) before it starts again. `status` asks each live process: HTTP health endpoints (api-server, the
scheduler's own health server, MLflow), a Metadata request to the broker, a query to PostgreSQL, and a
heartbeat within a bound from the triggerer's and dag-processor's jobs started by *that* process. `down`
stops only what `up` started, by process group, then anything still carrying the stack's marker.

Ports, directories and the store are settings (`StackSettings`, env `EVERGREEN_STACK_*`); `make demo` and
`make up` share the same homes (`EVERGREEN_HOME`, `AIRFLOW_HOME`), so the demo's runs are the ones the UIs
show. docs/operations.md is the operator's page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evergreen.devtools import processes
from evergreen.devtools.checkout import checkout, script

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
COMPONENTS = ("postgres", "kafka", "mlflow", *AIRFLOW_COMPONENTS)
DATABASES = ("airflow", "mlflow", "evergreen")
MARK = processes.MARKER  # in the environment of every process `up` starts
ADMIN = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
HEARTBEAT_JOBS = {"triggerer": "TriggererJob", "dag-processor": "DagProcessorJob"}


class StackError(RuntimeError):
    """A component did not come up; the message names it and carries the end of its log."""


def _run_dir() -> Path:
    try:
        return checkout() / ".run"
    except FileNotFoundError:
        return Path.cwd() / ".run"


class StackSettings(BaseSettings):
    """Where the stack lives and which ports it takes (env `EVERGREEN_STACK_<FIELD>`)."""

    model_config = SettingsConfigDict(env_prefix="EVERGREEN_STACK_", extra="ignore")

    dir: Path = Field(default_factory=lambda: _run_dir() / "stack")  # state.json and service logs
    store: Literal["postgresql", "sqlite"] = "postgresql"  # Airflow metadata, MLflow backend, Evergreen tables
    postgres_dir: Path = Field(default_factory=lambda: _run_dir() / "postgres")
    postgres_port: int = 55432
    kafka_dir: Path = Field(default_factory=lambda: _run_dir() / "kafka")
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mlflow_port: int = 5000
    airflow_port: int = 8080
    worker_log_port: int = 8793
    trigger_log_port: int = 8794
    scheduler_health_port: int = 8974
    parallelism: int = 4  # LocalExecutor worker processes (each ~130 MB)
    heartbeat_bound_s: float = 30  # a scheduler/triggerer/dag-processor heartbeat older than this is dead
    start_timeout_s: float = 300


@dataclass
class Health:
    name: str
    state: str  # healthy | starting | unhealthy | dead | stopped | off
    pid: int | None = None
    port: int | None = None
    log: str | None = None
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.state in ("healthy", "off")

    def row(self) -> dict[str, Any]:
        return {
            "component": self.name,
            "state": self.state,
            "pid": self.pid,
            "port": self.port,
            "log": self.log,
            "detail": self.detail,
        }


@dataclass
class LocalStack:
    cfg: StackSettings = field(default_factory=StackSettings)
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    # ---- where things are ------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.cfg.dir / "state.json"

    @property
    def log_dir(self) -> Path:
        return self.cfg.dir / "logs"

    @property
    def marker(self) -> str:
        return str(self.cfg.dir.resolve())

    @property
    def evergreen_home(self) -> Path:
        from evergreen.config import settings

        return Path(settings().home).resolve()

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME") or _run_dir() / "airflow").resolve()

    def pg_url(self, database: str) -> str:
        return f"postgresql+psycopg2://evergreen@127.0.0.1:{self.cfg.postgres_port}/{database}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.mlflow_port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.cfg.kafka_port}"

    @property
    def metadata_url(self) -> str:
        if self.cfg.store == "postgresql":
            return self.pg_url("airflow")
        return f"sqlite:///{self.airflow_home / 'airflow.db'}"

    @property
    def passwords_path(self) -> Path:
        return self.airflow_home / PASSWORDS_FILE

    def components(self) -> tuple[str, ...]:
        return COMPONENTS if self.cfg.store == "postgresql" else COMPONENTS[1:]

    def port_of(self, name: str) -> int | None:
        return {
            "postgres": self.cfg.postgres_port,
            "kafka": self.cfg.kafka_port,
            "mlflow": self.cfg.mlflow_port,
            "api-server": self.cfg.airflow_port,
            "scheduler": self.cfg.scheduler_health_port,
            "triggerer": self.cfg.trigger_log_port,
        }.get(name)

    def log_of(self, name: str) -> Path:
        if name == "postgres":
            return self.cfg.postgres_dir / "postgres.log"
        if name == "kafka":
            return self.cfg.kafka_dir / "broker.log"
        return self.log_dir / f"{name}.log"

    # ---- the environment every service and client of the stack shares ------------------------------------
    def client_env(self) -> dict[str, str]:
        """What a task, `evergreen replay` or a shell needs to talk to this stack (no secrets)."""
        env = {
            "EVERGREEN_HOME": str(self.evergreen_home),
            "EVERGREEN_KAFKA_BOOTSTRAP": self.bootstrap,
            "EVERGREEN_MLFLOW_TRACKING_URI": self.mlflow_url,
        }
        if self.cfg.store == "postgresql":
            env["EVERGREEN_EVERGREEN_DB_URL"] = self.pg_url("evergreen")
        for key in ("EVERGREEN_SPECS_DIRS", "EVERGREEN_LAKE_ROOT", "EVERGREEN_LANDING_ROOT", "EVERGREEN_CONFIG"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        return env

    def service_env(self) -> dict[str, str]:
        """The environment of the stack's processes: the client settings, Airflow's overrides, the marker."""
        from evergreen.devtools.airflow_stack import kafka_connection

        env = {
            **self.client_env(),
            MARK: self.marker,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.cfg.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.cfg.airflow_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.cfg.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.cfg.trigger_log_port),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.cfg.scheduler_health_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": str(int(self.cfg.heartbeat_bound_s)),
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW_CONN_KAFKA_DRIFT": kafka_connection(self.bootstrap, "evergreen-drift-watcher"),
            "KAFKA_DATA_DIR": str(self.cfg.kafka_dir),
            "KAFKA_PORT": str(self.cfg.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.cfg.kafka_controller_port),
            "PG_DATA_DIR": str(self.cfg.postgres_dir),
            "PG_PORT": str(self.cfg.postgres_port),
            "PYTHONUNBUFFERED": "1",
        }
        if os.environ.get("EVERGREEN_REPO"):
            env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(os.environ["EVERGREEN_REPO"]) / "dags")
        return env

    def _environ(self, state: dict) -> dict[str, str]:
        return {**os.environ, **state["env"]}

    # ---- state -----------------------------------------------------------------------------------------
    def load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"components": {}, "env": {}}

    def save(self, state: dict) -> None:
        self.cfg.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_path)
        # A shell that sources this talks to the running stack (`source .run/stack/client.env`).
        shared = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API__BASE_URL")
        lines = [
            f"export {k}={json.dumps(v)}"
            for k, v in sorted(state["env"].items())
            if (k.startswith("EVERGREEN_") and k != MARK) or k in shared
        ]
        (self.cfg.dir / "client.env").write_text("\n".join(lines) + "\n")

    # ---- health: ask the live processes ----------------------------------------------------------------
    def _pid_of(self, name: str, state: dict) -> tuple[int | None, float | None]:
        if name == "postgres":
            return _first_int(self.cfg.postgres_dir / "data" / "postmaster.pid"), None
        if name == "kafka":
            return _first_int(self.cfg.kafka_dir / "broker.pid"), None
        rec = state["components"].get(name) or {}
        return rec.get("pid"), rec.get("started_at")

    def check(self, name: str, state: dict | None = None) -> Health:
        state = state if state is not None else self.load()
        pid, started = self._pid_of(name, state)
        h = Health(name, "dead", pid, self.port_of(name), str(self.log_of(name)))
        if name not in self.components():
            h.state, h.detail = "off", f"store is {self.cfg.store}"
            return h
        if not processes.alive(pid, started):
            h.state = "dead" if name in state["components"] else "stopped"
            h.detail = f"pid {pid} is gone" if pid else "not started"
            return h
        ok, detail = self._probe(name, pid, state)
        h.state, h.detail = ("healthy" if ok else "unhealthy"), detail
        return h

    def _probe(self, name: str, pid: int, state: dict) -> tuple[bool, str]:
        if name == "postgres":
            return _pg_ready(self.pg_url("postgres"))
        if name == "kafka":
            out = self._script("kafka.sh", "status", state=state, check=False, timeout=30)
            return out.returncode == 0, (out.stderr.strip().splitlines() or [""])[-1].removeprefix("[kafka] ")
        if name == "mlflow":
            return _http_ok(f"{self.mlflow_url}/health")
        if name == "api-server":
            ok, detail = _http_ok(f"{self.airflow_url}/api/v2/monitor/health")
            return ok, "GET /api/v2/monitor/health: " + detail
        if name == "scheduler":
            ok, detail = _http_ok(f"http://127.0.0.1:{self.cfg.scheduler_health_port}/health")
            return ok, f"scheduler health server: {detail} (heartbeat within {self.cfg.heartbeat_bound_s:.0f} s)"
        return self._heartbeat(HEARTBEAT_JOBS[name], processes.start_time(pid) or 0)

    def _heartbeat(self, job_type: str, since: float) -> tuple[bool, str]:
        """The job this very process started (not an older row of a dead one) beat within the bound."""
        import sqlalchemy as sa

        eng = sa.create_engine(self.metadata_url)
        try:
            with eng.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT id, state, start_date, latest_heartbeat FROM job WHERE job_type = :t "
                        "ORDER BY latest_heartbeat DESC LIMIT 5"
                    ),
                    {"t": job_type},
                ).all()
        except sa.exc.SQLAlchemyError as e:
            return False, f"metadata DB: {type(e).__name__}"
        finally:
            eng.dispose()
        now = dt.datetime.now(dt.UTC)
        for job_id, job_state, start, beat in rows:
            start, beat = _utc(start), _utc(beat)
            if start is None or beat is None or start.timestamp() < since - 5:
                continue  # an older process's job
            age = (now - beat).total_seconds()
            if job_state == "running" and age <= self.cfg.heartbeat_bound_s:
                return True, f"job {job_id} heartbeat {age:.0f} s ago"
            bound = self.cfg.heartbeat_bound_s
            return False, f"job {job_id} {job_state}, heartbeat {age:.0f} s ago (bound {bound:.0f} s)"
        return False, "no heartbeat from this process yet"

    def status(self) -> list[Health]:
        state = self.load()
        return [self.check(n, state) for n in COMPONENTS]

    # ---- starting --------------------------------------------------------------------------------------
    def _script(self, name: str, *args: str, state: dict, check: bool = True, timeout: float = 900):
        out = subprocess.run(
            ["bash", str(script(name)), *args],
            env=self._environ(state),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise StackError(f"scripts/{name} {' '.join(args)} failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
        return out

    def _record(self, state: dict, name: str, pid: int | None, started_by_up: bool = True) -> None:
        state["components"][name] = {
            "pid": pid,
            "started_at": processes.start_time(pid) if pid else None,
            "pgid": processes.pgid(pid) if pid else None,
            "port": self.port_of(name),
            "log": str(self.log_of(name)),
            "started_by_up": started_by_up,
        }

    def _stop_recorded(self, name: str, state: dict) -> list[int]:
        """Stop a component's whole process group (its orphans too, if the leader died)."""
        rec = state["components"].get(name) or {}
        if not rec.get("pgid"):
            return []
        return processes.stop_group(rec["pgid"], rec.get("started_at"))

    def _start_postgres(self, state: dict) -> None:
        self._script("postgres.sh", "start", state=state)
        self._script("postgres.sh", "createdb", *DATABASES, state=state)
        self._record(state, "postgres", _first_int(self.cfg.postgres_dir / "data" / "postmaster.pid"))

    def _start_kafka(self, state: dict) -> None:
        from evergreen.config import settings

        self._script("kafka.sh", "start", state=state)
        cfg = settings()
        self._script("kafka.sh", "topics", cfg.kafka_drift_topic, cfg.kafka_dead_letter_topic, state=state)
        self._record(state, "kafka", _first_int(self.cfg.kafka_dir / "broker.pid"))

    def _spawn(self, name: str, argv: list[str], state: dict) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_of(name), "ab") as log:
            proc = subprocess.Popen(
                argv,
                env=self._environ(state),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: down and restarts reach what it forks
            )
        self._record(state, name, proc.pid)

    def _start_mlflow(self, state: dict) -> None:
        from evergreen.devtools.mlflow_server import MlflowServer

        if self.cfg.store == "postgresql":
            backend = self.pg_url("mlflow")
        else:
            backend = f"sqlite:///{self.evergreen_home / 'mlflow.db'}"
        server = MlflowServer(backend, self.evergreen_home / "mlartifacts", port=self.cfg.mlflow_port)
        (self.evergreen_home / "mlartifacts").mkdir(parents=True, exist_ok=True)
        state["env"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self._spawn("mlflow", server.command(), state)

    def _migrate_airflow(self, state: dict) -> None:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / "airflow-db-migrate.log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as fh:
            code = subprocess.run(
                [_bin("airflow"), "db", "migrate"],
                env=self._environ(state),
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=900,
                check=False,
            ).returncode
        if code != 0:
            raise StackError(f"airflow db migrate failed (exit {code}):\n{_tail(log)}")

    def _upgrade_evergreen_db(self, state: dict) -> None:
        """`evergreen db upgrade` against the stack's own Evergreen DB (idempotent: at head it does nothing)."""
        if "postgres" in self.components():
            self._wait("postgres", state, self.cfg.start_timeout_s)
        log = self.log_dir / "evergreen-db-upgrade.log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as fh:
            code = subprocess.run(
                [sys.executable, "-m", "evergreen.cli", "db", "upgrade"],
                env=self._environ(state),
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            ).returncode
        if code != 0:
            raise StackError(f"evergreen db upgrade failed (exit {code}):\n{_tail(log)}")

    def up(self) -> list[Health]:
        """Start what is not running and healthy; leave the rest alone. Returns every component's health."""
        state = self.load()
        before = {n: self.check(n, state) for n in self.components()}
        if not any(processes.alive(*self._pid_of(n, state)) for n in self.components()):
            state["env"] = self.service_env()  # nothing runs: take today's settings
        else:
            state["env"] = {**self.service_env(), **state.get("env", {})}  # keep what the live ones run with
        state.setdefault("components", {})
        self.cfg.dir.mkdir(parents=True, exist_ok=True)
        started: list[str] = []
        migrated = False
        for name in self.components():
            if name == "mlflow":
                self._upgrade_evergreen_db(state)  # before anything that writes promotions or drift reports
            h = before[name]
            if h.state == "unhealthy" and name in AIRFLOW_COMPONENTS:
                # A process that started a moment ago may still be on its way: give it a short while.
                h = self._wait(name, state, 20, raise_on_timeout=False)
            if h.healthy:
                self.out(f"[up] {name:<13} running  pid {h.pid}")
                continue
            if name in ("postgres", "kafka"):
                getattr(self, f"_start_{name}")(state)
            else:
                # Dead or unresponsive: its whole group goes first (log server, workers): no "address in use".
                killed = self._stop_recorded(name, state)
                if killed:
                    self.out(f"[up] {name:<13} stopped {len(killed)} leftover process(es) of its group")
                if name == "mlflow":
                    self._start_mlflow(state)
                else:
                    if not migrated and (name == "api-server" or not before["api-server"].healthy):
                        self._migrate_airflow(state)  # a fresh or changed metadata DB; not for one restart
                        migrated = True
                    self._spawn(name, [_bin("airflow"), name], state)
            started.append(name)
            self.save(state)
        for name in started:
            h = self._wait(name, state, self.cfg.start_timeout_s)
            self.out(f"[up] {name:<13} started  pid {h.pid}  {h.detail}")
        self.save(state)
        self.unpause_dags(state)
        return [self.check(n, state) for n in COMPONENTS]

    def _wait(self, name: str, state: dict, timeout: float, *, raise_on_timeout: bool = True) -> Health:
        deadline = time.monotonic() + timeout
        while True:
            h = self.check(name, state)
            if h.healthy:
                return h
            if h.state in ("dead", "stopped") and name not in ("postgres", "kafka"):
                raise StackError(f"{name} exited during start-up ({h.detail}); its log {h.log}:\n{_tail(Path(h.log))}")
            if time.monotonic() > deadline:
                if not raise_on_timeout:
                    return h
                raise StackError(
                    f"{name} not healthy within {timeout:.0f} s ({h.detail}); its log {h.log}:\n{_tail(Path(h.log))}"
                )
            time.sleep(1)

    # ---- Airflow: the DAGs are on after up ----------------------------------------------------------------
    def airflow(self) -> Any:
        """An AirflowStack view of the running Airflow (REST calls with a token, metadata queries)."""
        from evergreen.devtools.airflow_stack import AirflowStack

        dags = Path(self.load()["env"].get("AIRFLOW__CORE__DAGS_FOLDER") or checkout() / "dags")
        return AirflowStack(
            home=self.airflow_home, dags_folder=dags, port=self.cfg.airflow_port, sql_alchemy_conn=self.metadata_url
        )

    def dag_ids(self, state: dict) -> list[str]:
        dags = Path(state["env"].get("AIRFLOW__CORE__DAGS_FOLDER") or checkout() / "dags")
        return sorted(p.stem for p in dags.glob("*.py") if not p.name.startswith("_"))

    def unpause_dags(self, state: dict, timeout: float | None = None) -> list[str]:
        """Wait until the dag-processor has parsed every DAG file, then unpause those still paused."""
        airflow = self.airflow()
        wanted = self.dag_ids(state)
        token = airflow.token(ADMIN)

        def listed() -> dict[str, bool] | None:
            found = airflow.api("GET", "/api/v2/dags?limit=100", token=token)["dags"]
            paused = {d["dag_id"]: d["is_paused"] for d in found}
            return paused if set(wanted) <= set(paused) else None

        deadline = time.monotonic() + (timeout or self.cfg.start_timeout_s)
        while (paused := listed()) is None:
            if time.monotonic() > deadline:
                raise StackError(f"the dag-processor did not list {wanted} in time; see {self.log_of('dag-processor')}")
            time.sleep(1)
        turned = [d for d in wanted if paused[d]]
        for dag_id in turned:
            airflow.api("PATCH", f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": False}, token=token)
        if turned:
            self.out(f"[up] unpaused {', '.join(turned)}")
        return turned

    # ---- stopping --------------------------------------------------------------------------------------
    def down(self) -> list[int]:
        """Stop what `up` started, newest first, by process group; then anything else still marked as ours."""
        state = self.load()
        if not state["components"]:
            self.out("[down] nothing recorded: the stack was not started from here")
        if not state.get("env"):
            state["env"] = self.service_env()
        stopped: list[int] = []
        for name in reversed(COMPONENTS):
            rec = state["components"].get(name)
            if not rec or not rec.get("started_by_up", True):
                continue
            if name == "postgres":
                self._script("postgres.sh", "stop", state=state, check=False, timeout=180)
            elif name == "kafka":
                self._script("kafka.sh", "stop", state=state, check=False, timeout=180)
            else:
                stopped += self._stop_recorded(name, state)
            self.out(f"[down] {name:<13} stopped")
        leftovers = processes.stop_pids(lambda: processes.marked(self.marker))
        if leftovers:
            self.out(f"[down] stopped {len(leftovers)} more process(es) carrying the stack's marker")
        state["components"] = {}
        self.save(state)
        return stopped + leftovers

    # ---- what a person reads -----------------------------------------------------------------------------
    def login_lines(self) -> list[str]:
        return [
            f"Airflow UI   {self.airflow_url}   user {ADMIN}, password in {self.passwords_path}",
            f"MLflow UI    {self.mlflow_url}",
            f"Kafka        {self.bootstrap}   topics evergreen.drift, evergreen.drift.dead-letter",
            f"state        {self.state_path}   (stop with `make down`)",
        ]

    def adopt_client_env(self) -> dict[str, str]:
        """Point this process at the running stack (replay, demo): its settings, as its services see them."""
        from evergreen import config

        env = {k: v for k, v in self.load()["env"].items() if k.startswith("EVERGREEN_")}
        if not env:
            env = self.client_env()
        os.environ.update(env)
        config.reload()
        return env


def status_table(health: list[Health]) -> str:
    rows = [h.row() for h in health]
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "-")) for r in rows)) for c in rows[0]}
    cols = ["component", "state", "pid", "port", "detail", "log"]
    lines = ["  ".join(f"{c:<{widths[c]}}" for c in cols)]
    for r in rows:
        lines.append("  ".join(f"{'-' if r[c] is None else r[c]!s:<{widths[c]}}" for c in cols).rstrip())
    return "\n".join(lines)


# ---- small helpers ---------------------------------------------------------------------------------------
def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def _first_int(path: Path) -> int | None:
    try:
        first = path.read_text().split()[0]
    except (FileNotFoundError, IndexError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _http_ok(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - our own loopback services
            return r.status == 200, f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        return False, f"HTTP {e.code}"
    except OSError as e:
        return False, f"no answer ({type(e).__name__})"


def _pg_ready(url: str) -> tuple[bool, str]:
    import sqlalchemy as sa

    eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with eng.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar()
        return True, f"SELECT answered (PostgreSQL {version})"
    except sa.exc.SQLAlchemyError as e:
        return False, f"no answer ({type(e).__name__})"
    finally:
        eng.dispose()
