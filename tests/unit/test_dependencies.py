"""scripts/check_deps.py: the checkout passes, and each kind of drift between pyproject.toml, the
requirements files, the lock and the imports fails with one line naming the file and the package.

No network: the check reads files and the installed environment's metadata. Breakages are made on a copy.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

SCRIPT = REPO / "scripts" / "check_deps.py"


def _load_check():
    spec = importlib.util.spec_from_file_location("check_deps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_deps"] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


check_deps = _load_check()


@pytest.fixture
def repo(tmp_path) -> Path:
    """The files the check reads, copied (include/ and dags/ whole, without caches)."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "requirements-dev.txt", "requirements-lock.txt"):
        shutil.copy(REPO / name, copy / name)
    for folder in ("include", "dags"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}: the test's premise changed"
    path.write_text(text.replace(old, new, 1))


def _lock_version(repo: Path, name: str) -> str:
    return re.search(rf"^{re.escape(name)}==(\S+)", (repo / "requirements-lock.txt").read_text(), re.M).group(1)


def test_the_checkout_passes_from_the_command_line():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "agree" in out.stdout


def test_the_copy_passes(repo):
    assert check_deps.problems(repo) == []


def test_a_pin_the_lock_has_at_another_version_fails(repo):
    _edit(repo / "requirements-lock.txt", "\npandas==2.3.3\n", "\npandas==2.2.0\n")
    found = check_deps.problems(repo)
    assert len(found) == 1
    assert found[0].startswith("requirements.txt:")
    assert "pandas==2.3.3 but requirements-lock.txt has pandas==2.2.0" in found[0]


def test_a_pin_missing_from_the_lock_fails(repo):
    _edit(repo / "requirements-dev.txt", "ruff==", "ruff==0.0.1\n# ")
    found = check_deps.problems(repo)
    assert any("requirements-dev.txt" in f and "ruff==0.0.1" in f for f in found), found


def test_a_range_in_requirements_txt_fails(repo):
    _edit(repo / "requirements.txt", "xgboost==3.2.0", "xgboost>=3.2")
    found = check_deps.problems(repo)
    assert any("'xgboost>=3.2' is not an exact pin" in f for f in found), found


def test_a_declared_dependency_that_is_not_pinned_fails(repo):
    _edit(repo / "requirements.txt", "pydantic-settings==2.16.3\n", "")
    found = check_deps.problems(repo)
    assert len(found) == 1
    assert found[0].startswith("pyproject.toml [project] dependencies: pydantic-settings")
    assert found[0].endswith("is not pinned in requirements.txt")


def test_a_pin_outside_the_declared_range_fails(repo):
    _edit(repo / "pyproject.toml", '"pandas>=2.3.3,<3"', '"pandas>=2.0,<2.3"')
    found = check_deps.problems(repo)
    assert any(f.startswith("requirements.txt:") and "pandas==2.3.3 is outside" in f for f in found), found


def test_an_undeclared_pin_must_say_why(repo):
    _edit(repo / "requirements.txt", "asyncpg==0.32.0  #", "asyncpg==0.32.0\n#")
    found = check_deps.problems(repo)
    assert len(found) == 1
    assert "asyncpg is pinned but the package does not declare it" in found[0]


def test_a_lazy_import_of_an_undeclared_distribution_fails(repo):
    # tabulate is installed (Airflow requires it) but the package does not declare it.
    module = repo / "include" / "evergreen" / "common" / "table_text.py"
    module.write_text("def render(rows):\n    import tabulate\n\n    return tabulate.tabulate(rows)\n")
    found = check_deps.problems(repo)
    assert found == [
        "include/evergreen/common/table_text.py:2: imports tabulate (distribution tabulate), which "
        "pyproject.toml [project] dependencies does not declare"
    ]


def test_a_dropped_declaration_is_found_through_the_import(repo):
    _edit(repo / "pyproject.toml", '  "matplotlib>=3.11.2,<4",\n', "")
    found = check_deps.problems(repo)
    assert any(f.startswith("include/evergreen/training/plots.py:") and "matplotlib" in f for f in found), found


def test_an_import_no_distribution_provides_fails(repo):
    (repo / "include" / "evergreen" / "common" / "ghost.py").write_text("import no_such_distribution_here\n")
    found = check_deps.problems(repo)
    assert any("imports no_such_distribution_here, which no installed distribution provides" in f for f in found)


def test_pyspark_and_pyspark_client_must_share_a_version(repo):
    pyspark = _lock_version(repo, "pyspark-client")
    _edit(repo / "requirements-lock.txt", f"pyspark-client=={pyspark}", "pyspark-client==4.1.0")
    _edit(repo / "requirements.txt", f"pyspark-client=={pyspark}", "pyspark-client==4.1.0")
    found = check_deps.problems(repo)
    assert any("must be one version" in f and "pyspark-client==4.1.0" in f for f in found), found


def test_a_data_file_the_wheel_would_not_ship_fails(repo):
    (repo / "include" / "evergreen" / "contracts" / "specs" / "notes.txt").write_text("not shipped\n")
    found = check_deps.problems(repo)
    assert found == [
        "include/evergreen/contracts/specs/notes.txt: not matched by pyproject.toml "
        "[tool.setuptools.package-data] (a wheel would not ship it)"
    ]
