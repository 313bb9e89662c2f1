"""Check that the dependency files tell the truth, without the network: one line per problem, exit 1 if any.

- requirements.txt / requirements-dev.txt hold exact pins, each in requirements-lock.txt at the same version;
  pyspark and pyspark-client have one version in the lock (they share site-packages/pyspark/).
- pyproject.toml [project] dependencies and requirements.txt name the same packages, each pin inside its
  range; a requirements.txt pin the package does not declare says on its line why the deployment needs it.
  The `dev` extra and requirements-dev.txt name the same packages, each pin inside its range.
- Every third-party module imported anywhere in include/evergreen/ and plugins/ (lazy imports inside
  functions too) comes from a distribution that pyproject declares, or that a declared one pins exactly
  (released together: apache-airflow -> apache-airflow-task-sdk, mlflow -> mlflow-skinny, pydantic ->
  pydantic-core). dags/ may also use what requirements.txt pins (the deployment installs it).
- Every non-Python file under include/evergreen/ is matched by [tool.setuptools.package-data].

Import names are mapped to distributions through the installed environment's metadata (the files each
distribution owns, then `importlib.metadata.packages_distributions()`), so run it with the project's venv:
`.venv/bin/python scripts/check_deps.py` (`make lint` does).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

PACKAGE = "evergreen"
RUNTIME = "requirements.txt"
DEV = "requirements-dev.txt"
LOCK = "requirements-lock.txt"
SAME_VERSION = ("pyspark", "pyspark-client")  # one folder on disk, two distributions
INLINE_COMMENT = re.compile(r"\s+#")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    extras: frozenset[str]
    line: int
    why: str  # the line's inline comment


# ---- reading the files ---------------------------------------------------------------------------------
def read_pins(path: Path, problems: list[str]) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    if not path.is_file():
        problems.append(f"{path.name}: missing")
        return pins
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        comment = INLINE_COMMENT.search(raw)
        text, why = (raw[: comment.start()], raw[comment.end() :]) if comment else (raw, "")
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path.name}:{number}"
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"{where}: cannot parse {text!r} ({exc})")
            continue
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version or req.marker:
            problems.append(f"{where}: {text!r} is not an exact pin (name==version): ranges go in pyproject.toml")
            continue
        name = canonicalize_name(req.name)
        if name in pins:
            problems.append(f"{where}: {req.name} is pinned twice (also line {pins[name].line})")
        pins[name] = Pin(name, specs[0].version, frozenset(req.extras), number, why.strip())
    return pins


def read_lock(path: Path, problems: list[str]) -> dict[str, str]:
    if not path.is_file():
        problems.append(f"{path.name}: missing (bash scripts/lock.sh generates it)")
        return {}
    lock: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line[:1].isalnum():
            name, _, version = line.split(" ", 1)[0].partition("==")
            lock[canonicalize_name(name)] = version
    return lock


def read_declared(reqs: Iterable[str], where: str, problems: list[str]) -> dict[str, Requirement]:
    out: dict[str, Requirement] = {}
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"pyproject.toml {where}: cannot parse {text!r} ({exc})")
            continue
        if not req.specifier or any(s.operator in ("==", "===") for s in req.specifier):
            problems.append(f"pyproject.toml {where}: {text!r} should be a compatible range (>=tested,<cap)")
        out[canonicalize_name(req.name)] = req
    return out


# ---- the checks -------------------------------------------------------------------------------------------
def check_lock(pins: dict[str, Pin], file: str, lock: dict[str, str], problems: list[str]) -> None:
    for pin in pins.values():
        locked = lock.get(pin.name)
        if locked is None:
            problems.append(f"{file}:{pin.line}: {pin.name}=={pin.version} is not in {LOCK} (bash scripts/lock.sh)")
        elif locked != pin.version:
            problems.append(
                f"{file}:{pin.line}: {pin.name}=={pin.version} but {LOCK} has {pin.name}=={locked} "
                "(bash scripts/lock.sh)"
            )


def check_same_version(lock: dict[str, str], problems: list[str]) -> None:
    versions = {name: lock.get(name) for name in SAME_VERSION}
    if len(set(versions.values())) > 1:
        said = ", ".join(f"{n}=={v}" for n, v in versions.items())
        problems.append(f"{LOCK}: {said}: they install into the same pyspark/ folder and must be one version")


def check_declared_vs_pinned(
    declared: dict[str, Requirement],
    pins: dict[str, Pin],
    where: str,
    file: str,
    problems: list[str],
    *,
    extra_pins_need_reason: bool,
) -> None:
    for name, req in declared.items():
        pin = pins.get(name)
        if pin is None:
            problems.append(f"pyproject.toml {where}: {req} is not pinned in {file}")
            continue
        if not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{file}:{pin.line}: {name}=={pin.version} is outside pyproject.toml's {req}")
        if not req.extras <= pin.extras:
            problems.append(
                f"{file}:{pin.line}: {name} lacks the extras [{','.join(sorted(req.extras - pin.extras))}] "
                f"that pyproject.toml {where} asks for"
            )
    for name, pin in pins.items():
        if name in declared:
            continue
        if not extra_pins_need_reason:
            problems.append(f"{file}:{pin.line}: {name} is pinned but pyproject.toml {where} does not list it")
        elif not pin.why:
            problems.append(
                f"{file}:{pin.line}: {name} is pinned but the package does not declare it: declare it in "
                f"pyproject.toml {where}, or say on its line (# ...) why the deployment needs it"
            )


# ---- imports -> distributions ------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def module_owners() -> dict[str, frozenset[str]]:
    """Dotted module name -> the installed distributions that ship its file (several: namespace packages
    such as `airflow`, or one folder shipped twice such as `pyspark`)."""
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] == ".." or not file.name.endswith((".py", ".so", ".pyd")):
                continue
            stem = file.name.split(".", 1)[0]
            module = parts[:-1] if stem == "__init__" else (*parts[:-1], stem)
            if module and all(p.isidentifier() for p in module):
                owners.setdefault(".".join(module), set()).add(name)
    return {k: frozenset(v) for k, v in owners.items()}


def distributions_of(module: str) -> frozenset[str]:
    owners = module_owners()
    parts = module.split(".")
    for n in range(len(parts), 0, -1):  # `from a.b import c`: c may be a name, a.b the module
        found = owners.get(".".join(parts[:n]))
        if found:
            return found
    top = md.packages_distributions().get(parts[0], [])
    return frozenset(canonicalize_name(d) for d in top)


def released_with(declared: Iterable[str], problems: list[str]) -> set[str]:
    """Declared distributions plus what each pins exactly (`apache-airflow` requires
    `apache-airflow-task-sdk==1.3.2`: one release, and `airflow.sdk` is Airflow's documented API)."""
    covered = set(declared)
    for name in declared:
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            problems.append(f"pyproject.toml declares {name}, which is not installed here (make setup)")
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            specs = list(req.specifier)
            if len(specs) == 1 and specs[0].operator == "==":
                covered.add(canonicalize_name(req.name))
    return covered


def third_party_imports(folder: Path, first_party: set[str]) -> dict[str, tuple[Path, int]]:
    """Every absolute import under `folder` that is neither stdlib nor first-party: module -> first place."""
    found: dict[str, tuple[Path, int]] = {}
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in first_party or top == "__future__":
                    continue
                found.setdefault(module, (path, node.lineno))
    return found


def local_modules(folder: Path) -> set[str]:
    """Top-level module names a folder on sys.path provides (its .py files and folders)."""
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}


