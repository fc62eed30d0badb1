"""The SQL engine: URL mapping, engine construction, migrations and the readiness ping."""

from pathlib import Path
from typing import Any

import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_CACHE_KIB = 64 * 1024
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024

# Errors of the connection, not of a statement: every statement on it would fail alike.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout, OSError)

# scheme as written -> (async driver, sync driver)
_SCHEMES = {
    "sqlite": ("sqlite+aiosqlite", "sqlite"),
    "sqlite+aiosqlite": ("sqlite+aiosqlite", "sqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
    "postgres": ("postgresql+psycopg", "postgresql+psycopg"),
    "postgresql+psycopg": ("postgresql+psycopg", "postgresql+psycopg"),
}


def async_url(url: str) -> str:
    """The URL for the async engine: aiosqlite for SQLite, psycopg 3 for PostgreSQL."""
    scheme, rest = _split(url)
    return f"{_SCHEMES[scheme][0]}://{rest}"


def sync_url(url: str) -> str:
    """The URL for alembic, which runs synchronously: pysqlite or psycopg 3."""
    scheme, rest = _split(url)
    return f"{_SCHEMES[scheme][1]}://{rest}"


def create_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """An async engine. SQLite gets foreign keys and a busy timeout.

    PostgreSQL connections are pinged on checkout (a connection the server ended is replaced, not failed
    on: a poll of its socket instead missed a backend terminated just before the checkout, whose goodbye had
    not arrived yet), and the pool keeps `pool_size` of them open (at least the Slack requests admitted at
    once, plus the workers): SQLAlchemy's default of 5 closed and reopened a connection for most sessions
    under load."""
    url = async_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def migrate(url: str) -> None:
    """Upgrade the database to the newest schema. Synchronous: run it before the event loop serves."""
    url = sync_url(url)
    database = make_url(url).database
    if url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The engine for a statement that is a transaction on its own (a read, a write of one statement): on
    PostgreSQL it runs in autocommit, so the statement is its one round trip (no BEGIN before it, no COMMIT
    or ROLLBACK after it). On SQLite it is the engine itself, which begins no transaction for a SELECT: a
    write there still goes in `begin()`, which on PostgreSQL costs nothing in autocommit. The pool is the
    engine's own."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


async def ping(engine: AsyncEngine) -> None:
    """Run `SELECT 1`; raises if the database cannot be reached."""
    async with engine.connect() as connection:
        await connection.execute(sqlalchemy.text("SELECT 1"))


def _split(url: str) -> tuple[str, str]:
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _SCHEMES or (scheme.startswith("sqlite") and not rest.startswith("/")):
        raise ValueError(f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {_redacted(url)}")
    return scheme, rest


def _redacted(url: str) -> str:
    """The URL without its password, fit for an error message."""
    try:
        return repr(make_url(url).render_as_string(hide_password=True))
    except ArgumentError:
        return repr(url.partition("://")[0] + "://…")


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")  # the metrics' covering indexes stay in memory
    cursor.execute(f"PRAGMA mmap_size={_SQLITE_MMAP_BYTES}")
    cursor.close()
