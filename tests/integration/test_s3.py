"""The project's S3 server (scripts/s3.sh: S3Proxy on loopback), the boto3 helpers of evergreen.storage.s3,
and MLflow's artifacts on S3 behind a tracking server, all against one real server per session."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from evergreen.devtools.mlflow_server import MlflowServer
from evergreen.devtools.ports import free_port
from evergreen.storage import s3
from tests.plugins.s3_server import S3Server


def _live_processes_in_group(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes in process group `pgid`."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat_file.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            found.append(int(stat_file.parent.name))
    return found


# ---------------------------------------------------------------------------------------------- the script
def test_start_on_a_running_server_is_a_no_op(s3_server: S3Server):
    pid = s3_server.pid()
    assert pid is not None
    assert s3_server.run("start").stdout == f"{s3_server.endpoint}\n"  # the URL and nothing else on stdout
    assert s3_server.pid() == pid
    assert _live_processes_in_group(pid)  # the JVM leads its own process group
    assert s3_server.is_running()
    assert s3_server.run("url").stdout.strip() == s3_server.endpoint
    # The generated key pair is private to its owner.
    assert stat.S_IMODE((s3_server.data_dir / "credentials.env").stat().st_mode) == 0o600
    assert stat.S_IMODE((s3_server.data_dir / "s3proxy.properties").stat().st_mode) == 0o600
    s3_server.run("bucket", "made-by-script", "made-by-script-too")
    s3_server.run("bucket", "made-by-script")
    names = [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]]
    assert names.count("made-by-script") == 1
    assert "made-by-script-too" in names


def test_objects_survive_a_restart_and_stop_leaves_no_process(s3_server: S3Server):
    client = s3_server.client()
    s3.ensure_bucket("keep", s3=client)
    payload = os.urandom(4096)
    client.put_object(Bucket="keep", Key="before/restart.bin", Body=payload)
    pid = s3_server.pid()
    assert pid is not None
    access_key = s3_server.access_key
    try:
        s3_server.stop()
        assert not _live_processes_in_group(pid)
        assert s3_server.pid() is None
        assert not s3_server.is_running()
        assert s3_server.run("status", check=False).returncode == 1
        s3_server.stop()  # stopping a stopped server is a no-op
    finally:
        s3_server.start()
    assert s3_server.pid() not in (None, pid)
    assert s3_server.access_key == access_key  # the data dir's pair, not a new one
    assert s3.list_keys("s3://keep/before", s3=s3_server.client()) == ["before/restart.bin"]
    assert s3_server.client().get_object(Bucket="keep", Key="before/restart.bin")["Body"].read() == payload


# ---------------------------------------------------------------------------------------------- boto3 helpers
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://landing/drops/2026-01-31/", ("landing", "drops/2026-01-31")),
        ("s3a://lake/silver/transactions", ("lake", "silver/transactions")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
    ],
)
def test_split(url, expected):
    assert s3.split(url) == expected


@pytest.mark.parametrize("url", ["s3://", "s3:///key", "/tmp/lake", "gs://bucket/x", "S3://bucket"])
def test_split_rejects_what_is_not_an_s3_url(url):
    with pytest.raises(s3.S3Error, match=f"^{url}: "):
        s3.split(url)


def test_landing_drop_round_trip(s3_server: S3Server, tmp_path: Path):
    drop = tmp_path / "drop"
    files = {
        "transactions.csv": b"id,amount\n1,9.99\n2,15.00\n",
        "customers/part-0000.csv": b"id,name\n7,Ada\n",
        "customers/nested/deeper/part-0001.bin": os.urandom(70_000),
        "_SUCCESS": b"",
    }
    for name, data in files.items():
        (drop / name).parent.mkdir(parents=True, exist_ok=True)
        (drop / name).write_bytes(data)
    client = s3_server.client()
    s3.ensure_bucket("landing", s3=client)

    written = s3.upload_tree(drop, "s3a://landing/drops/2026-01-31/", s3=client)

    expected = sorted(f"drops/2026-01-31/{name}" for name in files)
    assert written == expected
    assert s3.list_keys("s3://landing/drops/2026-01-31", s3=client) == expected
    for name, data in files.items():
        assert client.get_object(Bucket="landing", Key=f"drops/2026-01-31/{name}")["Body"].read() == data
    # A prefix is a folder: its sibling with a longer name is not inside it.
    assert s3.list_keys("s3://landing/drops/2026-01-3", s3=client) == []
    with pytest.raises(s3.S3Error, match=r"^s3://no-such-bucket/x: cannot list: NoSuchBucket"):
        s3.list_keys("s3://no-such-bucket/x", s3=client)


def test_ensure_bucket_is_idempotent(s3_server: S3Server):
    client = s3_server.client()
    assert s3.ensure_bucket("twice", s3=client) is True
    assert s3.ensure_bucket("twice", s3=client) is False
    assert [b["Name"] for b in client.list_buckets()["Buckets"]].count("twice") == 1


def test_healthy_says_why_not(s3_server: S3Server):
    assert s3.healthy(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key) == (
        True,
        "",
    )
    ok, reason = s3.healthy(s3_server.endpoint, access_key=s3_server.access_key, secret_key="not-the-secret")
    assert not ok
    assert reason.startswith(f"S3 at {s3_server.endpoint}: SignatureDoesNotMatch")
    assert "AWS_SECRET_ACCESS_KEY" in reason
    assert "\n" not in reason
    closed = f"http://127.0.0.1:{free_port()}"
    ok, reason = s3.healthy(closed, access_key="x", secret_key="y")
    assert not ok
    assert reason.startswith(f"S3 at {closed}: ")
    assert "scripts/s3.sh start" in reason


# ---------------------------------------------------------------------------------------------- MLflow
# Client processes get no S3 settings at all: the tracking server proxies every artifact byte.
_CLIENT_ENV_DROPPED = ("AWS_", "MLFLOW_S3_", "MLFLOW_TRACKING_", "MLFLOW_ARTIFACT")

_LOG_MODEL = """
import json, sys
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("s3-artifacts")
X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [3.0, 2.0], [4.0, 1.5]])
model = LogisticRegression().fit(X, [0, 0, 1, 1, 1])
with mlflow.start_run() as run:
    # Explicit requirements: inferring them starts a subprocess that imports the model's modules again.
    info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
