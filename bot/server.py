"""The aiohttp application we own: Slack events, health, readiness and the JSON API in one process."""

import asyncio
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from ipaddress import ip_address

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
from bot.embedded_redis import EmbeddedRedis
from bot.settings import MANIFEST_HINT, Settings
from handlers import SERVICES, Clock, Services, SlackGateway, api_routes, build_client
from storage import IncidentStore, Keys, SeenStore, TimelineStore, create_engine, ping

log = structlog.get_logger()

REDIS = web.AppKey("redis", Redis)
ENGINE = web.AppKey("engine", AsyncEngine)
BOLT = web.AppKey("bolt", AsyncApp)
MAX_BODY = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_server(settings: Settings, clock: Clock = utc_now) -> web.Application:
    """The application; its connections open on startup and close on cleanup."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_api_auth(settings)])
    app.cleanup_ctx.append(lambda app: _resources(app, settings, clock))
    app.add_routes(
        [
            web.post("/slack/events", _slack_events),
            web.get("/healthz", _healthz),
            web.get("/readyz", _readyz),
            *api_routes(),
        ]
    )
    return app


async def _resources(app: web.Application, settings: Settings, clock: Clock) -> AsyncIterator[None]:
    embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
    redis_url = await asyncio.to_thread(embedded.start) if embedded else str(settings.redis_url)
    redis = Redis.from_url(redis_url)
    engine = create_engine(settings.database_url)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    client = build_client(token, settings.slack_api_url)
    services = Services(
        incidents=IncidentStore(engine),
        timeline=TimelineStore(redis, Keys(settings.redis_prefix)),
        seen=SeenStore(redis, Keys(settings.redis_prefix)),
        slack=SlackGateway(client),
        clock=clock,
        targets=settings.response_targets,
        incidents_channel=settings.incidents_channel,
        command=settings.incident_command,
    )
    app[REDIS], app[ENGINE], app[SERVICES] = redis, engine, services
    socket_mode = await _start_slack(app, settings, client, services)
    log.info("firebreak_started", redis="embedded" if embedded else "external", port=settings.port)
    try:
        yield
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await redis.aclose()
        await engine.dispose()
        if embedded:
            await asyncio.to_thread(embedded.stop)


async def _start_slack(
    app: web.Application, settings: Settings, client: AsyncWebClient, services: Services
) -> AsyncSocketModeHandler | None:
    missing = settings.missing_slack()
    if missing:
        log.warning("slack_not_configured", missing=missing, how=MANIFEST_HINT)
        return None
    bolt = build_bolt_app(settings, client, services)
    app[BOLT] = bolt
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
        return web.json_response({"error": message}, status=503)
    try:
        bolt_request = await to_bolt_request(request)
    except ValueError:  # Bolt parses JSON bodies and `payload=` forms before anything else
        return web.json_response({"error": "the body is not a Slack request (malformed JSON payload)"}, status=400)
    return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))


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
    expected = settings.api_token.get_secret_value().encode() if settings.api_token else None

    @web.middleware
    async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        if expected is None:
            if not _is_loopback(request.remote):
                return web.json_response(
                    {"error": "API_TOKEN is unset: the API answers loopback clients only"}, status=403
                )
            return await handler(request)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    return api_auth


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ip_address(remote).is_loopback
    except ValueError:
        return False
