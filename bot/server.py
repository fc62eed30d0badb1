"""The aiohttp application we own: Slack events, health, readiness and the JSON API in one process."""

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aiohttp
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_bolt_app
from bot.background import Overlapping, every
from bot.embedded_redis import EmbeddedRedis
from bot.settings import MANIFEST_HINT, Settings
from domain.paging_config import OnCall
from handlers import SERVICES, Clock, Services
from handlers.alerts import AlertWorker, webhook
from handlers.http import is_loopback, json_error, presented_secret, secret_matches
from handlers.incidents import api
from handlers.incidents.flows import move_timeline, resume_setups
from handlers.paging import PAGER, Pager, ack, build_pager
from handlers.slack import Admission, SlackGateway, SlackOutbox, build_client
from storage import IncidentStore, Keys, SeenStore, TimelineStore, create_engine, ping
from storage.alerts import AlertStore
from storage.overrides import OverrideStore
from storage.pages import PageStore
from storage.runbook_files import load_runbooks
from storage.timers import TimerStore

log = structlog.get_logger()

REDIS = web.AppKey("redis", Redis)
ENGINE = web.AppKey("engine", AsyncEngine)
BOLT = web.AppKey("bolt", AsyncApp)
ADMISSION = web.AppKey("admission", Admission)
WORKER = web.AppKey("alert_worker", AlertWorker)
WEBHOOK_CLIENT = web.AppKey("webhook_client", aiohttp.ClientSession)
MAX_BODY = 1024 * 1024
_ACK_PATH = re.compile(r"^/api/pages/[^/]+/ack$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_server(settings: Settings, clock: Clock = utc_now, oncall: OnCall | None = None) -> web.Application:
    """The application; its connections open on startup and close on cleanup. Without `oncall`, no paging."""
    max_body = max(MAX_BODY, settings.alert_max_body)
    app = web.Application(client_max_size=max_body + 1, middlewares=[_api_auth(settings)])
    app.cleanup_ctx.append(lambda app: _resources(app, settings, clock, oncall))
    app.cleanup_ctx.append(_alert_worker)
    app.cleanup_ctx.append(lambda app: _pager(app, timedelta(seconds=settings.pager_interval)))
    app.cleanup_ctx.append(lambda app: _repair(app, timedelta(seconds=settings.repair_interval)))
    token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    app.add_routes(
        [
            web.post("/slack/events", _slack_events),
            web.get("/healthz", _healthz),
            web.get("/readyz", _readyz),
            *api.routes(),
            *webhook.routes(token, settings.alert_max_body),
            *ack.routes(),
        ]
    )
    return app


async def _resources(
    app: web.Application, settings: Settings, clock: Clock, oncall: OnCall | None
) -> AsyncIterator[None]:
    embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
    redis_url = await asyncio.to_thread(embedded.start) if embedded else str(settings.redis_url)
    redis = Redis.from_url(redis_url)
    engine = create_engine(settings.database_url, settings.database_pool_size)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    client = build_client(token, settings.slack_api_url)
    keys = Keys(settings.redis_prefix)
    outbox = SlackOutbox(settings.card_update_interval, settings.card_updates_per_minute)
    services = Services(
        incidents=IncidentStore(engine),
        timeline=TimelineStore(redis, keys),
        seen=SeenStore(redis, keys),
        slack=SlackGateway(client),
        clock=clock,
        alerts=AlertStore(redis, keys),
        outbox=outbox,
        targets=settings.response_targets,
        incidents_channel=settings.incidents_channel,
        command=settings.incident_command,
        alert_policy=settings.alert_policy,
        runbooks=await asyncio.to_thread(load_runbooks, settings.runbooks_dir),
        alerts_channel=settings.alerts_channel,
    )
    pager = None
    if oncall is not None:
        timers = TimerStore(redis, keys)
        pages = PageStore(redis, keys, timers)
        secret = settings.page_ack_secret or settings.slack_signing_secret
        app[WEBHOOK_CLIENT] = aiohttp.ClientSession()
        services = replace(services, pages=pages)  # the pager's own acknowledgements stop pages too
        pager = build_pager(
            services,
            timers,
            OverrideStore(engine),
            oncall,
            http=app[WEBHOOK_CLIENT],
            ack_secret=secret.get_secret_value() if secret else None,
            public_url=settings.public_url or f"http://localhost:{settings.port}",
        )
        services = replace(services, on_declare=pager.on_declare)
        app[PAGER] = pager
    app[REDIS], app[ENGINE], app[SERVICES] = redis, engine, services
    socket_mode = await _start_slack(app, settings, client, services, pager)
    if settings.alertmanager_token is None:
        log.warning("alertmanager_webhook_loopback_only", hint="set ALERTMANAGER_TOKEN to accept remote Alertmanagers")
    log.info("firebreak_started", redis="embedded" if embedded else "external", port=settings.port)
    try:
        yield
    finally:
        await outbox.close()
        if WEBHOOK_CLIENT in app:
            await app[WEBHOOK_CLIENT].close()
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await redis.aclose()
        await engine.dispose()
        if embedded:
            await asyncio.to_thread(embedded.stop)


async def _alert_worker(app: web.Application) -> AsyncIterator[None]:
    """Run the alert worker beside the server; each process is its own consumer."""
    consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid4().hex[:6]}"
    worker = AlertWorker(app[SERVICES], consumer)
    app[WORKER] = worker
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        await worker.stop()
        await task


