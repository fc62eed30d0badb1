"""`firebreak [run|migrate|check-config]`: the console script; `python -m bot` is `firebreak run`."""

import argparse
import sys

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import MANIFEST_HINT, Settings, SettingsError, load_settings
from storage import migrate

EXIT_BAD_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firebreak", description="Self-hosted incident-response bot for Slack")
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "migrate", "check-config"], help="default: run"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        print("firebreak: configuration is valid")
        return 0
    configure_logging(settings)
    try:
        migrate(settings.database_url)
    except SQLAlchemyError as error:
        print(f"firebreak: cannot migrate DATABASE_URL: {error.__class__.__name__}: {error.args[0]}", file=sys.stderr)
        return 1
    if args.command == "run":
        _serve(settings)
    return 0


def _serve(settings: Settings) -> None:
    missing = settings.missing_slack()
    if missing:
        print(
            f"firebreak: Slack is not connected: {', '.join(missing)} unset; {MANIFEST_HINT}. "
            "Health, the API and webhooks work meanwhile.",
            file=sys.stderr,
        )
    mode = "socket mode" if settings.socket_mode else f"HTTP mode on port {settings.port}"
    structlog.get_logger().info("firebreak_starting", mode=mode)
    web.run_app(build_server(settings), host=settings.host, port=settings.port, print=None, access_log=None)
