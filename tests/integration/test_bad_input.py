"""The bad-input corpus: broken landing files as upstream systems send them, through the real Spark steps.

Two lakes, both built once for the module:

* the corpus: one drop holding a good CSV, a good JSON Lines file and a copy of one of them per kind of
  breakage (hand-made and seeded random), all ingested in one run. Each file gets its own verdict and
  one-line reason, and not one landed row is lost: every file's rows (counted from its bytes) are in bronze
  or, whole, in quarantine, without a character replaced.
* the issue's table, day by day: a Latin-1 file, an empty file, a header-only file, a renamed column, a value
  that is not a number, a label file with a renamed column, then a day every file of which is broken, then
  a normal day. Each bad file is named in its day's reason, the day's good file reaches silver, every day
  reconciles, and `evergreen status` shows all of it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from evergreen import config
from evergreen.contracts import data_contract
from evergreen.devtools.datagen import Scenario, corrupt, generate
from evergreen.pipeline import steps
from evergreen.storage.inventory import known_days, summarize
from evergreen.storage.lake import Lake
from evergreen.storage.landing_scan import scan

pytestmark = pytest.mark.spark

REPLACEMENT = "\ufffd"
CORPUS_DAY = "2026-02-02"
MAX_LINE = 64 * 1024  # the corpus source refuses lines longer than this (the shipped default is 8 MiB)


@contextlib.contextmanager
def _home(path: Path):
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(path)
    config.reload()
    try:
        yield config.settings()
    finally:
        if saved is None:
            os.environ.pop("EVERGREEN_HOME", None)
        else:
            os.environ["EVERGREEN_HOME"] = saved
        config.reload()


# ---- the corpus ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    base: str  # "csv" or "jsonl": which good file the case starts from
    accepted: bool
    reason: str | None = None  # the refusal's text after "<file>: " (a prefix), None when accepted


def _junk_offset(data: bytes, at: int, junk: bytes) -> str:
    """The reason a file with `junk` inserted at byte `at` must get: the first byte that breaks UTF-8."""
    try:
        (data[:at] + junk + data[at:]).decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = (data[:at] + junk + data[at:])[exc.start]
        return f"not UTF-8 (byte 0x{bad:02X} at offset {exc.start})"
    return "binary content (NUL byte"


def _random_cases(web: bytes) -> dict[str, tuple[Case, callable]]:
    """Seeded random corruption: truncation at a random point, random bytes at a random offset."""
    out = {}
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        keep = float(rng.uniform(0.2, 0.9))
        out[f"cut_random_{seed}.csv"] = (Case("csv", True), lambda p, k=keep: corrupt.truncate(p, keep=k))
        at = int(rng.integers(len(web) // 4, len(web) - 10))
        junk = rng.integers(0, 256, int(rng.integers(8, 64)), dtype=np.uint8).tobytes()

        def insert(p: Path, at=at, junk=junk) -> None:
            data = p.read_bytes()
            p.write_bytes(data[:at] + junk + data[at:])

        out[f"junk_random_{seed}.csv"] = (Case("csv", False, _junk_offset(web, at, junk)), insert)
    return out


def _null_burst(path: Path) -> None:
    rows = len(path.read_bytes().splitlines()) - 1
    for row in range(0, rows, 3):  # a third of the rows
        corrupt.set_value(path, row, "amount", "")


def _all_nested(path: Path) -> None:
    for row in range(len(path.read_bytes().splitlines())):
        corrupt.nested_json(path, row, "amount")


CASES: dict[str, tuple[Case, callable]] = {
    "good.csv": (Case("csv", True), lambda p: None),
    "good.jsonl": (Case("jsonl", True), lambda p: None),
    "latin1.csv": (Case("csv", False, "not UTF-8 (byte 0x"), corrupt.latin1),
    "empty.jsonl": (Case("jsonl", False, "empty file"), corrupt.empty),
    "empty.csv": (Case("csv", False, "empty file"), corrupt.empty),
    "header_only.csv": (Case("csv", False, "header only, no rows"), corrupt.header_only),
    "renamed.csv": (
        Case("csv", False, "column amount missing, amount_cents unexpected"),
        lambda p: corrupt.rename_column(p, "amount", "amount_cents"),
    ),
    "renamed.jsonl": (
        Case("jsonl", False, "column amount missing, amount_cents unexpected"),
        lambda p: corrupt.rename_column(p, "amount", "amount_cents"),
    ),
    "amount_abc.csv": (Case("csv", True), lambda p: corrupt.set_value(p, 3, "amount", "abc")),
    "truncated.csv": (Case("csv", True), corrupt.truncate),
    "truncated.jsonl": (Case("jsonl", True), corrupt.truncate),
    "junk_end.csv": (Case("csv", False, "not UTF-8 (byte 0x"), lambda p: corrupt.binary_junk(p, seed=5)),
    "junk_end.jsonl": (Case("jsonl", False, "not UTF-8 (byte 0x"), lambda p: corrupt.binary_junk(p, seed=6)),
    "mixed_endings.csv": (Case("csv", True), corrupt.mixed_line_endings),
    "mixed_endings.jsonl": (Case("jsonl", True), corrupt.mixed_line_endings),
    "huge_line.csv": (
        Case("csv", False, f"line 8 is longer than {MAX_LINE:,} bytes"),
        lambda p: corrupt.huge_line(p, 6, 3 * MAX_LINE),
    ),
    "duplicate_column.csv": (
        Case("csv", False, "duplicate column amount"),
        lambda p: corrupt.duplicate_column(p, "amount", instead_of="currency"),
    ),
    "repeated_header.csv": (Case("csv", True), lambda p: corrupt.repeated_header(p, 40)),
    "semicolons.csv": (Case("csv", False, "wrong delimiter: the header splits on ';', not ','"), corrupt.delimiter),
    "nested_one.jsonl": (Case("jsonl", True), lambda p: corrupt.nested_json(p, 2, "amount")),
    "nested_all.jsonl": (Case("jsonl", False, "amount not a number in 100.0% of rows"), _all_nested),
    "null_burst.csv": (Case("csv", False, "amount null in 3"), _null_burst),
    "blank_lines.csv": (Case("csv", True), corrupt.blank_lines),
    # the same Latin-1 bytes, but this file's encoding is declared in the source's contract
    "declared_latin1.csv": (Case("csv", True), corrupt.latin1),
    "blank_lines.jsonl": (Case("jsonl", True), corrupt.blank_lines),
}


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("corpus")
    with _home(home) as cfg:
        generate(dt.date.fromisoformat(CORPUS_DAY), days=1, rows_per_day=300, seed=5)
        base_dir = Path(cfg.landing_root) / "transactions" / CORPUS_DAY
        bases = {"csv": base_dir / "web_app.csv", "jsonl": base_dir / "pos.jsonl"}
        cases = {**CASES, **_random_cases(bases["csv"].read_bytes())}
        drop = home / "drop"
        drop.mkdir()
        for name, (case, damage) in cases.items():
            shutil.copy(bases[case.base], drop / name)
            damage(drop / name)
        source = replace(
            data_contract.TRANSACTIONS,
            max_line_bytes=MAX_LINE,
            file_encodings=(("declared_latin1.csv", "latin-1"),),
        )
        lake = Lake(spark, cfg)
        files = steps.landing_files(lake, str(drop))
        report = steps.ingest_source(spark, lake, source, CORPUS_DAY, files, contract_gate=False)
        bronze = lake.read("bronze", "transactions", "event_date", [CORPUS_DAY])
        quarantine = lake.read("quarantine", "transactions", "batch_id", [report["batch_id"]])
        q_file = F.get_json_object("record", "$._source_file")
        yield {
            "cases": cases,
            "drop": drop,
            "report": report,
            "verdicts": {Path(v["path"]).name: v for v in report["files"]},
            "bronze": bronze,
            "bronze_rows": {Path(r[0]).name: r[1] for r in bronze.groupBy(data_contract.SOURCE_FILE).count().collect()},
            "quarantine": quarantine,
            "quarantine_rows": {Path(r[0]).name: r[1] for r in quarantine.groupBy(q_file.alias("f")).count().collect()},
        }


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_file_gets_its_own_verdict_and_one_line_reason(corpus, name):
    case = corpus["cases"][name][0]
    verdict = corpus["verdicts"][name]
    assert verdict["status"] == ("accepted" if case.accepted else "refused"), verdict["reason"]
    if case.accepted:
        assert verdict["reason"] is None
    else:
        assert verdict["reason"].startswith(f"{name}: {case.reason}"), verdict["reason"]
        assert "\n" not in verdict["reason"]


def test_random_corruption_names_the_breaking_byte(corpus):
    random = {n: c for n, (c, _) in corpus["cases"].items() if "random" in n}
    assert len(random) == 6
    for name, case in random.items():
        verdict = corpus["verdicts"][name]
        assert verdict["status"] == ("accepted" if case.accepted else "refused"), (name, verdict["reason"])
        if not case.accepted:
            assert verdict["reason"].startswith(f"{name}: {case.reason}"), verdict["reason"]


def test_no_landed_row_is_lost(corpus):
    """Per file: rows counted from the bytes == rows in bronze + rows in quarantine, and one of them is 0."""
    for name in corpus["cases"]:
        landed = scan(str(corpus["drop"] / name), check=False).rows
        bronze = corpus["bronze_rows"].get(name, 0)
        quarantined = corpus["quarantine_rows"].get(name, 0)
        assert bronze + quarantined == landed, (name, landed, bronze, quarantined)
        assert corpus["verdicts"][name]["rows"] == landed
        assert 0 in (bronze, quarantined), name  # a file is in bronze or quarantined whole, never split
    report = corpus["report"]
    assert report["landing_rows"] == report["bronze_rows"] + report["quarantined_rows"]
    assert report["gate"]["status"] == "partial"


def test_no_character_is_replaced_anywhere(corpus):
    text = [c for c, t in corpus["bronze"].dtypes if t == "string"]
    bronze = corpus["bronze"].select(F.concat_ws("|", *text).alias("t"))
    assert bronze.filter(F.col("t").contains(REPLACEMENT)).count() == 0
    assert corpus["quarantine"].filter(F.col("record").contains(REPLACEMENT)).count() == 0


def test_a_refused_file_is_kept_line_for_line_byte_for_byte(corpus):
    """The Latin-1 file: its lines are in quarantine exactly as they landed (text, or base64 of the bytes)."""
    name = "latin1.csv"
    raw = (corpus["drop"] / name).read_bytes().splitlines()[1:]
    records = corpus["quarantine"].filter(F.col("record").contains(f'/{name}"')).select("stage", "record").collect()
    assert {r["stage"] for r in records} == {"landing_file"}
    lines = []
    for r in records:
        record = json.loads(r["record"])
        lines.append(record["_line"].encode() if "_line" in record else base64.b64decode(record["_line_base64"]))
    assert sorted(lines) == sorted(raw)
    assert any("_line_base64" in json.loads(r["record"]) for r in records)


def test_a_declared_encoding_is_read_in_it(corpus):
    bronze = corpus["bronze"].filter(F.col(data_contract.SOURCE_FILE).endswith("declared_latin1.csv"))
    categories = {r[0] for r in bronze.select("category").distinct().collect()}
    assert set(corrupt.LATIN1_VALUES) <= categories  # "straße", not "stra\ufffde"


def test_a_value_that_is_not_its_type_keeps_its_text_in_bronze(corpus):
    bronze = corpus["bronze"]
    abc = bronze.filter(F.col(data_contract.SOURCE_FILE).endswith("amount_abc.csv"))
    kept = abc.filter(F.col("_raw")["amount"] == "abc").collect()
    assert len(kept) == 1
    assert kept[0]["amount"] is None
    nested = bronze.filter(F.col(data_contract.SOURCE_FILE).endswith("nested_one.jsonl"))
    raw = [r["_raw"]["amount"] for r in nested.filter(F.col("_raw")["amount"].isNotNull()).collect()]
    assert len(raw) == 1
    assert json.loads(raw[0])["unit"] == "EUR"
    # a repeated header line inside a file is a row whose values do not type, not a lost line
    again = bronze.filter(F.col(data_contract.SOURCE_FILE).endswith("repeated_header.csv"))
    assert again.filter(F.col("_raw")["event_time"] == "event_time").count() == 1
    # the truncated CSV's last line has too few fields: malformed, kept whole
    cut = bronze.filter(F.col(data_contract.SOURCE_FILE).endswith("truncated.csv"))
    assert cut.filter(F.col("_corrupt_record").isNotNull()).count() == 1


def test_bronze_has_the_contract_types_whatever_the_files_held(corpus):
    types = dict(corpus["bronze"].dtypes)
    expected = {"string": "string", "double": "double", "timestamp": "timestamp", "int": "int", "long": "bigint"}
    for c in data_contract.TRANSACTION_COLUMNS:
        assert types[c.name] == expected[c.type], c.name
    assert types["_raw"] == "map<string,string>"


# ---- the table, day by day ------------------------------------------------------------------------
DAYS = [str(dt.date(2026, 1, 1) + dt.timedelta(days=i)) for i in range(7)]
LABEL_DAY = DAYS[3]  # its label file arrives with is_fraud renamed
ALL_BROKEN = DAYS[5]  # null_burst: every file of the day refused


def _break_the_table(landing: Path) -> None:
    tx = landing / "transactions"
    corrupt.latin1(tx / DAYS[1] / "web_app.csv")
    corrupt.empty(tx / DAYS[2] / "pos.jsonl")
    corrupt.set_value(tx / DAYS[2] / "web_app.csv", 5, "amount", "abc")
    corrupt.header_only(tx / DAYS[3] / "web_app.csv")
    corrupt.rename_column(tx / DAYS[4] / "web_app.csv", "amount", "amount_cents")
    corrupt.rename_column(landing / "labels" / LABEL_DAY / "labels.csv", "is_fraud", "fraud")


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("table")
    with _home(home) as cfg:
        manifest = generate(
            dt.date.fromisoformat(DAYS[0]),
            days=len(DAYS),
            rows_per_day=300,
            seed=11,
            scenarios=[Scenario("null_burst", dt.date.fromisoformat(ALL_BROKEN))],
        )
        _break_the_table(Path(cfg.landing_root))
        reports = {}
        for day in DAYS:
            reports[day] = {"ingest": steps.ingest_day(spark, day)}
            if reports[day]["ingest"]["gate"]["status"] != "failed":
                reports[day]["clean"] = steps.clean_day(spark, day)
        reports[DAYS[-1]]["features"] = steps.features_day(spark, DAYS[-1])
        yield {"home": home, "cfg": cfg, "manifest": manifest, "reports": reports, "lake": Lake(spark, cfg)}


@pytest.mark.parametrize(
    ("day", "file", "words"),
    [
        (DAYS[1], "web_app.csv", "not UTF-8 (byte 0x"),
        (DAYS[2], "pos.jsonl", "empty file"),
        (DAYS[3], "web_app.csv", "header only, no rows"),
        (DAYS[4], "web_app.csv", "column amount missing, amount_cents unexpected"),
    ],
)
def test_a_bad_file_is_named_and_the_good_file_of_its_day_reaches_silver(table, day, file, words):
    ingest = table["reports"][day]["ingest"]
    gate = ingest["gate"]
    assert gate["status"] == "partial"
    assert f"{file}: {words}" in gate["reason"]
    assert "\n" not in gate["reason"]
    good = "pos.jsonl" if file == "web_app.csv" else "web_app.csv"
    silver = table["lake"].read("silver", "transactions", "event_date", [day])
    sources = {Path(r[0]).name for r in silver.select(data_contract.SOURCE_FILE).distinct().collect()}
    assert sources == {good}
    clean = table["reports"][day]["clean"]
    assert clean["gate"]["status"] != "failed", clean["gate"]["reason"]


def test_every_day_reconciles_failed_ones_too(table):
    with _home(table["home"]):
        summary = summarize(known_days())
    rows = {r["day"]: r for r in summary["days"]}
    assert list(rows) == DAYS
    for day, row in rows.items():
        landed = sum(
            scan(str(p), check=False).rows for p in (Path(table["cfg"].landing_root) / "transactions" / day).iterdir()
        )
        assert row["landing"] == landed > 0, day
        assert row["silver"] + row["quarantine"] == row["landing"], (day, row)
        assert row["unaccounted"] == 0
    assert rows[ALL_BROKEN]["raw_contract"] == "failed"
    assert rows[ALL_BROKEN]["silver"] == 0
    assert rows[ALL_BROKEN]["quarantine"] == rows[ALL_BROKEN]["landing"]
    assert summary["reconciled"]
    assert summary["layers"]["landing"] == summary["layers"]["silver"] + summary["layers"]["quarantine"]
    assert summary["labels"]["unaccounted"] == 0, summary["labels"]
    named = [f for f in summary["gates"]["not_passed"] if f["day"] == ALL_BROKEN]
    assert any("web_app.csv: customer_id null" in f["reason"] and "pos.jsonl" in f["reason"] for f in named), named


def test_a_value_that_is_not_a_number_is_quarantined_with_its_text(table, spark):
    lake = table["lake"]
    q = lake.read("quarantine", "transactions", "batch_id", [steps.batch_id(DAYS[2])])
    rows = q.filter(F.col("reason") == "amount not a number: 'abc'").collect()
    assert len(rows) == 1
    record = json.loads(rows[0]["record"])
    assert record["_raw"] == {"amount": "abc"}
    assert record.get("amount") is None  # null fields are left out of the JSON
    assert table["reports"][DAYS[2]]["clean"]["quarantine_reasons"].get("amount not a number") == 1
    bronze = lake.read("bronze", "transactions", "event_date", [DAYS[2]])
    assert bronze.filter(F.col("_raw")["amount"] == "abc").count() == 1


def test_a_renamed_label_column_quarantines_that_file_and_later_days_run_green(table):
    labels = table["reports"][LABEL_DAY]["ingest"]["labels"]
    assert labels["gate"]["status"] == "failed"
    assert labels["gate"]["reason"].endswith("labels.csv: column is_fraud missing, fraud unexpected")
    assert labels["quarantined_rows"] == labels["landing_rows"] > 0
    for day in DAYS[4:]:
        clean = table["reports"][day].get("clean")
        if clean is None:
            continue  # the all-broken day stops at its raw gate
        assert all("error" not in v for v in clean["labels"].values()), clean["labels"]
    last = table["reports"][DAYS[-1]]
    assert last["ingest"]["gate"]["status"] == "passed"
    assert last["clean"]["gate"]["status"] in ("passed", "partial"), last["clean"]["gate"]["reason"]
    assert last["features"]["gold_rows_today"] > 0


def test_the_day_after_a_short_day_is_measured_against_a_complete_one(table):
    clean = table["reports"][DAYS[-1]]["clean"]
    assert clean["previous_day"] == DAYS[0]  # days 2-5 were partial, day 6 failed
    assert clean["gate"]["status"] != "failed"


@pytest.mark.parametrize("command", ["status", "lake"])
def test_status_prints_every_day_and_the_reconciliation(table, capsys, command):
    """`status` (the services, then the lake) and `lake` (the lake alone, then one JSON line)."""
    from evergreen.cli import main

    with _home(table["home"]):
        assert main([command]) == 0  # no stack runs here: not an error
    out = capsys.readouterr().out
    for day in DAYS:
        assert day in out
    assert "NOT RECONCILED" not in out
    assert f"[raw_contract] {ALL_BROKEN} failed: raw contract failed for transactions-{ALL_BROKEN}" in out
    assert f"[labels] {LABEL_DAY} failed:" in out
    landing = re.search(r"^landing (\d+) = silver (\d+) \+ quarantine (\d+): reconciled$", out, re.M)
    assert landing, out[-2000:]
    assert int(landing[1]) == int(landing[2]) + int(landing[3]) > 0
    if command == "lake":
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["reconciled"] is True
        assert summary["layers"]["landing"] == int(landing[1])
