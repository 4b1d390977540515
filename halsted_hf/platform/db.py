"""Engines, sessions and schema migrations.

`init_db(url)` is what every process (dashboard, worker, tests) calls at start-up: it creates the
engine with the settings each back end needs and runs Alembic's `upgrade head` programmatically,
so a fresh data directory and an old database both end up on the current schema.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while a worker writes progress; foreign keys make
    # ON DELETE CASCADE real; the busy timeout makes concurrent writers wait instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt; far fewer fsyncs
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, waiting up to busy_timeout for it. With a
    # plain (deferred) BEGIN, a transaction that reads then writes (claim, complete, cancel) fails
    # at once with "database is locked" when another process wrote in between, since SQLite
    # cannot upgrade a stale read snapshot; the busy timeout does not help there.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite files get WAL, foreign keys and a 30 s busy timeout, and
    their folder is created; other back ends get connection health checks."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: Streamlit serves one session from several threads.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character; URLs may contain it (encoded passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise `upgrade head` between processes starting together (the dashboard and a worker
    from `halsted serve`): a file lock beside a SQLite file, an advisory lock on PostgreSQL."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        try:
            import fcntl
        except ImportError:  # Windows: no flock; start-up races there are the user's to avoid
            yield
            return
        lock_path = str(Path(engine.url.database).expanduser()) + ".migrate.lock"
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif backend == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(74151)")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(74151)")
                conn.commit()
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision` on `engine`'s database."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _migration_lock(engine):
        with engine.begin() as connection:
            config.attributes["connection"] = connection  # env.py reuses it: no second engine
            command.upgrade(config, revision)


def init_db(url_or_engine: Union[str, Engine]) -> Engine:
    """Engine for the URL with the schema at the newest migration. Safe to call from several
    processes at once and on every start-up."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    upgrade(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: records built after a commit must not reload lazily.
    return sessionmaker(engine, expire_on_commit=False)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def database_path(url: str) -> str | None:
    """The SQLite file behind `url`, else None (used for messages)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return os.path.abspath(os.path.expanduser(parsed.database))
    return None
