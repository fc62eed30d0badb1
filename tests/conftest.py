"""Fixtures shared by the whole suite: real Redis and real SQL (SQLite and PostgreSQL), found or started once."""

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
import sqlalchemy
from psycopg import sql
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.incident import Incident
from domain.severity import Severity
from domain.status import Status
from storage.db import create_engine, migrate, sync_url
from storage.incidents import IncidentStore
from storage.keys import Keys
from storage.timeline import TimelineStore
from tests.services import ServiceMissing, Services, open_services

_SERVICES = pytest.StashKey[Services]()
_STOP = pytest.StashKey[ExitStack]()
_KEEP_TABLES = {"alembic_version", "sqlite_sequence"}

_DEFAULT_INCIDENT = Incident(
    number=0,
    title="Checkout is down",
    severity=Severity.SEV2,
    status=Status.DECLARED,
    declared_by="U0DECLARER",
    declared_at=datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC),
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Find or start Redis and PostgreSQL once, before the header names them."""
    stack = ExitStack()
    try:
        session.config.stash[_SERVICES] = open_services(os.environ, stack)
    except ServiceMissing as missing:
        stack.close()
        raise pytest.UsageError(str(missing)) from None
    session.config.stash[_STOP] = stack


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _STOP in session.config.stash:
        session.config.stash[_STOP].close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return config.stash[_SERVICES].describe() if _SERVICES in config.stash else []


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Services:
    """The Redis, PostgreSQL and Alertmanager of this run."""
    return request.config.stash[_SERVICES]


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis.url


@pytest.fixture
def keys() -> Keys:
    """Key names under a prefix no other test uses."""
    return Keys(prefix=f"firebreak-test:{uuid4().hex}:")


@pytest.fixture
async def redis(redis_url: str, keys: Keys) -> AsyncIterator[Redis]:
    """A client for the test Redis server; deletes this test's keys afterwards (never FLUSHDB)."""
    client = Redis.from_url(redis_url)
    try:
        await client.ping()  # Redis down: the test errors rather than skips
        yield client
        stale = [key async for key in client.scan_iter(match=f"{keys.prefix}*", count=1000)]
        if stale:
            await client.delete(*stale)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'firebreak.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def _postgresql_url(services: Services) -> Iterator[str]:
    """This run's own database on the test server, dropped at the end."""
    server, name = services.postgres.url, f"firebreak_test_{uuid4().hex[:10]}"
    _run_on_server(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = sqlalchemy.make_url(server).set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        _run_on_server(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database, emptied (and its incident numbers reset) for this test."""
    url: str = request.getfixturevalue(f"_{request.param}_url")
    _empty(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def incident_store(engine: AsyncEngine) -> IncidentStore:
    return IncidentStore(engine)


@pytest.fixture
def timeline_store(redis: Redis, keys: Keys) -> TimelineStore:
    return TimelineStore(redis, keys)


@pytest.fixture
def make_incident() -> Callable[..., Incident]:
    """`make_incident(**overrides)`: a freshly declared SEV-2 incident, not yet stored (number 0)."""

    def make(**overrides: Any) -> Incident:
        return replace(_DEFAULT_INCIDENT, **overrides)

    return make


def _run_on_server(server: str, statement: sql.Composed) -> None:
    """CREATE/DROP DATABASE cannot run in a transaction, so use an autocommit connection."""
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(statement)


def _empty(url: str) -> None:
    """Delete every row and restart the id sequences, keeping the schema and its alembic version."""
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}  # SQLite: wait out a lingering writer
    engine = sqlalchemy.create_engine(sync_url(url), poolclass=sqlalchemy.NullPool, connect_args=connect_args)
    try:
        with engine.begin() as connection:
            quote = engine.dialect.identifier_preparer.quote
            tables = [quote(t) for t in sqlalchemy.inspect(connection).get_table_names() if t not in _KEEP_TABLES]
            if engine.dialect.name == "postgresql":
                connection.execute(sqlalchemy.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return
            for table in tables:
                connection.execute(sqlalchemy.text(f"DELETE FROM {table}"))
            connection.execute(sqlalchemy.text("DELETE FROM sqlite_sequence"))
    finally:
        engine.dispose()
