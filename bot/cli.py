"""`firebreak [run|sandbox|migrate|check-config|report]`: the console script; `python -m bot` is `firebreak run`."""

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import sandbox
from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import Settings, SettingsError, load_settings
from domain import IncidentError
from domain.metrics import Window
from domain.paging_config import ConfigError, OnCall
from handlers.metrics import report
from storage import create_engine, migrate
from storage.metrics import MetricsStore
from storage.paging_config_file import read_oncall

EXIT_BAD_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firebreak", description="Self-hosted incident-response bot for Slack")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "sandbox", "migrate", "check-config", "report"],
        help="default: run (the sandbox when no Slack credentials are set)",
    )
    parser.add_argument("--from", dest="first", help="report: first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", help="report: last day (included), YYYY-MM-DD")
    parser.add_argument("--format", choices=["md", "csv"], default="md", help="report: md (default) or csv")
    args = parser.parse_args(argv)
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
    if args.command == "report":  # read-only: neither migrates nor logs, so stdout is the report alone
        return _report(settings, args.first, args.last, args.format)
    configure_logging(settings)
    try:
        migrate(settings.database_url)
    except SQLAlchemyError as error:
        print(f"firebreak: cannot migrate DATABASE_URL: {error.__class__.__name__}: {error.args[0]}", file=sys.stderr)
        return 1
    if args.command == "sandbox" and not sandbox.wanted(settings):
        print(
            "firebreak: SLACK_BOT_TOKEN or SLACK_APP_TOKEN is set: no sandbox beside a real workspace", file=sys.stderr
        )
        return EXIT_BAD_CONFIG
    if args.command in {"run", "sandbox"}:
        return _serve(settings, oncall)
    return 0


def _report(settings: Settings, first: str | None, last: str | None, shape: str) -> int:
    """`firebreak report --from … --to … [--format md|csv]`: the compliance report on stdout."""
    if not first or not last:
        print("firebreak: report needs --from YYYY-MM-DD and --to YYYY-MM-DD", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        window = Window.between(first, last)
    except IncidentError as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG

    async def build() -> report.Report:
        engine = create_engine(settings.database_url)
        try:
            store = MetricsStore(engine)
            return await report.build(
                store, window, datetime.now(UTC), settings.response_targets, settings.resolution_targets
            )
        finally:
            await engine.dispose()

    built = asyncio.run(build())
    sys.stdout.write(built.csv() if shape == "csv" else built.markdown())
    return 0


def load_oncall(settings: Settings) -> OnCall | None:
    """The on-call config; the default file may be absent (no paging), an explicitly set one may not."""
    if not settings.oncall_config.exists() and "oncall_config" not in settings.model_fields_set:
        return None
    return read_oncall(settings.oncall_config)


def _serve(settings: Settings, oncall: OnCall | None) -> int:
    setup = None
    if sandbox.wanted(settings):
        try:
            setup = sandbox.prepare(settings, oncall)
        except SettingsError as error:
            print(f"firebreak: {error}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        settings, oncall = setup.settings, setup.oncall
    mode = "socket mode" if settings.socket_mode else f"HTTP mode on port {settings.port}"
    structlog.get_logger().info("firebreak_starting", mode=mode, sandbox=setup is not None)
    if oncall is None:
        structlog.get_logger().warning("paging_off", hint=f"write {settings.oncall_config} (see oncall.example.yaml)")
    app = build_server(settings, oncall=oncall)
    if setup is not None:
        sandbox.mount(app, setup)
        print(f"Sandbox: http://127.0.0.1:{settings.port}/  (no Slack credentials set: Slack is emulated)", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0
