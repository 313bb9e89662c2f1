"""Where the repository checkout is: development tools start the broker and stack from its scripts.

Runtime code never asks (it finds its resources through `importlib.resources`); only devtools do, because
they drive `scripts/*.sh`. `EVERGREEN_REPO` (set by scripts/env.sh) wins; else the nearest folder above the
working directory that holds `scripts/env.sh`.
"""

from __future__ import annotations

import os
from pathlib import Path


class NoCheckoutError(FileNotFoundError):
    """Not inside an Evergreen checkout: development tools need its scripts."""


def checkout() -> Path:
    if os.environ.get("EVERGREEN_REPO"):
        return Path(os.environ["EVERGREEN_REPO"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "scripts" / "env.sh").is_file():
            return folder
    raise NoCheckoutError(f"no Evergreen checkout at or above {here}: set EVERGREEN_REPO or run from the repository")


def script(name: str) -> Path:
    return checkout() / "scripts" / name
