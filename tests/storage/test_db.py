"""URL mapping, engine construction, migrations and the readiness ping."""

import asyncio
import os
import resource
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import storage
from storage.db import async_url, create_engine, migrate, ping, sync_url
from storage.effects import EffectRow
from storage.incident_rows import IncidentRow
from storage.journal import TimelineOutboxRow
from storage.overrides import OverrideRow
from storage.page_records import PageRow
from storage.postmortems import ActionItemRow, PostmortemRow, RevisionRow, SectionRow


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/firebreak.db", "sqlite+aiosqlite:///var/firebreak.db"),
        ("sqlite:////srv/firebreak.db", "sqlite+aiosqlite:////srv/firebreak.db"),
        ("sqlite+aiosqlite:///var/firebreak.db", "sqlite+aiosqlite:///var/firebreak.db"),
        ("postgresql://u:p@db:5432/firebreak", "postgresql+psycopg://u:p@db:5432/firebreak"),
        ("postgres://u:p@db/firebreak?sslmode=require", "postgresql+psycopg://u:p@db/firebreak?sslmode=require"),
        ("postgresql+psycopg://u@db/firebreak", "postgresql+psycopg://u@db/firebreak"),
    ],
)
def test_async_url(url: str, expected: str):
    """Plain URLs get the async driver; URLs that already name it are unchanged."""
    assert async_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/firebreak.db", "sqlite:///var/firebreak.db"),
        ("sqlite+aiosqlite:///var/firebreak.db", "sqlite:///var/firebreak.db"),
        ("postgresql://u:p@db:5432/firebreak", "postgresql+psycopg://u:p@db:5432/firebreak"),
        ("postgres://u:p@db/firebreak", "postgresql+psycopg://u:p@db/firebreak"),
        ("postgresql+psycopg://u@db/firebreak", "postgresql+psycopg://u@db/firebreak"),
    ],
)
def test_sync_url(url: str, expected: str):
    """Alembic gets pysqlite or psycopg 3 (sync)."""
    assert sync_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["mysql://u@db/firebreak", "postgresql+asyncpg://u@db/x", "sqlite://", "sqlite:relative.db", "firebreak.db", ""],
)
def test_other_urls_raise_value_error(url: str):
    """Anything but a sqlite:/// or postgresql:// URL is refused with a message naming DATABASE_URL."""
    with pytest.raises(ValueError, match=r"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got"):
        async_url(url)
    with pytest.raises(ValueError, match="DATABASE_URL"):
        sync_url(url)


def test_value_error_hides_the_password():
    """The error message shows the URL without its password."""
    with pytest.raises(ValueError, match="DATABASE_URL") as raised:
        async_url("mysql://admin:hunter2@db/firebreak")
    assert "hunter2" not in str(raised.value)


