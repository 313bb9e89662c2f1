"""The one stage-then-swap, over pyarrow's local filesystem (the Hadoop adapter runs in test_lake.py)."""

from __future__ import annotations

import os
import time

import pyarrow.fs as pafs
import pytest

from evergreen.storage.files import ArrowFolders, arrow_fs
from evergreen.storage.swap import STAGING, STALE_SECONDS, TRASH, drop_stale, new_stage, swap


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_swap_replaces_the_live_folder_and_leaves_no_trash(tmp_path):
    folders = ArrowFolders(pafs.LocalFileSystem())
    root = str(tmp_path)
    _write(tmp_path / "day=1" / "part.txt", "old")
    stage = new_stage(folders, root)
    _write(tmp_path / stage.removeprefix(root + "/") / "day=1" / "part.txt", "new")
    swap(folders, root, "day=1", f"{stage}/day=1")
    assert (tmp_path / "day=1" / "part.txt").read_text() == "new"
    assert not (tmp_path / TRASH).exists() or not os.listdir(tmp_path / TRASH)


def test_swap_to_nothing_removes_the_folder(tmp_path):
    folders = ArrowFolders(pafs.LocalFileSystem())
    _write(tmp_path / "day=1" / "part.txt", "old")
    swap(folders, str(tmp_path), "day=1", None)
    assert not (tmp_path / "day=1").exists()


def test_a_failed_move_in_keeps_the_previous_version_in_trash(tmp_path):
    """A crash between 'aside' and 'in' leaves the old files whole in _trash, never a half folder."""
    folders = ArrowFolders(pafs.LocalFileSystem())
    _write(tmp_path / "day=1" / "part.txt", "old")
    with pytest.raises(FileNotFoundError, match="missing-stage"):
        swap(folders, str(tmp_path), "day=1", str(tmp_path / "missing-stage"))
    assert not (tmp_path / "day=1").exists()
    (kept,) = os.listdir(tmp_path / TRASH)
    assert (tmp_path / TRASH / kept / "part.txt").read_text() == "old"


def test_only_stale_leftovers_are_dropped(tmp_path):
    folders = ArrowFolders(pafs.LocalFileSystem())
    old, young = tmp_path / STAGING / "old", tmp_path / STAGING / "young"
    _write(old / "f", "x")
    _write(young / "f", "y")
    past = time.time() - STALE_SECONDS - 60
    os.utime(old, (past, past))
    drop_stale(folders, str(tmp_path))
    assert not old.exists()
    assert young.exists()  # may belong to a write still running


def test_arrow_fs_speaks_hadoop_s3a_and_file_uris():
    fs, path = arrow_fs("file:///tmp/lake")
    assert isinstance(fs, pafs.LocalFileSystem)
    assert path == "/tmp/lake"
    assert arrow_fs("/tmp/lake")[1] == "/tmp/lake"
