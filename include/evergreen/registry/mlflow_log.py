"""One MLflow run per training, and a registered model version per run.

The run holds params, metrics (`validation_*`, `holdout_*`), the plots, the search trials, the three
datasets (`mlflow.log_input`, contexts training / validation / holdout), and the model as a pyfunc wrapping
the trained scorer with a signature and an input example. The lineage tags go on the run and on the
registered version alike, so a version can be traced to its data, code and parameters without opening
the run.

Training objects are duck-typed (`evergreen.training`'s contract), so this module never imports training:
    result: .scorer (.save(dir), .predict_proba(df)), .params, .best_iteration, .metrics
            ({"validation": {...}, "holdout": {...}}), .threshold, .plots (name -> PNG path), .trials
    data:   .train, .validation, .holdout (pandas), .lineage (partitions, rows, positives, digest, as_of)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature

from evergreen.contracts.model_spec import ModelSpec
from evergreen.registry import store
from evergreen.registry.pyfunc_model import SCORER_ARTIFACT, SCORER_CLASS_KEY, class_path

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"  # log_model(name=...): the model's name inside the run
MODEL_CODE = Path(__file__).with_name("model_code.py")
# What a scoring environment needs besides the `evergreen` package itself (pinned to what trained it).
RUNTIME_PACKAGES = ("mlflow", "xgboost", "pandas", "numpy", "scikit-learn", "pyarrow")

# Lineage tags: on the training run and on its registered model version.
TAG_PARTITIONS = "evergreen.data.partitions"
TAG_ROWS = "evergreen.data.rows"
TAG_POSITIVES = "evergreen.data.positives"
TAG_DIGEST = "evergreen.data.digest"
TAG_AS_OF = "evergreen.data.as_of"
TAG_GIT_COMMIT = "evergreen.git_commit"
TAG_DAG_ID = "evergreen.airflow.dag_id"
TAG_DAG_RUN_ID = "evergreen.airflow.run_id"
TAG_SPEC_HASH = "evergreen.spec_hash"
TAG_GX_RESULTS = "evergreen.gx.result_ids"
TAG_MODEL = "evergreen.model"
LINEAGE_TAGS = (
    TAG_PARTITIONS,
    TAG_ROWS,
    TAG_POSITIVES,
    TAG_DIGEST,
    TAG_AS_OF,
    TAG_GIT_COMMIT,
    TAG_DAG_ID,
    TAG_DAG_RUN_ID,
    TAG_SPEC_HASH,
    TAG_GX_RESULTS,
    TAG_MODEL,
)
# Keys a caller passes in `lineage_tags` (the rest of the lineage is read from the data and the spec).
CALLER_KEYS = {"airflow_dag_id": TAG_DAG_ID, "airflow_run_id": TAG_DAG_RUN_ID, "gx_result_ids": TAG_GX_RESULTS}
_DATA_KEYS = {
    "partitions": TAG_PARTITIONS,
    "rows": TAG_ROWS,
    "positives": TAG_POSITIVES,
    "digest": TAG_DIGEST,
    "as_of": TAG_AS_OF,
}
_TAG_LIMIT = 5000  # MLflow allows 8000 characters in a run tag; stay well inside
# Splits up to this many rows are logged with mlflow.data.from_pandas; bigger ones as metadata only.
FROM_PANDAS_MAX_ROWS = 250_000
SCHEMA_SAMPLE_ROWS = 1000  # rows a schema is inferred from (types are per column; values are not read)


@dataclass(frozen=True)
class ModelRef:
    """A registered model version and the training run that produced it."""

    run_id: str
    version: str
    name: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, str]:
        """Plain data for XCom; `ModelRef(**ref.to_dict())` reads it back."""
        return dataclasses.asdict(self)


# ---- lineage ------------------------------------------------------------------------------------------------
def git_commit() -> str:
    """HEAD of the repository the code runs from, or "unknown" (no git, not a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else "unknown"


def _tag_value(value: Any) -> str:
    """A tag value: strings as they are, the rest as JSON. Too long for a tag (e.g. a year of daily
    partitions), every list inside is summarized as its first and last item, count and digest."""
    if value is None:
        return "none"
    if isinstance(value, str):
        text = value
    elif isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    else:
        text = json.dumps(value, default=str, sort_keys=True)
        if len(text) > _TAG_LIMIT:
            text = json.dumps(_summarized(value), default=str, sort_keys=True)
    return text if len(text) <= _TAG_LIMIT else text[: _TAG_LIMIT - 3] + "..."


def _summarized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _summarized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value:
        blob = json.dumps(value, default=str, sort_keys=True).encode()
        return {
            "first": value[0],
            "last": value[-1],
            "count": len(value),
            "sha256": hashlib.sha256(blob).hexdigest()[:16],
        }
    return value


def build_lineage_tags(data: Any, spec: ModelSpec, caller: dict[str, Any] | None = None) -> dict[str, str]:
    """Every lineage tag, as strings: data snapshot, code, orchestration, spec, gates.

    `caller` carries what only the caller knows: `airflow_dag_id`, `airflow_run_id` (None outside
    Airflow) and `gx_result_ids`; any other key becomes an `evergreen.<key>` tag.
    """
    caller = dict(caller or {})
    lineage = dict(getattr(data, "lineage", None) or {})
    tags: dict[str, str] = {}
    for key, tag in _DATA_KEYS.items():
        if lineage.get(key) is None:
            log.warning("training data lineage has no %r; tagging it 'unknown'", key)
        tags[tag] = _tag_value(lineage.get(key, "unknown"))
    for key, value in lineage.items():  # the rest of the snapshot: source, as_of rules, files, bytes...
        tags.setdefault(f"evergreen.data.{key}", _tag_value(value))
    tags[TAG_GIT_COMMIT] = git_commit()
    tags[TAG_SPEC_HASH] = spec.spec_hash
    tags[TAG_MODEL] = spec.name
    for key, tag in CALLER_KEYS.items():
        value = caller.pop(key, None)
        tags[tag] = _tag_value(list(value) if key == "gx_result_ids" and value is not None else value)
    for key, value in caller.items():
        tags[f"evergreen.{key}"] = _tag_value(value)
    return tags


# ---- the run ------------------------------------------------------------------------------------------------
def _frame_digest(frame: pd.DataFrame) -> str:
    """Content digest of a whole frame (vectorized; MLflow's own digest maps `type` over every cell)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    columns = ",".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items())
    return hashlib.sha256(columns.encode() + hashed.tobytes()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Dataclasses (e.g. search trials) as dicts, for JSON artifacts."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def _source(uri: str | None):
    """The gold table as an MLflow dataset source (s3a:// read as s3://), or None if MLflow has no resolver."""
    if not uri:
        return None
    uri = "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri
    try:
        with warnings.catch_warnings():
            # a local path matches MLflow's local-artifact resolver twice ("interpreted in multiple ways")
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            return resolve_dataset_source(uri)
    except Exception:  # no resolver for this scheme: the lineage tags still name the source
        log.info("no MLflow dataset source for %s; datasets logged without one", uri)
        return None


def _split_rows(data: Any, split: str) -> int | None:
    rows = (getattr(data, "lineage", None) or {}).get("rows")
    return int(rows[split]) if isinstance(rows, dict) and split in rows else None


def _dataset(data: Any, split: str, spec: ModelSpec, source: Any, signature: ModelSignature):
    """The split as an MLflow dataset. A split small enough to hold goes through `from_pandas` (schema,
    row count, content digest); a bigger one is never read into pandas just to be described: it is logged
    as metadata (source, name, schema, a digest derived from the lineage's content digest)."""
    name = f"{spec.name}-{split}"
    rows = _split_rows(data, split)
    if rows is None or rows <= FROM_PANDAS_MAX_ROWS:
        frame = getattr(data, split)
        targets = spec.label.column if spec.label.column in frame.columns else None
        kwargs = {"source": source} if source is not None else {}
        dataset = mlflow.data.from_pandas(frame, name=name, targets=targets, digest=_frame_digest(frame), **kwargs)
        # MLflow infers a dataset's schema by visiting every cell of its string columns (8 of 11 s of a
        # whole log_training at 48k rows). The schema only describes the columns: infer it from a sample.
        # `schema` is a functools.cached_property, so a value in the instance dict is what it returns.
        with _integer_hint_silenced():
            dataset.__dict__["schema"] = infer_signature(frame.head(SCHEMA_SAMPLE_ROWS)).inputs
        return dataset
    lineage_digest = str((getattr(data, "lineage", None) or {}).get("digest", "unknown"))
    digest = hashlib.sha256(f"{lineage_digest}:{split}".encode()).hexdigest()[:16]
    return MetaDataset(source=source or CodeDatasetSource(tags={}), name=name, digest=digest, schema=signature.inputs)


def _input_tags(lineage: dict[str, Any], split: str) -> dict[str, str]:
    """Short per-input tags (MLflow allows 500 characters): the split's days and rows."""
    tags = {}
    days = (lineage.get("partitions") or {}).get(split) if isinstance(lineage.get("partitions"), dict) else None
    if days:
        tags["partitions"] = f"{days[0]}..{days[-1]} ({len(days)} days)"
    rows = (lineage.get("rows") or {}).get(split) if isinstance(lineage.get("rows"), dict) else None
    if rows is not None:
        tags["rows"] = str(rows)
    return tags


def _flat_params(result: Any) -> dict[str, Any]:
    params = {str(k): v for k, v in (result.params or {}).items()}
    params["best_iteration"] = result.best_iteration
    # The retrain form and the specs say n_estimators; xgboost.train calls it num_boost_round. Log both, so a
    # person searching MLflow for the value they typed finds it under the name they typed it.
    if "num_boost_round" in params:
        params["n_estimators"] = params["num_boost_round"]
    return params


def _metrics(result: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for split, values in (result.metrics or {}).items():
        for name, value in (values or {}).items():
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                if math.isfinite(float(value)):
                    out[f"{split}_{name}"] = float(value)
                else:
                    log.warning("metric %s_%s is %s; not logged", split, name, value)
    if result.threshold is not None:
        out["threshold"] = float(result.threshold)
    for phase, seconds in (getattr(result, "timings", None) or {}).items():
        out[f"timing_{phase}"] = float(seconds)
    return out


def _requirements() -> list[str]:
    reqs = []
    for package in RUNTIME_PACKAGES:
        try:
            reqs.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def _feature_frame(data: Any, spec: ModelSpec) -> pd.DataFrame:
    """The model's input as scoring will see it: the gold feature columns, with the gold dtypes."""
    frame = data.holdout if len(data.holdout) else data.train
    missing = [c for c in spec.features.names if c not in frame.columns]
    if missing:
        raise ValueError(f"the training frames lack the spec's features {missing}")
    return frame[spec.features.names]


def as_model_input(features: pd.DataFrame, numeric: list[str] | None = None) -> pd.DataFrame:
    """The numeric features in the types the model takes, decided by the gold contract, not by the frame.

    pandas turns an integer column with a null into float64 and leaves one without nulls an integer, so a
    signature inferred from a sample would depend on the sample: a `long` column then refuses every batch
    with a null, a `double` one every batch of int64 (MLflow refuses int64 -> double). So: a feature the gold
    contract declares LONG (never null: counts) is `long`; every other number is `double` (MLflow takes
    int32 for a double column, so a null-free batch of a 32-bit feature scores too).
    """
    from evergreen.contracts import data_contract

    longs = {c.name for c in data_contract.GOLD_FEATURE_COLUMNS if c.type == data_contract.LONG}
    columns = features.columns if numeric is None else [c for c in numeric if c in features.columns]
    out = features.copy()
    for column in columns:
        dtype = out[column].dtype
        if not (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)):
            continue
        if column in longs:
            if out[column].isna().any():
                raise ValueError(f"gold column {column} is declared long (never null) but holds nulls")
            out[column] = out[column].astype("int64")
        else:
            out[column] = out[column].astype("float64")
    return out


def infer_model_signature(
    features: pd.DataFrame, scores: np.ndarray, numeric: list[str] | None = None
) -> ModelSignature:
    """The pyfunc's signature from the gold feature frame, its numeric types from the gold contract (see
    `as_model_input`), categorical ones `string`. Scoring also casts each batch to the signature
    (evergreen.registry.model_input.conform), so an older model's signature is honoured too."""
    sample = as_model_input(features.head(SCHEMA_SAMPLE_ROWS), numeric)
    with _integer_hint_silenced():  # the long columns are the never-null counts, on purpose
        return infer_signature(sample, scores)


@contextlib.contextmanager
def _integer_hint_silenced() -> Iterator[None]:
    """MLflow warns whenever it infers a schema with integer columns; here that is deliberate (the model
    signature above) or descriptive only (the schema of a logged dataset)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column", category=UserWarning)
        yield


def log_training(
    result: Any,
    data: Any,
    spec: ModelSpec,
    *,
    lineage_tags: dict[str, Any] | None = None,
    extra_artifacts: dict[str, str | Path] | None = None,
) -> ModelRef:
    """Log one training as an MLflow run in the experiment named after the model, and register its model
    as a new version of `spec.name` carrying the same lineage tags. Returns the version's reference.

    `extra_artifacts` maps an artifact path inside the run (e.g. "monitoring/reference.bin") to a local
    file; each is logged under exactly that path, so `download_version_artifact` finds it by version.
    """
    extras = _check_extra_artifacts(extra_artifacts)  # before the run: a typo must not leave a half-logged run
    client = store.connect()
    tags = build_lineage_tags(data, spec, lineage_tags)
    lineage = dict(getattr(data, "lineage", None) or {})
    experiment = store.experiment_id(client, spec.name)
    started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    features = _feature_frame(data, spec)
    example = as_model_input(features.head(5), spec.features.numeric)
    scores = np.asarray(result.scorer.predict_proba(example), dtype=np.float64)
    signature = infer_model_signature(features, scores, spec.features.numeric)

    with mlflow.start_run(experiment_id=experiment, run_name=f"{spec.name}-{started}", tags=tags) as run:
        mlflow.log_params(_flat_params(result))
        mlflow.log_metrics(_metrics(result))
        for name, path in (result.plots or {}).items():
            if Path(path).exists():
                mlflow.log_artifact(str(path), artifact_path="plots")
            else:
                log.warning("plot %s at %s does not exist; not logged", name, path)
        if getattr(result, "trials", None):
            mlflow.log_dict({"trials": [_plain(t) for t in result.trials]}, "search/trials.json")
        if getattr(result, "feature_importance", None):
            mlflow.log_dict(_plain(result.feature_importance), "feature_importance.json")
        source = _source(lineage.get("source"))
        for split in ("train", "validation", "holdout"):
            context = "training" if split == "train" else split
            dataset = _dataset(data, split, spec, source, signature)
            with _integer_hint_silenced():
                mlflow.log_input(dataset, context=context, tags=_input_tags(lineage, split))
        _log_extra_artifacts(extras)
        with tempfile.TemporaryDirectory(prefix="evergreen-scorer-") as tmp:
            scorer_dir = Path(tmp) / SCORER_ARTIFACT
            result.scorer.save(str(scorer_dir))
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(MODEL_CODE),
                artifacts={SCORER_ARTIFACT: str(scorer_dir)},
                model_config={SCORER_CLASS_KEY: class_path(result.scorer)},
                signature=signature,
                input_example=example,
                pip_requirements=_requirements(),
            )
    registered = mlflow.register_model(info.model_uri, spec.name, tags=tags)
    ref = ModelRef(run_id=run.info.run_id, version=str(registered.version), name=spec.name)
    log.info("logged run %s and registered %s version %s", ref.run_id, ref.name, ref.version)
    return ref


def _check_extra_artifacts(extra: dict[str, str | Path] | None) -> list[tuple[str, Path]]:
    """(artifact path, local file) pairs, checked: relative paths inside the run, existing files."""
    checked = []
    for artifact_path, local in (extra or {}).items():
        parts = str(artifact_path).split("/")
        if not artifact_path or str(artifact_path).startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"extra artifact path {artifact_path!r} must be relative, like 'monitoring/reference.bin'")
        if parts[0] == MODEL_ARTIFACT:  # the model's own folder is the registry's; never mix files into it
            raise ValueError(f"extra artifact path {artifact_path!r} may not live under {MODEL_ARTIFACT!r}/")
        if not Path(local).is_file():
            raise FileNotFoundError(f"extra artifact {artifact_path!r}: no file at {local}")
        checked.append((str(artifact_path), Path(local)))
    return checked


def _log_extra_artifacts(extras: list[tuple[str, Path]]) -> None:
    """Log each file under its artifact path in the active run. `log_artifact` keeps the local file name,
    so a file whose name differs from the wanted one is copied under that name first."""
    for artifact_path, local in extras:
        folder, _, filename = artifact_path.rpartition("/")
        if local.name == filename:
            mlflow.log_artifact(str(local), artifact_path=folder or None)
            continue
        with tempfile.TemporaryDirectory(prefix="evergreen-artifact-") as tmp:
            renamed = Path(tmp) / filename
            shutil.copyfile(local, renamed)
            mlflow.log_artifact(str(renamed), artifact_path=folder or None)


# ---- loading ------------------------------------------------------------------------------------------------
def load_version(name: str, version: str):
    """A registered version as a pyfunc model (`models:/<name>/<version>`)."""
    store.connect()
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def load_champion(name: str):
    """The champion as a pyfunc model (`models:/<name>@champion`): models only ever come from the registry."""
    client = store.connect()
    if store.CHAMPION not in store.aliases(client, name):
        raise LookupError(f"model {name!r} has no champion yet (no '{store.CHAMPION}' alias in the registry)")
    return mlflow.pyfunc.load_model(f"models:/{name}@{store.CHAMPION}")


def download_version_artifact(name: str, version: str, artifact_path: str) -> bytes:
    """The bytes of one artifact of a registered version's training run (e.g. "monitoring/reference.bin").

    Goes through the registry (version -> run), so what a monitor compares against is always what that
    version was trained with. LookupError if the version does not exist, FileNotFoundError if its run has
    no such artifact.
    """
    client = store.connect()
    mv = store.version(client, name, str(version))
    if mv is None:
        raise LookupError(f"model {name!r} has no version {version!r} in the registry")
    if not mv.run_id:
        raise LookupError(f"model {name!r} version {version} has no training run to hold {artifact_path!r}")
    with tempfile.TemporaryDirectory(prefix="evergreen-download-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=artifact_path, dst_path=tmp)
        except (MlflowException, OSError) as e:
            raise FileNotFoundError(
                f"model {name!r} version {version} (run {mv.run_id}) has no artifact {artifact_path!r}: {e}"
            ) from e
        path = Path(local)
        if not path.is_file():  # a folder: the caller named a directory, not a file
            raise FileNotFoundError(f"artifact {artifact_path!r} of {name!r} version {version} is not a file")
        return path.read_bytes()