def check_imports(
    repo: Path, folder: Path, allowed: set[str], says: str, first_party: set[str], problems: list[str]
) -> None:
    missing: set[str] = set()  # top-level names no distribution provides
    reported: set[str] = set()  # distributions already named in a problem: one line each, at the first import
    for module, (path, line) in sorted(third_party_imports(folder, first_party).items(), key=lambda kv: kv[1]):
        dists = distributions_of(module)
        where = f"{path.relative_to(repo)}:{line}"
        top = module.split(".")[0]
        if not dists:
            if top not in missing:
                missing.add(top)
                problems.append(f"{where}: imports {module}, which no installed distribution provides")
        elif not dists & allowed and not dists & reported:
            reported |= dists
            problems.append(f"{where}: imports {module} (distribution {' or '.join(sorted(dists))}), which {says}")


# ---- package data -------------------------------------------------------------------------------------------
def check_package_data(repo: Path, pyproject: dict, problems: list[str]) -> None:
    package = repo / "include" / PACKAGE
    patterns = pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {}).get(PACKAGE, [])
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    for path in sorted(package.rglob("*")):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        if path not in shipped:
            problems.append(
                f"{path.relative_to(repo)}: not matched by pyproject.toml [tool.setuptools.package-data] "
                "(a wheel would not ship it)"
            )


# ---- all of it -------------------------------------------------------------------------------------------------
def problems(repo: Path) -> list[str]:
    found: list[str] = []
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    project = pyproject.get("project", {})
    runtime = read_declared(project.get("dependencies", []), "[project] dependencies", found)
    dev = read_declared(project.get("optional-dependencies", {}).get("dev", []), "dev extra", found)

    pins = read_pins(repo / RUNTIME, found)
    dev_pins = read_pins(repo / DEV, found)
    lock = read_lock(repo / LOCK, found)
    for name in pins.keys() & dev_pins.keys():
        found.append(f"{DEV}:{dev_pins[name].line}: {name} is pinned in {RUNTIME} too: one place per package")

    check_lock(pins, RUNTIME, lock, found)
    check_lock(dev_pins, DEV, lock, found)
    check_same_version(lock, found)
    check_declared_vs_pinned(runtime, pins, "[project] dependencies", RUNTIME, found, extra_pins_need_reason=True)
    check_declared_vs_pinned(dev, dev_pins, "dev extra", DEV, found, extra_pins_need_reason=False)

    first_party = local_modules(repo / "include") | {"tests"}
    package_may_use = released_with(runtime, found)
    says = "pyproject.toml [project] dependencies does not declare"
    check_imports(repo, repo / "include", package_may_use, says, first_party, found)
    # Airflow puts plugins/ and dags/ on sys.path: their own modules import each other by bare name.
    if (repo / "plugins").is_dir():
        # ...and a plugin folder puts itself on sys.path to reach its own package (plugins/evergreen/evergreen_ui).
        local = first_party | local_modules(repo / "plugins")
        for plugin in (repo / "plugins").iterdir():
            local |= local_modules(plugin) if plugin.is_dir() else set()
        check_imports(repo, repo / "plugins", package_may_use, says, local, found)
    if (repo / "dags").is_dir():
        dags_may_use = package_may_use | released_with(pins.keys() - runtime.keys(), [])
        says = f"neither pyproject.toml nor {RUNTIME} declares"
        check_imports(repo, repo / "dags", dags_may_use, says, first_party | local_modules(repo / "dags"), found)

    check_package_data(repo, pyproject, found)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout")
    args = parser.parse_args(argv)
    found = problems(args.repo.resolve())
    for line in found:
        print(f"check_deps: {line}", file=sys.stderr)
    if found:
        print(f"check_deps: {len(found)} problem(s); docs/dependencies.md says what goes where", file=sys.stderr)
        return 1
    print("check_deps: requirements, lock, pyproject and imports agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
