"""Versioned migrations of the evergreen DB (`evergreen.storage.migrate`), on real SQLite and real PostgreSQL.

Fresh databases reach head with the old DDL's exact shape; `check` (and so every run-time user of the DB)
refuses an empty, outdated or newer database with one line; upgrading twice changes nothing; a database the
pre-migration DDL built (tests/fixtures/schema_before_migrations/, with rows) is adopted with every row kept,
and the code reads and writes it unchanged. A second, test-only revision shows a column change has a path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from evergreen import config
from evergreen.storage import migrate, sql
from tests.paths import REPO

BEFORE_MIGRATIONS = REPO / "tests" / "fixtures" / "schema_before_migrations"
TABLES = ("promotions", "drift_reports", "drift_events", "drift_runs")
HEAD = "0001"

# A test-only revision after the shipped head: a column change, as a real 0002 would make one.
NEXT_REVISION = '''"""Test only: promotions gets a note column."""

import sqlalchemy as sa
from alembic import op

revision = "t0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("promotions", sa.Column("note", sa.TEXT()))


def downgrade() -> None:
    with op.batch_alter_table("promotions") as batch:
        batch.drop_column("note")
'''


# ------------------------------------------------------------------------------------------ databases


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request, tmp_path) -> Iterator[Callable[[], str]]:
    """A factory of empty databases (URLs) on one backend: SQLite files, or databases on a real server."""
    made: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            path = tmp_path / f"evergreen-{len(made)}.db"
            path.touch()  # an empty SQLite database is an empty file (a missing one is another case, below)
            made.append(f"sqlite:///{path}")
        else:
            name = f"evergreen_{uuid.uuid4().hex[:10]}"
            server.createdb(name)
            made.append(server.url(name))
        return made[-1]

    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    yield make
    for url in made:  # the process-wide engines migrate used: idle connections would hold the server up
        sql.engine(url).dispose()


def build_before_migrations(url: str) -> None:
    """What the old code left: the DDL files applied as they were, no version table."""
    eng = sa.create_engine(url)
    try:
        for path in sorted(BEFORE_MIGRATIONS.glob("*.sql")):
            sql.run_ddl(eng, path)
    finally:
        eng.dispose()


def shape(url: str) -> dict:
    """Every table but the version table: columns (name, type, nullable), primary key, indexes."""
    eng = sa.create_engine(url)
    try:
        inspector = sa.inspect(eng)
        out = {}
        for name in sorted(set(inspector.get_table_names()) - {migrate.VERSION_TABLE}):
            pk = inspector.get_pk_constraint(name)
            out[name] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)],
                "primary_key": (pk["name"], pk["constrained_columns"]),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)
                ),
                "foreign_keys": inspector.get_foreign_keys(name),
            }
        return out
    finally:
        eng.dispose()


def table_names(url: str) -> set[str]:
    eng = sa.create_engine(url)
    try:
        return set(sa.inspect(eng).get_table_names())
    finally:
        eng.dispose()


def rows(url: str) -> dict[str, list[dict]]:
    eng = sa.create_engine(url)
    try:
        out = {}
        with eng.connect() as conn:
            for name in TABLES:
                tbl = sa.Table(name, sa.MetaData(), autoload_with=conn)
                key = list(tbl.primary_key.columns)
                out[name] = [dict(r._mapping) for r in conn.execute(sa.select(tbl).order_by(*key))]
        return out
    finally:
        eng.dispose()


T0 = dt.datetime(2026, 1, 20, 8, 30, 0, 123456)


def sample_rows() -> dict[str, list[dict]]:
    """A few rows per table, as the audit, the drift watch and the ledger write them."""
    return {
        "promotions": [
            {
                "id": uuid.uuid4().hex,
                "decided_at": T0 + dt.timedelta(minutes=i),
                "model": "fraud",
                "challenger_version": str(i + 2),
                "champion_version": str(i + 1) if i else None,
                "challenger_metrics": json.dumps({"pr_auc": 0.8 + i / 100}),
                "champion_metrics": json.dumps({"pr_auc": 0.7}) if i else None,
                "decision": "promote",
                "reason": f"decision {i}",
                "actor": "policy",
                "triggered_by": json.dumps({"dag_id": "retrain"}),
                "run_id": f"run-{i}",
            }
            for i in range(3)
        ],
        "drift_reports": [
            {
                "model": "fraud",
                "window_day": dt.date(2026, 1, 10 + i),
                "model_version": "1",
                "computed_at": T0,
                "rows_profiled": 1000 + i,
                "measure": "hellinger",
                "feature_scores": json.dumps({"amount": 0.01 * i}),
                "drifted_features": json.dumps([]),
                "thresholds": json.dumps({"amount": 0.2}),
                "prediction_drift": 0.05 * i,
                "performance": None,
                "reasons": json.dumps(["amount drifted"] if i == 2 else []),
                "breached": i == 2,
                "fires": False,
                "rule": "1 of the last 3 windows breach (needs 2)",
                "html_path": None,
            }
            for i in range(3)
        ],
        "drift_events": [
            {
                "event_id": f"ev-{i}",
                "model": "fraud",
                "model_version": "1",
                "drift_window": f"2026-01-1{i}",
                "payload": json.dumps({"event_id": f"ev-{i}", "model": "fraud"}),
                "source_topic": "evergreen.drift",
                "source_partition": 0,
                "source_offset": 2**40 + i,  # BIGINT
                "received_at": T0 + dt.timedelta(seconds=i),
                "status": "armed" if i == 0 else "queued",
                "run_id": None,
                "as_of": None,
                "settled_at": None,
                "reason": f"event {i}",
            }
            for i in range(2)
        ],
        "drift_runs": [
            {
                "run_id": "manual__old",
                "model": "fraud",
                "as_of": "2026-01-09",
                "claimed_at": T0 - dt.timedelta(days=1),
                "settled_at": T0 - dt.timedelta(hours=20),
                "status": "settled",
            }
        ],
    }


def insert(url: str, values: dict[str, list[dict]]) -> None:
    eng = sa.create_engine(url)
    try:
        with eng.begin() as conn:
            for name, batch in values.items():
                conn.execute(sa.insert(sa.Table(name, sa.MetaData(), autoload_with=conn)), batch)
    finally:
        eng.dispose()


@contextlib.contextmanager
def evergreen_db(url: str) -> Iterator[None]:
    """The settings' evergreen DB is `url` for a moment (what the audit, the watch and the ledger use)."""
    saved = os.environ.get("EVERGREEN_EVERGREEN_DB_URL")
    os.environ["EVERGREEN_EVERGREEN_DB_URL"] = url
    config.reload()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("EVERGREEN_EVERGREEN_DB_URL", None)
        else:
            os.environ["EVERGREEN_EVERGREEN_DB_URL"] = saved
        config.reload()


