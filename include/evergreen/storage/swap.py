"""Stage, then swap: how every lake write replaces a partition (or a whole small table) atomically.

1. stage: the writer puts the new files under `<root>/_staging/<write-id>/` (readers skip `_` paths, so they
   never see staged files) and reconciles them before anything live is touched;
2. swap: the live folder is moved aside into `<root>/_trash/`, the staged one moved into its place, the trash
   dropped.

A crash during (1) leaves only staging garbage; during (2) at worst a folder that is absent (its previous version
sits in `_trash/`), never one that is half written. The next run of the same day re-stages and swaps, so a re-run
gives the same rows. Leftovers older than STALE_SECONDS belong to crashed writes and are removed by the next write.

One algorithm for two filesystem APIs: Spark's Hadoop FileSystem (`storage.lake`, local or s3a://) and pyarrow's
(`scoring`, which writes without a JVM). Each adapts itself to `Folders`. On object stores a move is a copy: the
folder is still never half visible to readers that list `key=value` folders, but the swap is slower.
"""

from __future__ import annotations

import time
import uuid
from typing import Protocol

STAGING, TRASH = "_staging", "_trash"
STALE_SECONDS = 6 * 3600  # older staging is a crashed write's; younger may be a concurrent one's


class Folders(Protocol):
    """The few folder operations a swap needs, over one filesystem."""

    def exists(self, path: str) -> bool: ...

    def mkdirs(self, path: str) -> None: ...

    def move(self, src: str, dst: str) -> None:
        """Move a folder; raise OSError if it did not move."""

    def delete(self, path: str) -> None:
        """Remove a folder and what it holds; nothing if it is absent."""

    def children(self, path: str) -> list[tuple[str, float]]:
        """(path, modification time in epoch seconds) of each direct child; [] if the folder is absent."""


def new_stage(folders: Folders, root: str) -> str:
    """A fresh staging folder under `root` for one write (clearing crashed writes' leftovers first)."""
    drop_stale(folders, root)
    return f"{root}/{STAGING}/{int(time.time())}-{uuid.uuid4().hex[:8]}"


def swap(folders: Folders, root: str, name: str, staged: str | None) -> None:
    """Make `<root>/<name>` the `staged` folder (or remove it, when `staged` is None)."""
    live = f"{root}/{name}"
    trash = f"{root}/{TRASH}/{name}-{uuid.uuid4().hex[:8]}"
    if folders.exists(live):
        folders.mkdirs(f"{root}/{TRASH}")
        folders.move(live, trash)
    if staged is not None:
        folders.move(staged, live)
    folders.delete(trash)


def drop_stale(folders: Folders, root: str, now: float | None = None) -> None:
    """Remove staging and trash left by crashed writes, once old enough not to belong to a live write."""
    now = time.time() if now is None else now
    for folder in (f"{root}/{STAGING}", f"{root}/{TRASH}"):
        for path, mtime in folders.children(folder):
            if now - mtime > STALE_SECONDS:
                folders.delete(path)
