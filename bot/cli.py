"""`firebreak [run|migrate|check-config|alerts retry-dead]`: the console script; `python -m bot` is `firebreak run`."""

import argparse
import asyncio
import sys

import structlog
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from bot.embedded_redis import EmbeddedRedis
from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import MANIFEST_HINT, Settings, SettingsError, load_settings
from domain.paging_config import ConfigError, OnCall
from storage import Keys, migrate
from storage.alerts import AlertStore
from storage.paging_config_file import read_oncall

EXIT_BAD_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firebreak", description="Self-hosted incident-response bot for Slack")
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "migrate", "check-config", "alerts"], help="default: run"
    )
    parser.add_argument("action", nargs="?", choices=["retry-dead"], help="with `alerts`: re-queue dead letters")
    args = parser.parse_args(argv)
    if args.command == "alerts" and args.action != "retry-dead":
        parser.error("`alerts` takes one action: retry-dead")
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        oncall = load_oncall(settings)
    except ConfigError as error:
        for line in error.errors:
            print(f"firebreak: {line}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        paging = f"paging per {settings.oncall_config}" if oncall else f"no {settings.oncall_config}: paging is off"
        print(f"firebreak: configuration is valid ({paging})")
        return 0
    configure_logging(settings)
    try:
        migrate(settings.database_url)
    except SQLAlchemyError as error:
        print(f"firebreak: cannot migrate DATABASE_URL: {error.__class__.__name__}: {error.args[0]}", file=sys.stderr)
        return 1
    if args.command == "run":
        _serve(settings, oncall)
    if args.command == "alerts":
        requeued = asyncio.run(retry_dead(settings))
        print(f"firebreak: {requeued} dead-lettered alert notification(s) queued again")
    return 0


async def retry_dead(settings: Settings) -> int:
    """Queue every dead-lettered alert notification again; how many."""
    embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
    url = await asyncio.to_thread(embedded.start) if embedded else str(settings.redis_url)
    redis = Redis.from_url(url)
    try:
        return await AlertStore(redis, Keys(settings.redis_prefix)).retry_dead()
    finally:
        await redis.aclose()
        if embedded:
            await asyncio.to_thread(embedded.stop)


def load_oncall(settings: Settings) -> OnCall | None:
    """The on-call config; the default file may be absent (no paging), an explicitly set one may not."""
    if not settings.oncall_config.exists() and "oncall_config" not in settings.model_fields_set:
        return None
    return read_oncall(settings.oncall_config)


def _serve(settings: Settings, oncall: OnCall | None) -> None:
    missing = settings.missing_slack()
    if missing:
        print(
            f"firebreak: Slack is not connected: {', '.join(missing)} unset; {MANIFEST_HINT}. "
            "Health, the API and webhooks work meanwhile.",
            file=sys.stderr,
        )
    mode = "socket mode" if settings.socket_mode else f"HTTP mode on port {settings.port}"
    structlog.get_logger().info("firebreak_starting", mode=mode)
    if oncall is None:
        structlog.get_logger().warning("paging_off", hint=f"write {settings.oncall_config} (see oncall.example.yaml)")
    web.run_app(
        build_server(settings, oncall=oncall), host=settings.host, port=settings.port, print=None, access_log=None
    )
