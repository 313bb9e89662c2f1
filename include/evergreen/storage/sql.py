"""SQLAlchemy access to the project's tables: one engine per URL, tables reflected, parameterized writes.

The project's own tables (promotions, drift reports, the event ledger) are shaped by versioned migrations
(`evergreen.storage.migrate`, scripts in `migrations/versions/`), applied once by setup; this module
reflects them, so the code that reads and writes never restates a column list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources.abc import Traversable

import sqlalchemy as sa

from evergreen.config import settings


def engine(url: str | None = None) -> sa.Engine:
    """An engine for `url` (default: the source DB of the *current* settings), one per URL per process.

    The URL is resolved before the cache: caching on `None` pinned the first caller's database and sent
    later writes to it after the settings changed.
    """
    return _engine(url or settings().source_db_url)


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, future=True)


def evergreen_engine() -> sa.Engine:
    """The project's own database (audit trail, drift reports, event ledger), checked to be at the code's
    migration head; raises `migrate.SchemaOutdatedError` (one line: run `evergreen db upgrade`) if not."""
    eng = engine(settings().evergreen_db_url)
    require_schema(eng)
    return eng


def require_schema(eng: sa.Engine) -> None:
    """Fail unless `eng`'s database is at the migration head: checked once per URL per process, never
    migrated here (setup applies migrations: `evergreen db upgrade`)."""
    _schema_checked(eng.url.render_as_string(hide_password=False))


@lru_cache(maxsize=32)
def _schema_checked(url: str) -> None:
    # A failed check raises, so it is not cached: the next call looks again (after an upgrade, it passes).
    from evergreen.storage.migrate import check  # Alembic loads only where the project's DB is used

    check(url)


def ddl_statements(path: Traversable) -> list[str]:
    """Split a DDL file into statements (our DDL has no semicolons inside literals)."""
    body = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def run_ddl(eng: sa.Engine, path: Traversable) -> None:
    """Run a plain DDL file in one transaction (the emulated source tables: `CREATE ... IF NOT EXISTS`).

    The project's own tables never come this way: they are migrated (`evergreen.storage.migrate`).
    """
    with eng.begin() as conn:
        for stmt in ddl_statements(path):
            conn.execute(sa.text(stmt))


def table(eng: sa.Engine, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=eng)


def replace_rows(eng: sa.Engine, name: str, rows: Iterable[Mapping]) -> int:
    """Replace a table's contents in one transaction (parameterized executemany, no string SQL)."""
    tbl = table(eng, name)
    rows = list(rows)
    with eng.begin() as conn:
        conn.execute(tbl.delete())
        if rows:
            conn.execute(tbl.insert(), rows)
    return len(rows)


@contextmanager
def exclusive_transaction(eng: sa.Engine, name: str) -> Iterator[sa.Connection]:
    """One transaction that holds the lock called `name` until it commits or rolls back.

    SQLite: `BEGIN IMMEDIATE` takes the write lock now, not at the first write, so a second process waits here
    (busy timeout) instead of reading the same state and acting on it too; SQLite's DDL is transactional.
    PostgreSQL: a transaction-scoped advisory lock on a stable 64-bit key of `name` (Python's hash() is salted
    per process). Other databases: a plain transaction.
    """
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
    else:
        with eng.begin() as conn:
            if eng.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield conn