@contextlib.contextmanager
def newer_code(tmp_path: Path) -> Iterator[str]:
    """The shipped migrations plus a test-only next revision, as a newer checkout would ship them."""
    folder = tmp_path / f"migrations-{uuid.uuid4().hex[:6]}"
    shutil.copytree(Path(str(migrate.MIGRATIONS)), folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "t0002_promotion_note.py").write_text(NEXT_REVISION)
    shipped = migrate.MIGRATIONS
    migrate.MIGRATIONS = folder
    migrate._scripts.cache_clear()
    try:
        yield "t0002"
    finally:
        migrate.MIGRATIONS = shipped
        migrate._scripts.cache_clear()


def one_line_refusal(url: str) -> str:
    with pytest.raises(migrate.SchemaOutdatedError) as caught:
        migrate.check(url)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"evergreen DB {migrate.shown(url)} ")
    return message


# ------------------------------------------------------------------------------------------ tests


def test_the_shipped_head_is_0001_and_found_in_the_package():
    assert migrate.head() == HEAD
    # importlib.resources: the package's own folder (an installed wheel has it too: pyproject package-data).
    assert Path(str(migrate.MIGRATIONS)) == Path(migrate.__file__).parent / "migrations"
    assert (Path(str(migrate.MIGRATIONS)) / "versions" / "0001_initial_tables.py").is_file()


