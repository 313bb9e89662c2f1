"""The wheel is the package: built from the sources, installed into a fresh venv, it runs without the checkout.

The fresh venv gets the wheel alone (`--no-deps`); its dependencies come from the project's venv through
PYTHONPATH. Python does not process `.pth` files found through PYTHONPATH, so the project venv's editable
install (a `.pth` naming the checkout's include/) is invisible there: what imports is what the wheel shipped.
The interpreter runs in an empty folder, so nothing can be found relative to the working directory either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.paths import REPO

pytestmark = pytest.mark.slow

PACKAGE = REPO / "include" / "evergreen"
TIMEOUT = 300

# Creates the project DB the way a deployment does (its Alembic migrations) and prints its tables as JSON.
# Run by the fresh venv and, for comparison, by the checkout's package.
CREATE_DB = """
import json, sys
import sqlalchemy as sa
from evergreen.storage.migrate import upgrade

url = sys.argv[1]
upgrade(url)
print(json.dumps(sorted(sa.inspect(sa.create_engine(url)).get_table_names())))
"""

# Runs inside the fresh venv: where the package and its resources were found, as JSON.
PROBE = """
import json, os, sys
import evergreen
from evergreen.contracts.model_spec import SPECS_DIR, known_models, load_spec
from evergreen.pipeline.jobs import application_path

spec = load_spec("fraud")
print(json.dumps({
    "package": evergreen.__file__,
    "specs_dir": str(SPECS_DIR),
    "known_models": known_models(),
    "spec": spec.name,
    "features": len(spec.features.names),
    "jobs": application_path(),
    "jobs_exists": os.path.isfile(application_path()),
    "sys_path": sys.path,
}))
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _last_json(out: subprocess.CompletedProcess):
    return json.loads(out.stdout.strip().splitlines()[-1])


def _source_files() -> set[str]:
    """Every file of the package as the wheel must hold it (evergreen/...), caches aside."""
    return {
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built like any release build (`pip wheel`, with build isolation: pip fetches pyproject's build-system
    requirement from the package index, as `make setup` does), from a copy of pyproject.toml + include/ so
    the build's build/ and egg-info never land in the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copytree(REPO / "include", src / "include", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)])
    (found,) = out.glob("evergreen-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    # The project venv's pip installs into the fresh venv (`--python`): no ensurepip, no dependencies.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ]
    )
    return venv


def test_the_wheel_holds_every_file_of_the_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = {n for n in names if n.startswith("evergreen/")}
    assert _source_files() - shipped == set(), "files the wheel leaves out"
    assert shipped - _source_files() == set(), "files the wheel has that the sources do not"
    # What the runtime reads, named, so that a failure says what broke.
    assert "evergreen/contracts/specs/fraud.yaml" in shipped
    assert "evergreen/contracts/specs/dispute.yaml" in shipped
    assert "evergreen/pipeline/jobs.py" in shipped  # spark-submit's application
    assert any(n.startswith("evergreen/storage/migrations/versions/") for n in shipped), "no migrations"
    assert "evergreen/storage/migrations/env.py" in shipped
    requires = {
        Requirement(line.removeprefix("Requires-Dist:")).name
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert {"pydantic-settings", "scikit-learn", "matplotlib", "numpy", "psycopg2-binary"} <= requires, requires


def test_the_installed_wheel_runs_without_the_checkout(fresh_venv, tmp_path):
    empty = tmp_path / "cwd"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVERGREEN_") and k != "PYTHONPATH"}
    env |= {
        "PYTHONPATH": sysconfig.get_paths()["purelib"],  # the project venv's site-packages: the dependencies
        "EVERGREEN_HOME": str(tmp_path / "home"),
        "WHYLOGS_NO_ANALYTICS": "True",
    }
    python = str(fresh_venv / "bin" / "python")
    found = _last_json(_run([python, "-c", PROBE], cwd=empty, env=env))

    site = str(fresh_venv.resolve())
    assert found["package"].startswith(site), f"evergreen imported from {found['package']}, not the fresh venv"
    assert not any(p.rstrip("/").endswith("/include") for p in found["sys_path"]), "the checkout is on sys.path"
    assert found["specs_dir"].startswith(site)
    assert found["known_models"] == ["dispute", "fraud"]
    assert (found["spec"], found["features"] > 0) == ("fraud", True)
    assert found["jobs"].startswith(site)
    assert found["jobs_exists"]

    tables = _last_json(_run([python, "-c", CREATE_DB, f"sqlite:///{tmp_path / 'wheel.db'}"], cwd=empty, env=env))
    # The project's own tables (audit trail, drift reports, event ledger) ...
    assert {"promotions", "drift_reports", "drift_events"} <= set(tables), tables
    # ... and exactly the tables the checkout's package creates.
    checkout_env = {**os.environ, "EVERGREEN_HOME": str(tmp_path / "home-checkout")}
    checkout_env.pop("EVERGREEN_EVERGREEN_DB_URL", None)
    from_sources = _run(
        [sys.executable, "-c", CREATE_DB, f"sqlite:///{tmp_path / 'checkout.db'}"], cwd=REPO, env=checkout_env
    )
    assert tables == _last_json(from_sources)
