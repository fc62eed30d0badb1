"""The SQL engine: URL mapping, engine construction, migrations and the readiness ping."""

import select
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_CACHE_KIB = 64 * 1024
_SQLITE_MMAP_BYTES = 256 * 1024 * 1024
ALIVE_WINDOW = 0.5  # seconds: a pooled connection used more recently than this is not pinged on checkout
_USED_AT = "firebreak_used_at"  # the connection record's info key: when it was last opened or checked in

# Errors of the connection, not of a statement: every statement on it would fail alike. DATABASE_ERRORS are the
# database's own (refused, ended, the pool exhausted); CONNECTION_ERRORS adds the socket's.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (*DATABASE_ERRORS, OSError)

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


def create_engine(url: str, pool_size: int = 20, alive_window: float = ALIVE_WINDOW) -> AsyncEngine:
    """An async engine. SQLite gets foreign keys and a busy timeout.

    PostgreSQL keeps `pool_size` connections open (at least the Slack requests admitted at once, plus the
    workers: SQLAlchemy's default of 5 closed and reopened a connection for most sessions under load), and
    a connection that sat in the pool longer than `alive_window` seconds is pinged on checkout and replaced
    if the server has ended it (`_ping_when_idle`)."""
    url = async_url(url)
    if not url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10)
        _ping_when_idle(engine, alive_window)
        return engine
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def _ping_when_idle(engine: AsyncEngine, window: float) -> None:
    """Check a pooled connection on checkout without a round trip when it was used within `window` seconds,
    as HikariCP does (its `aliveBypassWindowMs`, 500 ms): a ping on every checkout was a round trip per
    transaction, about a tenth of a slash command's CPU. Within the window the socket is polled: a server
    that ended the connection (a restart, a failover, `pg_terminate_backend`) has sent its goodbye, so the
    connection is readable while nothing is asked of it, and only then is it pinged. Past the window it is
    always pinged. A connection that fails its ping is replaced before anything runs on it. What is left is
    a backend ending at the very moment of the checkout: its statement fails as a disconnect, and SQLAlchemy
    then replaces every connection the pool opened before it."""
    sync = engine.sync_engine

    def used(dbapi_connection: Any, record: Any) -> None:
        record.info[_USED_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        recent = time.monotonic() - record.info.get(_USED_AT, 0.0) <= window
        if recent and not _readable(dbapi_connection.driver_connection):
            return
        try:
            sync.dialect.do_ping(dbapi_connection)
        except psycopg.Error as error:  # the pool opens a fresh connection instead (or raises its error)
            raise DisconnectionError(f"pooled connection did not answer its ping: {error}") from error

    event.listen(sync, "connect", used)
    event.listen(sync, "checkin", used)
    event.listen(sync, "checkout", checkout)


def _readable(connection: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server sent something to an idle connection (its goodbye, when it ended it)."""
    try:
        socket = connection.pgconn.socket
    except psycopg.Error:  # closed on our side
        return True
    poller = select.poll()  # not select(): it refuses descriptors past 1,023, which a busy process reaches
    poller.register(socket, select.POLLIN)
    return bool(poller.poll(0))  # readable, or hung up or in error (always reported)


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