def test_fresh_upgrade_reaches_head_with_the_old_ddls_exact_shape(new_db):
    url, reference = new_db(), new_db()
    assert migrate.current(url) is None
    assert migrate.upgrade(url) == HEAD
    assert migrate.current(url) == HEAD
    assert migrate.check(url) == HEAD
    # Our own version table, never Alembic's default name (Airflow and MLflow use `alembic_version`).
    assert table_names(url) == {*TABLES, migrate.VERSION_TABLE}
    build_before_migrations(reference)
    assert shape(url) == shape(reference)
    # ...and rows of every column type round-trip through it.
    values = sample_rows()
    insert(url, values)
    assert rows(url) == rows_as_stored(values)


def rows_as_stored(values: dict[str, list[dict]]) -> dict[str, list[dict]]:
    keys = {"promotions": "id", "drift_reports": "window_day", "drift_events": "event_id", "drift_runs": "run_id"}
    return {name: sorted(batch, key=lambda r, k=keys[name]: r[k]) for name, batch in values.items()}


def test_check_refuses_an_empty_database_and_nothing_creates_tables_at_run_time(new_db, tmp_path):
    url = new_db()
    message = one_line_refusal(url)
    assert message.endswith(f"is at revision none (empty), code needs {HEAD}: run `evergreen db upgrade`")
    # The run-time paths (audit, drift reports, ledger) refuse with the same line and create nothing.
    from evergreen.events import ledger
    from evergreen.monitoring import report_table
    from evergreen.registry import audit

    with evergreen_db(url):
        for reader in (sql.evergreen_engine, audit.history, report_table.engine_with_table, ledger.pending):
            with pytest.raises(migrate.SchemaOutdatedError, match="run `evergreen db upgrade`"):
                reader()
    assert table_names(url) == set()
    assert migrate.upgrade(url) == HEAD
    with evergreen_db(url):
        assert audit.history() == []  # the same process, once upgraded: the failed check was not cached
        assert ledger.pending() == []


def test_check_of_a_sqlite_file_that_does_not_exist_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-home' / 'evergreen.db'}"
    message = one_line_refusal(url)
    assert "is at revision none (no such file)" in message
    assert migrate.current(url) is None
    assert not (tmp_path / "no-home").exists()
    assert migrate.upgrade(url) == HEAD  # a fresh home: upgrade makes the folder
    assert migrate.check(url) == HEAD


def test_the_message_never_shows_the_password(postgres_server):
    name = f"evergreen_{uuid.uuid4().hex[:10]}"
    postgres_server.createdb(name)
    url = sa.make_url(postgres_server.url(name)).set(password="s3cret-pw").render_as_string(hide_password=False)
    message = one_line_refusal(url)  # trust auth on 127.0.0.1: the password is sent and ignored
    assert "s3cret-pw" not in message
    assert "***" in message


def test_upgrade_twice_is_a_no_op(new_db):
    url = new_db()
    migrate.upgrade(url)
    insert(url, sample_rows())
    before_rows, before_shape = rows(url), shape(url)
    assert migrate.upgrade(url) == HEAD
    assert rows(url) == before_rows
    assert shape(url) == before_shape
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")).scalars().all()
    finally:
        eng.dispose()
    assert versions == [HEAD]


def test_upgrade_adopts_a_database_from_before_migrations_and_keeps_every_row(new_db):
    url, fresh = new_db(), new_db()
    build_before_migrations(url)
    values = sample_rows()
    insert(url, values)
    before = rows(url)
    assert before == rows_as_stored(values)
    message = one_line_refusal(url)
    assert f"is at revision none (tables from before migrations), code needs {HEAD}" in message

    assert migrate.upgrade(url) == HEAD
    assert migrate.current(url) == HEAD
    assert rows(url) == before
    migrate.upgrade(fresh)
    assert shape(url) == shape(fresh)  # adopted and fresh databases are alike for every later migration

    # The code reads and writes the adopted database unchanged.
    from evergreen.events import ledger
    from evergreen.monitoring import report_table
    from evergreen.registry import audit

    with evergreen_db(url):
        assert [r["reason"] for r in audit.history("fraud")] == ["decision 2", "decision 1", "decision 0"]
        assert [r["breached"] for r in report_table.reports("fraud")] == [False, False, True]
        taken = ledger.claim("fraud", "manual__new", "2026-01-12")
        assert sorted(e["event_id"] for e in taken) == ["ev-0", "ev-1"]
        assert ledger.counts("fraud")["consumed"] == 2


