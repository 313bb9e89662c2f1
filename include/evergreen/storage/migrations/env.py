"""Alembic's entry point for Evergreen's own database, run by `evergreen.storage.migrate` (no alembic.ini).

`migrate` hands over an open connection (`config.attributes["connection"]`) and the version table's name, so
the migrations run on the project's one engine per URL, inside the caller's transaction (and, on
PostgreSQL, under its lock). No offline (SQL script) mode: nobody applies these by hand.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Evergreen's migrations through evergreen.storage.migrate (`evergreen db upgrade`)")

context.configure(
    connection=connection,
    target_metadata=None,  # no autogenerate: every migration is written by hand, for SQLite and PostgreSQL
    version_table=config.attributes["version_table"],
)
with context.begin_transaction():
    context.run_migrations()
