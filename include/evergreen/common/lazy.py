"""Lazy package attributes: `import evergreen.training` must not load xgboost, nor a DAG file whylogs.

A package's `__init__` names where each public name lives; the module is imported on first use (PEP 562).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<where[name]>` when `name` is first asked for."""

    def module_getattr(name: str) -> Any:
        if name in where:
            return getattr(import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return module_getattr
