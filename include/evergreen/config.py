"""One typed settings object for every room.

Values come from environment variables (`EVERGREEN_*`), then an optional YAML file named by
`EVERGREEN_CONFIG`, then the embedded defaults: a laptop setup under `EVERGREEN_HOME` (default `.run/evergreen`
under the working directory). Each default is a setting, not a code path: point `lake_root` at `s3a://bucket/lake`,
`source_db_url` at PostgreSQL, `spark_master` at a cluster, and nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    # `make` sets EVERGREEN_HOME (scripts/env.sh); elsewhere state lives under the working directory.
    return Path(os.environ.get("EVERGREEN_HOME") or Path.cwd() / ".run" / "evergreen")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVERGREEN_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    # Lake root: a local folder or a Hadoop URI (s3a://bucket/prefix). Landing defaults inside it.
    lake_root: str = ""
    landing_root: str = ""
    source_db_url: str = ""  # SQLAlchemy URL of the operational DB (customers, merchants)
    evergreen_db_url: str = ""  # the project's own tables: promotion audit, drift reports, event ledger
    mlflow_tracking_uri: str = ""  # sqlite file by default; http://mlflow:5000 in the compose stack
    mlflow_artifact_root: str = ""  # local folder by default; s3://bucket/mlflow in production
    # Where a person's browser reaches the MLflow UI (links on the Airflow UI's Evergreen page). Defaults to the
    # tracking server when there is one, else `mlflow ui`'s own default address on this machine.
    mlflow_ui_url: str = ""

    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = 4  # small-cluster default; 200 wastes seconds on a laptop
    spark_driver_memory: str = "2g"
    spark_packages: str = ""  # e.g. org.apache.hadoop:hadoop-aws:3.4.1 for s3a://

    # Quality gates
    null_burst_tolerance: float = 0.05  # a key column may be null (or malformed) in at most this share of a file
    allowed_values_tolerance: float = 0.01  # a coded column may be outside its allowed values in this share
    row_count_tolerance: float = 0.5  # silver day-over-day row count may move by at most +-50%
    quarantine_warn_share: float = 0.01  # a clean step that quarantines more than this is a partial gate

    # Feature windows and labels
    history_days: int = 30  # silver days a feature row may look back on
    label_horizon_days: int = 10  # gold partitions refreshed per run so late labels land

    # Folders of model specs added to the package's own (os.pathsep-separated in EVERGREEN_SPECS_DIRS; adding
    # a model = adding a file). A spec here named like a built-in one overrides it.
    specs_dirs: Annotated[list[str], NoDecode] = Field(default_factory=list)

    kafka_bootstrap: str = "127.0.0.1:9092"
    # One drift topic for every model (the model is in the payload: Kafka watchers share one triggerer thread).
    kafka_drift_topic: str = "evergreen.drift"
    kafka_dead_letter_topic: str = "evergreen.drift.dead-letter"
    # An armed drift event that no run claimed within this long means Airflow dropped its asset event
    # (apache/airflow#56050): the next event fires again instead of queueing behind it forever.
    drift_rearm_after_s: float = 300

    @field_validator("specs_dirs", mode="before")
    @classmethod
    def _split_folders(cls, value: Any) -> Any:
        if isinstance(value, str):  # the environment: folders separated like PATH
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if not self.lake_root:
            self.lake_root = str(self.home / "lake")
        if not self.landing_root:
            self.landing_root = _join(self.lake_root, "landing")
        if not self.source_db_url:
            self.source_db_url = f"sqlite:///{self.home / 'source.db'}"
        if not self.evergreen_db_url:
            self.evergreen_db_url = f"sqlite:///{self.home / 'evergreen.db'}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if not self.mlflow_artifact_root:
            self.mlflow_artifact_root = str(self.home / "mlartifacts")
        if not self.mlflow_ui_url:
            server = self.mlflow_tracking_uri.startswith(("http://", "https://"))
            self.mlflow_ui_url = self.mlflow_tracking_uri if server else "http://127.0.0.1:5000"
        self.mlflow_ui_url = self.mlflow_ui_url.rstrip("/")
        return self

    # Layer roots: the one place lake paths are spelled.
    def layer(self, name: str, table: str = "") -> str:
        base = self.landing_root if name == "landing" else _join(self.lake_root, name)
        return _join(base, table) if table else base


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def _yaml_overrides() -> dict[str, Any]:
    path = os.environ.get("EVERGREEN_CONFIG")
    if not path:
        return {}
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if "specs_dir" in data:
        raise ValueError(f"{path}: specs_dir is replaced by specs_dirs (folders added to the built-in specs)")
    # Environment wins over the file, so a one-off `EVERGREEN_X=... make demo` does what it says.
    return {k: v for k, v in data.items() if f"EVERGREEN_{k.upper()}" not in os.environ}


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(**_yaml_overrides())


def reload() -> Settings:
    """Forget the cached settings (tests change the environment between cases)."""
    settings.cache_clear()
    return settings()


@contextmanager
def overridden(env: Mapping[str, str]) -> Iterator[Settings]:
    """The settings with `env` set in the process environment; the environment as it was afterwards (a test,
    a benchmark or a tool pointing this process at another home or stack for a while)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield reload()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload()
