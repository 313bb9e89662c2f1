"""Lake URIs as pyarrow filesystems: readers that need no JVM (training, scoring, inventory) open the lake here.

`s3a://` is Hadoop's name for S3 (what Spark writes); pyarrow calls it `s3://`. Local paths and `file://` URIs
are the local filesystem.
"""

from __future__ import annotations

import pyarrow.fs as pafs


def arrow_fs(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of `uri` and the path inside it."""
    if uri.startswith("s3a://"):
        uri = "s3://" + uri.removeprefix("s3a://")
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), uri.removeprefix("file://")
    if uri.startswith("file:"):  # Hadoop's spelling of a local path (file:/x)
        return pafs.LocalFileSystem(), uri.removeprefix("file:")
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


class ArrowFolders:
    """`storage.swap.Folders` over a pyarrow filesystem."""

    def __init__(self, fs: pafs.FileSystem):
        self.fs = fs

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def mkdirs(self, path: str) -> None:
        self.fs.create_dir(path, recursive=True)

    def move(self, src: str, dst: str) -> None:
        # A folder rename where the filesystem has one (local, HDFS); file by file where it has not (S3).
        try:
            self.fs.move(src, dst)
            return
        except (NotImplementedError, OSError):
            if isinstance(self.fs, pafs.LocalFileSystem):
                raise
        for info in self.fs.get_file_info(pafs.FileSelector(src, recursive=True)):
            if info.type == pafs.FileType.File:
                target = dst + info.path[len(src) :]
                self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
                self.fs.copy_file(info.path, target)
        self.delete(src)

    def delete(self, path: str) -> None:
        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(path)

    def children(self, path: str) -> list[tuple[str, float]]:
        if self.fs.get_file_info(path).type != pafs.FileType.Directory:
            return []
        return [
            (e.path, e.mtime.timestamp() if e.mtime is not None else float("inf"))
            for e in self.fs.get_file_info(pafs.FileSelector(path))
        ]
