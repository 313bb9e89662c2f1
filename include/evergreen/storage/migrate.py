"""Versioned migrations of Evergreen's own database (promotions, drift_reports, drift_events, drift_runs).

The scripts ship inside the package (`evergreen/storage/migrations/`: env.py and versions/), found through
importlib.resources, never through a repo checkout; Alembic is configured here in code, so no alembic.ini is
needed. The revision lives in a table of our own name, `evergreen_schema_version`, so it never collides with
Airflow's or MLflow's `alembic_version` when they share a PostgreSQL database.

Migrations are applied once, by setup (`evergreen db upgrade`: `make db-upgrade`, the demo, the compose
stack's `evergreen-db-init`, the test fixtures), never at run time: `evergreen.storage.sql.evergreen_engine()`
only calls `check`, once per URL per process, which fails with one line naming the command to run.

A database made by the DDL of before migrations (the tables, no version table) is adopted by revision 0001,
rows kept; see versions/0001_initial_tables.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from evergreen.config import settings
from evergreen.storage.sql import engine, exclusive_transaction

log = logging.getLogger(__name__)

VERSION_TABLE = "evergreen_schema_version"
# What the IF NOT EXISTS DDL of before migrations created (a database with these and no version table is
# from then, not empty).
PRE_MIGRATION_TABLES = ("promotions", "drift_reports", "drift_events", "drift_runs")
UPGRADE_HINT = "run `evergreen db upgrade`"
# The scripts as package data (env.py, versions/): wherever the package is installed, never the repo checkout.
MIGRATIONS = resources.files("evergreen.storage") / "migrations"


class SchemaOutdatedError(RuntimeError):
    """The evergreen DB is not at the revision this code needs; the message is one line that names the fix."""


class MigrationError(RuntimeError):
    """A migration refused or failed; its transaction was rolled back, so the database is as it was."""


@contextmanager
def _alembic(connection: sa.Connection | None = None) -> Iterator[Config]:
    # as_file: Alembic reads scripts from a folder; for an installed package that is the package's own.
    with resources.as_file(MIGRATIONS) as folder:
        cfg = Config()
        cfg.set_main_option("script_location", str(folder))
        cfg.attributes.update(connection=connection, version_table=VERSION_TABLE)
        yield cfg


@cache
def _scripts() -> tuple[str, frozenset[str]]:
    """(the head revision, every revision the code knows)."""
    with _alembic() as cfg:
        scripts = ScriptDirectory.from_config(cfg)
        heads = scripts.get_heads()
        known = frozenset(s.revision for s in scripts.walk_revisions())
    if len(heads) != 1:
        raise RuntimeError(f"evergreen migrations have {len(heads)} heads {sorted(heads)}: merge them into one")
    return heads[0], known


def head() -> str:
    """The revision this code needs."""
    return _scripts()[0]


def _url(url: str | None) -> str:
    return url or settings().evergreen_db_url


def shown(url: str) -> str:
    """The URL for messages and logs: never the password."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def current(url: str | None = None) -> str | None:
    """The revision the database is at; None when it has no version table (empty, or from before migrations).

    A SQLite file that does not exist is not created by asking.
    """
    url = _url(url)
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None
    with engine(url).connect() as conn:
        return _revision(conn)


def _state(url: str, have: str | None) -> str:
    """How the database stands, for the one-line error."""
    if have is not None:
        return f"is at revision {have}"
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return "is at revision none (no such file)"
    with engine(url).connect() as conn:
        inspector = sa.inspect(conn)
        old = [t for t in PRE_MIGRATION_TABLES if inspector.has_table(t)]
    return "is at revision none (tables from before migrations)" if old else "is at revision none (empty)"


def check(url: str | None = None) -> str:
    """The head revision if the database is at it; else raise SchemaOutdatedError with a one-line message."""
    url = _url(url)
    need, known = _scripts()
    have = current(url)
    if have == need:
        return need
    if have is not None and have not in known:
        raise SchemaOutdatedError(
            f"evergreen DB {shown(url)} is at revision {have}, which this code does not know (it needs {need}): "
            "the database was migrated by newer code; run that code, or a matching evergreen package"
        )
    raise SchemaOutdatedError(f"evergreen DB {shown(url)} {_state(url, have)}, code needs {need}: {UPGRADE_HINT}")


@contextmanager
def _exclusive(eng: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction that no other upgrade of the same database runs beside.

    Two processes may upgrade at once (two init containers, a test and a demo): the second waits, then finds
    the database at head and does nothing, instead of failing on a table the first just created.
    """
    with exclusive_transaction(eng, "evergreen.schema") as conn:
        yield conn


def upgrade(url: str | None = None) -> str:
    """Apply every pending migration (none if the database is at head); returns the head revision."""
    url = _url(url)
    need, known = _scripts()
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)  # a fresh EVERGREEN_HOME
    try:
        with _exclusive(engine(url)) as conn:
            have = _revision(conn)
            if have is not None and have not in known:
                raise SchemaOutdatedError(
                    f"evergreen DB {shown(url)} is at revision {have}, which this code does not know "
                    f"(head {need}): it was migrated by newer code; refusing to touch it"
                )
            if have != need:
                with _alembic(conn) as cfg:
                    command.upgrade(cfg, "head")
                log.info("evergreen DB %s upgraded from revision %s to %s", shown(url), have, need)
    except RuntimeError as e:  # a migration's own refusal (e.g. 0001 meeting a table of another shape)
        if isinstance(e, SchemaOutdatedError):
            raise
        raise MigrationError(f"evergreen DB {shown(url)} not upgraded, nothing changed: {e}") from e
    return need
