"""The SQL engine: URL mapping, engine construction, migrations and the readiness ping."""

import select
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_CACHE_KIB = 64 * 1024
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024

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

    A pooled PostgreSQL connection the server (or the network) ended is replaced on checkout, not failed on
    (`_alive`), and the pool keeps `pool_size` of them open (at least the Slack requests admitted at once,
    plus the workers): SQLAlchemy's default of 5 closed and reopened a connection for most sessions under
    load."""
    url = async_url(url)
    if not url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10)
        event.listen(engine.sync_engine, "checkout", _alive)
        return engine
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def _alive(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Refuse a pooled connection whose socket has something to read: an idle PostgreSQL connection is sent
    nothing, so that is the server's goodbye (a terminated backend, a restart) or a reset from the network;
    the pool then opens a fresh one. One poll of the socket, where `pool_pre_ping` cost a round trip per
    checkout. (A connection that dies after this check fails its statement, and the pool is invalidated.)"""
    connection = record.driver_connection
    assert isinstance(connection, psycopg.AsyncConnection)
    try:
        socket = connection.pgconn.socket
    except psycopg.OperationalError as error:  # libpq has closed it already
        raise DisconnectionError("the pooled connection is lost") from error
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    ready = poller.poll(0)
    if ready:
        raise DisconnectionError("the server ended the pooled connection")


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
