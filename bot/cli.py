"""`firebreak [run|sandbox|migrate|check-config|postmortem|drill <scenario>|alerts retry-dead|report]`.

`python -m bot` is `firebreak run`."""

import argparse
import asyncio
import errno
import gc
import sys
from datetime import UTC, datetime

import structlog
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from bot import drills, sandbox
from bot.doors import doors_without_token
from bot.embedded_redis import EmbeddedRedis
from bot.export import postmortem_command
from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import Settings, SettingsError, check_settings
from domain import IncidentError
from domain.metrics import Window
from domain.paging_config import ConfigError, OnCall
from handlers.metrics import report
from storage import Keys, create_engine, migrate
from storage.alerts import AlertStore
from storage.metrics import MetricsStore
from storage.paging_config_file import read_oncall
from storage.runbook_files import runbook_problems

EXIT_BAD_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        settings, problems = check_settings()
    except SettingsError as error:  # not even the defaults of the bad settings would do
        print(f"firebreak: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    oncall, more = check_config(settings)
    if problems or more:  # every problem at once: the settings', the on-call file's, the runbooks'
        for line in problems + more:
            print(f"firebreak: {line}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        _report_valid(settings, oncall)
        return 0
    # These read only and print their output (a postmortem, a drill's progress, the report): no migration and
    # no log lines on stdout.
    without_migrating = {"postmortem": postmortem_command, "drill": _drill, "report": _report}
    if args.command in without_migrating:
        return without_migrating[args.command](settings, args.rest)
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
    if args.command == "alerts":
        print(f"firebreak: {asyncio.run(retry_dead(settings))} dead-lettered alert notification(s) queued again")
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


def _drill(settings: Settings, rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="firebreak drill", description="Play a drill against a running bot")
    parser.add_argument("scenario", help="a scenario in drills/, e.g. checkout-outage")
    parser.add_argument("--url", default=f"http://127.0.0.1:{settings.port}", help="the running bot")
    args = parser.parse_args(rest)
    token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    return asyncio.run(drills.play_against(args.url, args.scenario, token))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="firebreak", description="Self-hosted incident-response bot for Slack")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "sandbox", "migrate", "check-config", "postmortem", "drill", "alerts", "report"],
        help="default: run (the sandbox when no Slack credentials are set); "
        "`postmortem export <number> [--format md|json]` prints a postmortem; "
        "`drill <scenario> [--url URL]` plays a drill against a running bot; "
        "`alerts retry-dead` queues the dead-lettered alert notifications again; "
        "`report --from YYYY-MM-DD --to YYYY-MM-DD [--format md|csv]` prints the compliance report",
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rest != (["retry-dead"] if args.command == "alerts" else args.rest) or (
        args.rest and args.command not in {"postmortem", "drill", "alerts", "report"}
    ):
        parser.error(f"unrecognized arguments: {' '.join(args.rest)} (`alerts` takes one: retry-dead)")
    return args


def _report(settings: Settings, rest: list[str]) -> int:
    """`firebreak report --from … --to … [--format md|csv]`: the compliance report on stdout."""
    parser = argparse.ArgumentParser(prog="firebreak report", description="The compliance report, on stdout")
    parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, help="last day (included), YYYY-MM-DD")
    parser.add_argument("--format", dest="shape", choices=["md", "csv"], default="md", help="md (default) or csv")
    args = parser.parse_args(rest)
    try:
        window = Window.between(args.first, args.last)
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
    sys.stdout.write(built.csv() if args.shape == "csv" else built.markdown())
    return 0


def load_oncall(settings: Settings) -> OnCall | None:
    """The on-call config; the default file may be absent (no paging), an explicitly set one may not."""
    if not settings.oncall_config.exists() and "oncall_config" not in settings.model_fields_set:
        return None
    return read_oncall(settings.oncall_config)


def _report_valid(settings: Settings, oncall: OnCall | None) -> None:
    """What check-config prints for a valid configuration: paging, and the doors left without a token."""
    paging = f"paging per {settings.oncall_config}" if oncall else f"no {settings.oncall_config}: paging is off"
    print(f"firebreak: configuration is valid ({paging})")
    doors, closed = doors_without_token(settings)
    if doors:
        how = f"closed: HOST={settings.host} is not loopback" if closed else "open to this machine only"
        print(f"firebreak: {', '.join(doors)}: {how}")


def check_config(settings: Settings) -> tuple[OnCall | None, list[str]]:
    """The on-call config, and every problem of it, of the settings paging needs and of the runbooks."""
    oncall, problems = None, []
    try:
        oncall = load_oncall(settings)
    except ConfigError as error:
        problems += error.errors
    if oncall is not None:
        problems += paging_setting_problems(settings, oncall)
    return oncall, problems + runbook_problems(settings.runbooks_dir)


def paging_setting_problems(settings: Settings, oncall: OnCall) -> list[str]:
    """Acknowledge links go out only with their own secret and a public address: one line per missing one."""
    if not oncall.webhooks:
        return []
    needed = {"PAGE_ACK_SECRET": settings.page_ack_secret, "PUBLIC_URL": settings.public_url}
    why = f"{settings.oncall_config} configures a notify_webhook, whose acknowledge links need it"
    return [f"{name} is not set: {why}" for name, value in needed.items() if value is None]


async def _freeze_heap(app: web.Application) -> None:
    """Once the resources are open, keep what startup built (modules, the application, its pools) out of the
    garbage collector's way, and collect the youngest generation less often. A storm's webhooks and the
    worker allocate thousands of short-lived objects a second: with the startup heap among those collected,
    collections took a quarter of the web process's CPU (bench.intake: 4.1 s of 15 s; 0.2 s after this)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


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
    app.on_startup.append(_freeze_heap)  # after the resources open (cleanup contexts start first)
    if setup is not None:
        sandbox.mount(app, setup)
        print(f"Sandbox: http://127.0.0.1:{settings.port}/  (no Slack credentials set: Slack is emulated)", flush=True)
    try:
        web.run_app(
            app, host=settings.host, port=settings.port, print=None, access_log=None, reuse_port=settings.reuse_port
        )
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        share = "" if settings.reuse_port else "; REUSE_PORT=true lets several Firebreak processes share it"
        print(f"firebreak: {settings.host}:{settings.port} is taken by another process{share}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return 0