print(json.dumps({
    "model_uri": info.model_uri, "model_id": info.model_id, "experiment_id": run.info.experiment_id,
    "artifact_uri": run.info.artifact_uri, "proba": model.predict_proba(X)[:, 1].tolist(),
}))
"""

_LOAD_MODEL = """
import json, sys
import mlflow, numpy as np

mlflow.set_tracking_uri(sys.argv[1])
X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.0], [3.0, 2.0], [4.0, 1.5]])
print(json.dumps({"proba": mlflow.sklearn.load_model(sys.argv[2]).predict_proba(X)[:, 1].tolist()}))
"""


def _clean_client(code: str, *args: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_ENV_DROPPED)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def mlflow_on_s3(s3_server: S3Server, tmp_path: Path):
    """`mlflow server` (SQLite backend) with artifacts in s3://mlflow-artifacts/mlflow on the S3 server.

    The S3 settings are in the server's environment only.
    """
    s3.ensure_bucket("mlflow-artifacts", s3=s3_server.client())
    server = MlflowServer(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "s3://mlflow-artifacts/mlflow",
        port=free_port(),
        log_path=tmp_path / "mlflow-server.log",
        env=s3_server.env(),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_mlflow_model_artifacts_live_on_s3(s3_server: S3Server, mlflow_on_s3: MlflowServer, tmp_path: Path):
    logged = _clean_client(_LOG_MODEL, mlflow_on_s3.url, cwd=tmp_path)
    # The client only ever saw the tracking server's proxy scheme, never an s3:// URI.
    assert logged["artifact_uri"].startswith("mlflow-artifacts:")

    keys = s3.list_keys("s3://mlflow-artifacts/mlflow", s3=s3_server.client())
    model_dir = f"mlflow/{logged['experiment_id']}/models/{logged['model_id']}/artifacts"
    assert f"{model_dir}/MLmodel" in keys, keys
    mlmodel = yaml.safe_load(
        s3_server.client().get_object(Bucket="mlflow-artifacts", Key=f"{model_dir}/MLmodel")["Body"].read()
    )
    assert mlmodel["model_id"] == logged["model_id"]
    # The serialized model itself (model.skops or model.pkl, as MLflow's default format says) is there too.
    assert f"{model_dir}/{mlmodel['flavors']['sklearn']['pickled_model']}" in keys, keys

    loaded = _clean_client(_LOAD_MODEL, mlflow_on_s3.url, logged["model_uri"], cwd=tmp_path)
    assert loaded["proba"] == logged["proba"]