def test_upgrade_refuses_a_table_of_another_shape_and_leaves_it_alone(new_db):
    url = new_db()
    eng = sa.create_engine(url)
    try:
        with eng.begin() as conn:  # the last table 0001 meets: the three before it get created, then undone
            conn.execute(sa.text("CREATE TABLE drift_runs (run_id VARCHAR(250) PRIMARY KEY, note TEXT)"))
            conn.execute(sa.text("INSERT INTO drift_runs (run_id, note) VALUES (:r, :n)"), {"r": "x", "n": "kept"})
    finally:
        eng.dispose()
    with pytest.raises(migrate.MigrationError, match="table drift_runs exists but is not the pre-migration one"):
        migrate.upgrade(url)
    assert migrate.current(url) is None
    assert table_names(url) == {"drift_runs"}  # all or nothing: no half-made schema, no version table
    # The command says so in one line (no traceback) and exits 2.
    proc = _cli("upgrade", "--url", url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert out == ""
    assert err.strip().count("\n") == 0
    assert err.startswith(f"evergreen DB {migrate.shown(url)} not upgraded, nothing changed: table drift_runs exists")


def test_outdated_database_is_refused_until_upgraded_and_a_column_change_has_a_path(new_db, tmp_path):
    url = new_db()
    migrate.upgrade(url)
    insert(url, sample_rows())
    before = rows(url)
    with newer_code(tmp_path) as newer:
        message = one_line_refusal(url)
        assert message.endswith(f"is at revision {HEAD}, code needs {newer}: run `evergreen db upgrade`")
        with evergreen_db(url), pytest.raises(migrate.SchemaOutdatedError, match=f"code needs {newer}"):
            sql.evergreen_engine()
        assert migrate.upgrade(url) == newer
        assert migrate.check(url) == newer
    after = rows(url)
    assert [{k: v for k, v in r.items() if k != "note"} for r in after["promotions"]] == before["promotions"]
    assert all(r["note"] is None for r in after["promotions"])
    assert {k: after[k] for k in TABLES if k != "promotions"} == {k: before[k] for k in TABLES if k != "promotions"}


def test_a_database_migrated_by_newer_code_is_refused_not_touched(new_db, tmp_path):
    url = new_db()
    with newer_code(tmp_path) as newer:
        migrate.upgrade(url)
    message = one_line_refusal(url)
    assert f"is at revision {newer}, which this code does not know (it needs {HEAD})" in message
    with pytest.raises(migrate.SchemaOutdatedError, match="refusing to touch it"):
        migrate.upgrade(url)
    assert migrate.current(url) == newer
    assert "note" in {c for c, _, _ in shape(url)["promotions"]["columns"]}  # still the newer shape


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evergreen.cli", "db", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_current_and_two_concurrent_upgrades(new_db):
    url = new_db()
    proc = _cli("current", "--url", url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert json.loads(out) == {"db": migrate.shown(url), "current": None, "head": HEAD, "up_to_date": False}

    # Two setups at once (two init containers, a demo and a test): one waits for the other's lock.
    procs = [_cli("upgrade", "--url", url) for _ in range(2)]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    for (out, err), code in results:
        assert code == 0, err[-3000:]
        assert json.loads(out)["to"] == HEAD
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")).scalars().all() == [HEAD]
    finally:
        eng.dispose()
    assert table_names(url) == {*TABLES, migrate.VERSION_TABLE}

    proc = _cli("current", "--url", url)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["up_to_date"] is True