async def _pager(app: web.Application, interval: timedelta) -> AsyncIterator[None]:
    """Fire escalation deadlines in the background (every process takes part; each timer fires once)."""
    pager = app.get(PAGER)
    if pager is None:
        yield
        return
    with contextlib.suppress(RedisError, OSError):  # Redis down at start: notices resume on a later start
        await pager.handoffs.schedule_all()
    ticks = Overlapping(pager.tick, "pager")  # a tick waiting on a slow Slack does not hold up the next one
    async with _every(interval, ticks, "pager"):
        yield
    await ticks.close()


async def _repair(app: web.Application, interval: timedelta) -> AsyncIterator[None]:
    """Every `interval`, finish what a failure left half done: timeline entries still only in SQL, and
    incidents stored without a Slack channel, card or announcement (those only while Slack is configured)."""

    async def repair() -> None:
        moved = await move_timeline(app[SERVICES])
        if moved:
            log.info("timeline_entries_recovered", entries=moved)
        resumed = await resume_setups(app[SERVICES]) if BOLT in app else 0
        log.debug("repair_swept", entries=moved, setups=resumed)

    async with _every(interval, repair, "repair"):
        yield


@contextlib.asynccontextmanager
async def _every(interval: timedelta, work: Callable[[], Awaitable[object]], loop: str) -> AsyncIterator[None]:
    """Run `work` now and every `interval` in the background while the context is open."""
    stop = asyncio.Event()
    task = asyncio.create_task(every(interval, stop, work, loop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _start_slack(
    app: web.Application, settings: Settings, client: AsyncWebClient, services: Services, pager: Pager | None
) -> AsyncSocketModeHandler | None:
    missing = settings.missing_slack()
    if missing:
        log.warning("slack_not_configured", missing=missing, how=MANIFEST_HINT)
        return None
    bolt = build_bolt_app(settings, client, services, pager)
    app[BOLT] = bolt
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app[ADMISSION] = Admission(settings.slack_concurrency, secret)
    if settings.slack_app_token is None:
        return None
    handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("slack_socket_mode_connected")
    return handler


async def _slack_events(request: web.Request) -> web.Response:
    bolt = request.app.get(BOLT)
    if bolt is None:
        message = "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
        return json_error(503, message)
    try:
        bolt_request = await to_bolt_request(request)
    except ValueError:  # Bolt parses JSON bodies and `payload=` forms before anything else
        return json_error(400, "the body is not a Slack request (malformed JSON payload)")
    return await to_aiohttp_response(await request.app[ADMISSION].dispatch(bolt_request, bolt.async_dispatch))


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), timeout=2)
        checks["redis"] = "ok"
    except (RedisError, OSError, TimeoutError) as error:
        checks["redis"] = f"unavailable: {type(error).__name__}"
    try:
        await asyncio.wait_for(ping(request.app[ENGINE]), timeout=2)
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        checks["database"] = f"unavailable: {type(error).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ready" if ready else "not ready", **checks}, status=200 if ready else 503)


def _api_auth(settings: Settings) -> Middleware:
    expected = settings.api_token.get_secret_value() if settings.api_token else None

    @web.middleware
    async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or _ACK_PATH.match(request.path):
            return await handler(request)  # acknowledge links carry their own signed token
        if expected is None:
            if not is_loopback(request.remote):
                return json_error(403, "API_TOKEN is unset: the API answers loopback clients only")
            return await handler(request)
        if not secret_matches(presented_secret(request), expected):
            return json_error(401, "missing or wrong bearer token")
        return await handler(request)

    return api_auth