def test_migrate_twice_is_fine(database_url: str):
    """Migrating an up-to-date database changes nothing and raises nothing."""
    migrate(database_url)
    migrate(database_url)
    engine = sqlalchemy.create_engine(sync_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == _head()
    finally:
        engine.dispose()


def test_migrate_creates_the_sqlite_directory(tmp_path: Path):
    """A SQLite file in a directory that does not exist yet gets the directory and the schema."""
    path = tmp_path / "var" / "nested" / "firebreak.db"
    migrate(f"sqlite:///{path}")
    engine = sqlalchemy.create_engine(f"sqlite:///{path}", poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            assert "incidents" in sqlalchemy.inspect(connection).get_table_names()
    finally:
        engine.dispose()


def test_migrations_match_the_model(database_url: str):
    """The hand-written migrations create exactly the tables the models describe."""
    metadata = sqlalchemy.MetaData()
    IncidentRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    OverrideRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    TimelineOutboxRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    PageRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    EffectRow.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    for row in (PostmortemRow, SectionRow, ActionItemRow, RevisionRow):
        row.__table__.to_metadata(metadata)  # type: ignore[union-attr]
    engine = sqlalchemy.create_engine(sync_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []


async def test_ping_succeeds_on_a_reachable_database(engine: AsyncEngine):
    """ping returns quietly when the database answers, and gives its connection back to the pool."""
    await ping(engine)
    assert isinstance(engine.pool, sqlalchemy.pool.QueuePool)
    assert engine.pool.checkedout() == 0


async def test_ping_raises_when_the_database_is_unreachable():
    """ping raises when nothing answers at the database's address."""
    engine = create_engine("postgresql://firebreak@127.0.0.1:1/firebreak")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            await ping(engine)
    finally:
        await engine.dispose()


async def _backend(connection: AsyncConnection) -> int:
    return int((await connection.execute(sqlalchemy.text("SELECT pg_backend_pid()"))).scalar_one())


async def _end_backends(database_url: str, pids: list[int]) -> None:
    """End these backends from a connection of another engine, and wait until they are gone."""
    killer = create_engine(database_url)
    try:
        async with killer.connect() as connection:
            for pid in pids:
                await connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            gone = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)")
            for _ in range(200):
                if not (await connection.execute(gone, {"pids": pids})).scalar_one():
                    return
                await asyncio.sleep(0.01)
        raise AssertionError(f"backends {pids} did not end")
    finally:
        await killer.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(("window", "idle"), [(0.05, 0.1), (60, 0.0)], ids=["idle-past-the-window", "used-just-now"])
async def test_a_pooled_connection_the_server_ended_is_replaced_on_checkout(
    database_url: str, window: float, idle: float
):
    """PostgreSQL ends a pooled connection (a restart, a failover, pg_terminate_backend). Idle past the alive
    window it is pinged on checkout; used just now, its socket holds the server's goodbye, so it is pinged
    too. Either way it is replaced and the statement runs on a fresh connection."""
    engine = create_engine(database_url, alive_window=window)
    try:
        async with engine.connect() as connection:
            first = await _backend(connection)
        await _end_backends(database_url, [first])
        await asyncio.sleep(idle)
        async with engine.connect() as connection:
            again = await _backend(connection)
    finally:
        await engine.dispose()
    assert again != first


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_live_connection_used_within_the_alive_window_is_checked_out_without_a_round_trip(
    database_url: str,
):
    """Within the window the checkout asks the server nothing (its backend's last statement is still the
    pool's ROLLBACK of the checkin); past it, the checkout pings."""
    engine, observer = create_engine(database_url, alive_window=0.3), create_engine(database_url)
    last = sqlalchemy.text("SELECT query FROM pg_stat_activity WHERE pid = :pid")
    seen = []
    try:
        for pause in (0.0, 0.5):
            async with engine.connect() as connection:
                pid = await _backend(connection)
            await asyncio.sleep(pause)
            async with engine.connect(), observer.connect() as watching:  # the same pooled connection again
                seen.append((await watching.execute(last, {"pid": pid})).scalar_one())
    finally:
        await engine.dispose()
        await observer.dispose()
    assert seen == ["ROLLBACK", ";"]  # ";": SQLAlchemy's ping on PostgreSQL


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_connection_on_a_descriptor_past_1023_is_checked_out(database_url: str):
    """The checkout's socket check works for any descriptor (select() refuses those past 1,023, which a busy
    process reaches): with 1,100 descriptors taken first, a connection used just now is checked out again."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    taken = [os.dup(0) for _ in range(1100)]
    engine = create_engine(database_url, alive_window=60)
    try:
        async with engine.connect() as connection:
            first = await _backend(connection)
        async with engine.connect() as connection:
            again = await _backend(connection)
    finally:
        await engine.dispose()
        for descriptor in taken:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert again == first


async def test_sqlite_engine_enforces_foreign_keys(tmp_path: Path):
    """SQLite connections from create_engine have foreign keys on and a busy timeout set."""
    engine = create_engine(f"sqlite:///{tmp_path / 'firebreak.db'}")
    try:
        async with engine.connect() as connection:
            foreign_keys = (await connection.execute(sqlalchemy.text("PRAGMA foreign_keys"))).scalar_one()
            busy_timeout = (await connection.execute(sqlalchemy.text("PRAGMA busy_timeout"))).scalar_one()
    finally:
        await engine.dispose()
    assert (foreign_keys, busy_timeout) == (1, 5000)


def _head() -> str:
    """The newest migration in storage/migrations/versions."""
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
