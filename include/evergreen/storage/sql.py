"""SQLAlchemy access to the project's tables.

Table shapes are defined once, as DDL in `sql/` (portable across SQLite and PostgreSQL); this module
applies that DDL and reflects the tables, so Python never restates a column list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import sqlalchemy as sa

from evergreen.config import settings

SQL_DIR = resources.files("evergreen.storage") / "ddl"


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
    """The project's own database (audit trail, reports), with its tables in place."""
    eng = engine(settings().evergreen_db_url)
    apply_ddl(eng, "evergreen")
    return eng


def ddl_statements(path: Traversable) -> list[str]:
    """Split a DDL file into statements (our DDL has no semicolons inside literals)."""
    body = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def apply_ddl(eng: sa.Engine, database: str = "source") -> None:
    """Create every table of `sql/<database>/*.sql` that does not exist yet (idempotent).

    Two databases: `source` (the operational tables the model reads) and `evergreen` (the project's own:
    promotion audit, drift reports, event ledger). They are separate settings, usually separate DBs.
    """
    files = sorted((f for f in (SQL_DIR / database).iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    if not files:
        raise FileNotFoundError(f"no DDL in {SQL_DIR / database}")
    with eng.begin() as conn:
        for path in files:
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
