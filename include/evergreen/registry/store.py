"""The MLflow connection and the registry's aliases. Everything here reads `evergreen.config.settings()`
on each call, so pointing `EVERGREEN_MLFLOW_TRACKING_URI` at a tracking server (http://...) instead of the
default SQLite file changes nothing else.

Aliases are read from the registered model itself (`get_registered_model(name).aliases`): that is one call,
and `search_model_versions` does not return aliases (mlflow#9783).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from evergreen.config import settings

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"


def connect() -> MlflowClient:
    """A client on the configured tracking and registry store; also points MLflow's fluent API there."""
    uri = settings().mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "databricks"))


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment named after the model, created on first use.

    Against a local store, artifacts go under `mlflow_artifact_root/<name>` (a folder or s3://...); a
    tracking server decides its own artifact location (`mlflow server --artifacts-destination`).
    """
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    location = None
    if not _is_server(settings().mlflow_tracking_uri):
        root = settings().mlflow_artifact_root
        base = root.rstrip("/") if "://" in root else Path(root).resolve().as_uri()
        location = f"{base}/{name}"
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created by a concurrent run in the meantime
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def aliases(client: MlflowClient, model: str) -> dict[str, str]:
    """alias -> version of a registered model; empty if the model is not registered yet."""
    try:
        registered = client.get_registered_model(model)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: str(version) for alias, version in registered.aliases.items()}


def version(client: MlflowClient, model: str, number: str) -> ModelVersion | None:
    """The model version, or None if it does not exist."""
    try:
        return client.get_model_version(model, str(number))
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def versions(client: MlflowClient, model: str) -> list[str]:
    """Every version number of a registered model, ascending."""
    found = client.search_model_versions(f"name = '{_quote(model)}'")
    return sorted((str(v.version) for v in found), key=int)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def run_url(run_id: str) -> str:
    """Where a person opens an MLflow run: the tracking server's UI page, or the run id for a local store."""
    uri = settings().mlflow_tracking_uri
    if not _is_server(uri):
        return f"mlflow run {run_id} ({uri})"
    experiment = connect().get_run(run_id).info.experiment_id
    return f"{uri.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"
