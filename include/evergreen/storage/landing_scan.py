"""Landing files read as bytes, without a JVM: are they text in their encoding, and how many rows do they hold?

A *row* of a landing file is a line that is not blank. Lines end at `\\n`, `\\r\\n` or `\\r` (what Spark's line
reader splits on); blank means what each reader skips: in CSV a line of characters up to U+0020 only, in
JSON Lines spaces and tabs only (any other stray character is a malformed record there). A CSV file's first
non-blank line is its header, not a row. Counted this way, the rows of a file are exactly the records Spark
parses from it when it is accepted and the lines ingest quarantines when it is refused, so
`landing == silver + quarantine` can be checked against the files themselves (`evergreen status` does).

One pass over the bytes in chunks, with whole-chunk operations (numpy over the bytes, the codec's incremental
decoder): no Python loop over lines, memory bounded by the chunk size and the longest allowed line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import pyarrow.fs as pafs

from evergreen.storage.files import arrow_fs

CSV, JSONL = "csv", "jsonl"
FORMATS = {".csv": CSV, ".jsonl": JSONL, ".json": JSONL}
CHUNK_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
BOM = "\ufeff"


def file_format(path: str) -> str | None:
    """`csv` / `jsonl` from the file name, None for anything else."""
    name = path.rsplit("/", 1)[-1].lower()
    return next((fmt for ext, fmt in FORMATS.items() if name.endswith(ext)), None)


def file_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class FileScan:
    path: str
    format: str
    size: int = 0
    lines: int = 0  # non-blank lines, a CSV header included
    header: str | None = None  # CSV: the first non-blank line, decoded, without a byte-order mark
    problem: str | None = None  # the first thing that makes the file unreadable as text; None: fine

    @property
    def name(self) -> str:
        return file_name(self.path)

    @property
    def rows(self) -> int:
        """Data rows: non-blank lines, less the header of a CSV file."""
        return max(self.lines - 1, 0) if self.format == CSV else self.lines


def scan(
    path: str,
    *,
    encoding: str = "utf-8",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    fmt: str | None = None,
    check: bool = True,
) -> FileScan:
    """Count a landing file's rows and, with `check`, find the first problem that makes it unreadable text:
    unreadable, empty, not valid in `encoding`, a NUL byte (binary content), a line over `max_line_bytes`.

    `path` is a local path or a URI (file://, s3a://, s3://). Without `check` only rows are counted (the
    bytes are still split into lines the same way): what `evergreen status` needs, fast.
    """
    fmt = fmt or file_format(path) or CSV
    out = FileScan(path=path, format=fmt)
    try:
        fs, inner = arrow_fs(path)
        info = fs.get_file_info(inner)
        if info.type != pafs.FileType.File:
            out.problem = "not a file" if info.type != pafs.FileType.NotFound else "missing"
            return out
        out.size = int(info.size or 0)
        if out.size == 0:
            out.problem = "empty file"
            return out
        lines = _Lines(fmt, max_line_bytes)
        chunk_bytes = min(CHUNK_BYTES, max_line_bytes)
        decoder = codecs.getincrementaldecoder(encoding)("strict") if check else None
        offset = 0
        with fs.open_input_stream(inner) as stream:
            while True:
                chunk = stream.read(chunk_bytes)
                final = not chunk
                if check and out.problem is None:
                    out.problem = _decode_problem(decoder, chunk, offset, encoding, final) or _nul_problem(
                        chunk, offset
                    )
                # Lines are counted to the end even after a problem: a refused file's rows go to quarantine.
                problem = lines.feed(chunk, final=final)
                if problem and check and out.problem is None:
                    out.problem = problem
                if final:
                    break
                offset += len(chunk)
    except OSError as exc:
        out.problem = f"unreadable ({_one_line(exc)})"
        return out
    out.lines = lines.non_blank
    if lines.first is not None:
        header = lines.first.decode(encoding, errors="strict") if out.problem is None else None
        out.header = header.removeprefix(BOM) if header is not None else None
    if check and out.problem is None and out.lines == 0:
        out.problem = "empty file (blank lines only)"
    return out


# A blank line after a line break (the first line of each block is checked on its own): what each reader skips.
_BLANK = {CSV: rb"[\x00-\x09\x0b-\x20]*", JSONL: rb"[ \t]*"}


class _Lines:
    """Line splitting over a stream of chunks: counts non-blank lines, keeps the first one, refuses a line
    longer than `max_line_bytes` (and still counts it, without holding it in memory)."""

    def __init__(self, fmt: str, max_line_bytes: int) -> None:
        self.blank_after_break = re.compile(rb"\n" + _BLANK[fmt] + rb"(?=\n)")
        self.blank_at_start = re.compile(_BLANK[fmt] + rb"\n")
        self.blank_line = re.compile(_BLANK[fmt])
        self.non_blank_line = re.compile(rb"[^\n]*?" + rb"[^" + _BLANK[fmt][1:-2] + rb"\n][^\n]*")
        self.max_line_bytes = max_line_bytes
        self.carry = b""  # the unfinished last line of what was fed so far
        self.non_blank = 0
        self.physical = 0  # lines seen, blank ones too: 1-based line numbers for messages
        self.first: bytes | None = None
        self.too_long: str | None = None

    def feed(self, chunk: bytes, *, final: bool) -> str | None:
        data = self.carry + chunk if self.carry else chunk
        if final:
            block, self.carry = data, b""
        else:
            # Hold a trailing \r back: the next chunk may start with the \n of the same \r\n.
            search_end = len(data) - 1 if data.endswith(b"\r") else len(data)
            cut = max(data.rfind(b"\n", 0, search_end), data.rfind(b"\r", 0, search_end)) + 1
            block, self.carry = data[:cut], data[cut:]
            if len(self.carry) > self.max_line_bytes:
                self._long(self.physical + 1)
                # The line goes on, counted but not kept: a stand-in byte keeps it blank or not.
                cr = self.carry.endswith(b"\r")
                blank = self.blank_line.fullmatch(self.carry[:-1] if cr else self.carry)
                self.carry = (b" " if blank else b"X") + (b"\r" if cr else b"")
        if block:
            self._count(block)
        return self.too_long

    def _count(self, block: bytes) -> None:
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not block.endswith(b"\n"):
            block += b"\n"  # the last line of a file without a final line break
        lines = block.count(b"\n")
        first_end = block.find(b"\n")
        if first_end > self.max_line_bytes:  # only a line begun in an earlier chunk can be this long here
            self._long(self.physical + 1)
        blank = len(self.blank_after_break.findall(block))
        if self.blank_at_start.match(block):  # a block starts at the start of a line
            blank += 1
        if self.first is None and lines > blank:
            found = self.non_blank_line.search(block)
            self.first = found.group(0) if found else None
        self.non_blank += lines - blank
        self.physical += lines

    def _long(self, line: int) -> None:
        if self.too_long is None:
            self.too_long = f"line {line} is longer than {self.max_line_bytes:,} bytes: not line-structured text"


def _decode_problem(decoder, chunk: bytes, offset: int, encoding: str, final: bool) -> str | None:
    buffered = len(decoder.getstate()[0])
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        at = offset - buffered + exc.start
        bad = exc.object[exc.start]
        what = "truncated" if final and exc.end >= len(exc.object) else "byte"
        label = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        if what == "truncated":
            return f"not {label} (truncated sequence 0x{bad:02X} at offset {at} at the end of the file)"
        return f"not {label} (byte 0x{bad:02X} at offset {at})"
    return None


def _nul_problem(chunk: bytes, offset: int) -> str | None:
    at = chunk.find(b"\x00")
    return None if at < 0 else f"binary content (NUL byte at offset {offset + at})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def count_rows(paths: list[str]) -> dict[str, int]:
    """Rows per landing file (the counting rule above), without checking encodings."""
    return {p: scan(p, check=False).rows for p in paths}


def list_drop(uri: str) -> list[str]:
    """The landing files (.csv, .jsonl, .json) of one drop folder, sorted; hidden and `_` files skipped."""
    fs, inner = arrow_fs(uri)
    if fs.get_file_info(inner).type != pafs.FileType.Directory:
        return []
    scheme = uri.split("://", 1)[0] if "://" in uri and not uri.startswith("file:") else None
    return sorted(
        (f"{scheme}://{e.path}" if scheme else e.path)
        for e in fs.get_file_info(pafs.FileSelector(inner))
        if e.type == pafs.FileType.File and not e.base_name.startswith((".", "_")) and file_format(e.base_name)
    )
