"""Landing files read as bytes: the row count every reconciliation rests on, and the byte-level refusals.

The count must be the same however the file is cut into chunks, so each case is also scanned with tiny
chunks (a \\r\\n, a multi-byte character or a line split across two reads).
"""

from __future__ import annotations

import pytest

from evergreen.storage import landing_scan
from evergreen.storage.landing_scan import count_rows, list_drop, scan

HEADER = b"a,b,c\n"


@pytest.fixture(params=[landing_scan.CHUNK_BYTES, 1, 2, 3, 7], ids=lambda n: f"chunk{n}")
def chunked(request, monkeypatch):
    monkeypatch.setattr(landing_scan, "CHUNK_BYTES", request.param)
    return request.param


def _file(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("name", "data", "rows"),
    [
        ("lf.csv", HEADER + b"1,2,3\n4,5,6\n", 2),
        ("no_final_break.csv", HEADER + b"1,2,3\n4,5,6", 2),
        ("crlf.csv", b"a,b,c\r\n1,2,3\r\n4,5,6\r\n", 2),
        ("mixed.csv", b"a,b,c\r\n1,2,3\n4,5,6\r7,8,9\r\n", 3),
        # CSV skips lines of spaces and control characters; a leading blank line is not the header
        ("blank.csv", b"\n  \n" + HEADER + b"1,2,3\n\n\t\n \x0b \n4,5,6\n\r\n", 2),
        ("header_only.csv", HEADER, 0),
        ("lines.jsonl", b'{"a":1}\n{"a":2}\n', 2),
        # JSON Lines skips only spaces and tabs: a stray control character is a (malformed) row
        ("blank.jsonl", b'{"a":1}\n\n \t \n\x0b\n{"a":2}', 3),
    ],
)
def test_rows_are_non_blank_lines_less_a_csv_header(tmp_path, chunked, name, data, rows):
    found = scan(_file(tmp_path, name, data))
    assert found.problem is None or found.rows == 0, found.problem
    assert found.rows == rows
    assert count_rows([found.path]) == {found.path: rows}


def test_the_header_is_the_first_non_blank_line_without_a_byte_order_mark(tmp_path, chunked):
    found = scan(_file(tmp_path, "bom.csv", b"\r\n\xef\xbb\xbftransaction_id,amount\r\nx,1\r\n"))
    assert found.header == "transaction_id,amount"
    assert found.rows == 1


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty file"),
        (b"\n \n\t\n", "empty file (blank lines only)"),
        (HEADER + "1,Caf\u00e9,3\n".encode("latin-1"), "not UTF-8 (byte 0xE9 at offset 11)"),
        (HEADER + b"1,2,3\n" + "x,\u00e9".encode()[:-1], "not UTF-8 (truncated sequence 0xC3 at offset 14 at the end"),
        (HEADER + b"1,2\x00,3\n", "binary content (NUL byte at offset 9)"),
    ],
    ids=["empty", "blank", "latin1", "truncated_utf8", "nul"],
)
def test_bytes_that_are_not_text_are_named_with_their_offset(tmp_path, chunked, data, problem):
    found = scan(_file(tmp_path, "web_app.csv", data))
    assert found.problem is not None
    assert found.problem.startswith(problem), found.problem


def test_a_refused_file_is_still_counted_to_its_end(tmp_path, chunked):
    data = HEADER + "1,\u00e9,3\n".encode("latin-1") + b"4,5,6\n" * 50
    found = scan(_file(tmp_path, "web_app.csv", data))
    assert found.problem.startswith("not UTF-8")
    assert found.rows == 51  # what quarantine must hold for this file


def test_a_declared_encoding_is_read_as_declared(tmp_path, chunked):
    path = _file(tmp_path, "web_app.csv", HEADER + "1,Stra\u00dfe,3\n".encode("latin-1"))
    assert scan(path).problem.startswith("not UTF-8")
    declared = scan(path, encoding="latin-1")
    assert declared.problem is None
    assert declared.rows == 1


def test_a_line_over_the_limit_refuses_the_file_and_still_counts(tmp_path, chunked):
    data = HEADER + b"1,2,3\n" + b"x" * 100 + b",2,3\n" + b"4,5,6\n"
    found = scan(_file(tmp_path, "web_app.csv", data), max_line_bytes=50)
    assert found.problem == "line 3 is longer than 50 bytes: not line-structured text"
    assert found.rows == 3
    assert scan(found.path, max_line_bytes=200).problem is None


def test_a_long_blank_line_stays_blank(tmp_path):
    data = HEADER + b"1,2,3\n" + b" " * 100 + b"\n" + b"4,5,6\n"
    found = scan(_file(tmp_path, "web_app.csv", data), max_line_bytes=20)
    assert found.problem.startswith("line 3 is longer than 20 bytes")
    assert found.rows == 2


def test_a_drop_lists_its_landing_files_only(tmp_path):
    for name in ("web_app.csv", "pos.jsonl", "notes.txt", "_manifest.json", ".web_app.csv.tmp"):
        (tmp_path / name).write_bytes(b"x\n")
    assert [p.rsplit("/", 1)[-1] for p in list_drop(str(tmp_path))] == ["pos.jsonl", "web_app.csv"]
    assert list_drop(str(tmp_path / "missing")) == []
    # Hadoop spells local paths file:/x; the scan reads them all the same
    assert scan(f"file:{tmp_path}/web_app.csv").rows == 0
