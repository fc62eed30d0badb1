"""The aiohttp application we own: Slack events, health, readiness and the JSON API in one process."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.request.internals import parse_body
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import loops
from bot.app import build_bolt_app
from bot.appkeys import ADMISSION, BOLT, DIRECT, ENGINE, REDIS, REMINDERS, URGENT, WEBHOOK_CLIENT
from bot.doors import (
    api_auth,
    body_limit,
    largest_body,
    log_doors,
    token_gates,
)
from bot.embedded_redis import EmbeddedRedis
from bot.observe import CountedTimeline, http_metrics
from bot.settings import MANIFEST_HINT, Settings
from domain import parse_duration
from domain.paging_config import OnCall
from handlers import SERVICES, Clock, Services
from handlers.alerts import effects as alert_effects
from handlers.alerts import webhook
from handlers.command import CommandRouter
from handlers.http import database_unavailable, json_error
from handlers.incidents import api
from handlers.incidents import effects as incident_effects
from handlers.incidents.flows import refresh_card
from handlers.metrics import CLOCKS_FAMILY, METRICS, Clocks, Metrics, Recorder, UpdateReminders
from handlers.metrics import api as metrics_api
from handlers.paging import PAGER, AckLinks, Pager, ack, build_pager
from handlers.postmortems import FAMILY, POSTMORTEMS, Postmortems, Reminders
from handlers.postmortems import api as postmortem_api
from handlers.postmortems import register_effects as register_postmortem_effects
from handlers.slack import Admission, SlackGateway, SlackOutbox, build_client, http_session
from handlers.slack.direct import DirectCommand
from handlers.slack.effects import EffectQueue
from handlers.slack.payloads import shape_problem, well_formed_signature
from storage import IncidentStore, Keys, SeenStore, create_engine, ping
from storage.alerts import AlertStore
from storage.effects import EffectStore
from storage.metrics import MetricsStore
from storage.overrides import OverrideStore
from storage.page_records import PageRecords
from storage.pages import PageStore
from storage.postmortems import PostmortemStore
from storage.redis_config import durability_problems
from storage.runbook_files import load_runbooks
from storage.timers import TimerStore

log = structlog.get_logger()


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_server(settings: Settings, clock: Clock = utc_now, oncall: OnCall | None = None) -> web.Application:
    """The application; its connections open on startup and close on cleanup. Without `oncall`, no paging."""
    gates = token_gates(settings)
    recorder = Recorder(CollectorRegistry(auto_describe=True))
    middlewares = [
        http_metrics(recorder),
        body_limit(settings),
        api_auth(gates["api"], gates["metrics"]),
        database_unavailable(),
    ]
    app = web.Application(client_max_size=largest_body(settings), middlewares=middlewares)
    app.cleanup_ctx.append(lambda app: _resources(app, settings, clock, oncall, recorder))
    loops.install(app, settings)  # after the resources they use: stopped before those close
    app.add_routes([web.get("/healthz", _healthz), web.get("/readyz", _readyz)])
    if settings.process_role == "worker":
        return app
    slack = [] if settings.socket_mode else [web.post("/slack/events", _slack_events)]  # Socket Mode: no route
    app.add_routes(
        [
            *slack,
            *api.routes(),
            *postmortem_api.routes(),
            *metrics_api.routes(),
            *webhook.routes(gates["alertmanager"], settings.alert_max_body, recorder.alert_notification),
            *ack.routes(),
        ]
    )
    return app


async def _resources(
    app: web.Application, settings: Settings, clock: Clock, oncall: OnCall | None, recorder: Recorder
) -> AsyncIterator[None]:
    embedded = EmbeddedRedis(settings.data_dir) if settings.redis_url is None else None
    redis_url = await asyncio.to_thread(embedded.start) if embedded else str(settings.redis_url)
    redis = Redis.from_url(redis_url)
    engine = create_engine(settings.database_url, settings.database_pool_size)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack_http = http_session()
    client = build_client(token, settings.slack_api_url, recorder, slack_http)
    keys = Keys(settings.redis_prefix)
    outbox = SlackOutbox(settings.card_update_interval, settings.card_updates_per_minute)
    services = Services(
        incidents=IncidentStore(engine),
        timeline=CountedTimeline(redis, keys, recorder),
        seen=SeenStore(redis, keys),
        slack=SlackGateway(client),
        clock=clock,
        alerts=AlertStore(redis, keys),
        outbox=outbox,
        effects=EffectQueue(
            EffectStore(engine),
            outbox,
            clock,
            lease=timedelta(seconds=settings.slack_effect_lease),
            max_attempts=settings.slack_effect_attempts,
            backoff=timedelta(seconds=settings.slack_effect_backoff),
        ),
        targets=settings.response_targets,
        incidents_channel=settings.incidents_channel,
        command=settings.incident_command,
        alert_policy=settings.alert_policy,
        runbooks=await asyncio.to_thread(load_runbooks, settings.runbooks_dir),
        alerts_channel=settings.alerts_channel,
        drill_channel=settings.drill_channel,
        drill_prefix=settings.drill_channel_prefix,
        setup_hold=timedelta(seconds=settings.setup_hold),
    )
    services, clocks = _with_clocks(
        services, settings, MetricsStore(engine), TimerStore(redis, keys, family=CLOCKS_FAMILY), recorder
    )
    # What must not wait for a connection behind an alert storm's runs and Slack work (in a storm a checkout
    # from the shared pool waited up to 0.9 s) has a few of its own: the pager, and a new group's processing.
    urgent_engine = create_engine(settings.database_url, settings.database_urgent_pool_size)
    urgent_incidents = services.incidents.beside(urgent_engine)
    pager = None
    if oncall is not None:
        app[WEBHOOK_CLIENT] = aiohttp.ClientSession()
        services, pager = _with_pager(
            services, settings, oncall, redis, urgent_engine, urgent_incidents, app[WEBHOOK_CLIENT]
        )
        clocks.escalate = pager.escalate_next
        app[PAGER] = pager
    incident_effects.register(services, refresh_card)
    alert_effects.register(services)
    app[REDIS], app[ENGINE], app[SERVICES] = redis, engine, services
    app[URGENT] = replace(services, incidents=urgent_incidents)
    pms = Postmortems(
        services,
        PostmortemStore(engine),
        TimerStore(redis, keys, family=FAMILY),
        settings.postmortem_policy,
        settings.postmortem_digest,
    )
    register_postmortem_effects(pms)
    app[POSTMORTEMS], app[REMINDERS] = pms, Reminders(pms)
    app[METRICS] = metrics = Metrics(services, clocks.store, clocks, recorder)
    socket_mode = await _start_slack(app, settings, client, services, pager, metrics)
    if embedded is None:
        await _check_redis(redis)
    log_doors(settings)
    log.info("firebreak_started", redis="embedded" if embedded else "external", port=settings.port)
    try:
        yield
    finally:
        await outbox.close()
        await slack_http.close()
        if WEBHOOK_CLIENT in app:
            await app[WEBHOOK_CLIENT].close()
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await redis.aclose()
        await engine.dispose()
        await urgent_engine.dispose()
        if embedded:
            await asyncio.to_thread(embedded.stop)


async def _check_redis(redis: Redis) -> None:
    """Warn when an external Redis could lose the bot's keys (no AOF, or eviction allowed)."""
    try:
        problems = await durability_problems(redis)
    except (RedisError, OSError) as error:
        log.warning("redis_unreachable_at_start", error=type(error).__name__)
        return
    for problem in problems:
        log.warning("redis_not_durable", problem=problem, hint="see README: What Redis the bot needs")


def _with_pager(
    services: Services,
    settings: Settings,
    oncall: OnCall,
    redis: Redis,
    engine: AsyncEngine,
    incidents: IncidentStore,
    http: aiohttp.ClientSession,
) -> tuple[Services, Pager]:
    """The pager, and the services that know it (acknowledging stops pages; declaring pages on call).

    The pager reads and writes through `engine` and `incidents`, the urgent connections: a page's DM needs
    four reads before it goes out (the page, the incident, the overrides, the journal)."""
    keys = Keys(settings.redis_prefix)
    timers = TimerStore(redis, keys)
    links = None
    if settings.page_ack_secret is not None:  # its own secret only: never the Slack signing secret
        public_url = settings.public_url or f"http://localhost:{settings.port}"
        links = AckLinks(settings.page_ack_secret.get_secret_value(), public_url, parse_duration(settings.page_ack_ttl))
    pages = PageStore(redis, keys, timers, PageRecords(engine))
    services = replace(services, pages=pages)  # the pager's acknowledgements stop pages
    own = replace(services, incidents=incidents)
    pager = build_pager(own, timers, OverrideStore(engine), oncall, http=http, links=links)
    return replace(services, on_declare=pager.on_declare), pager


def _with_clocks(
    services: Services, settings: Settings, store: MetricsStore, timers: TimerStore, recorder: Recorder
) -> tuple[Services, Clocks]:
    """The target clocks and reminders, hooked to every stored change (`Services.on_change`)."""
    calendar = settings.business_calendar(range(services.clock().year - 5, services.clock().year + 6))
    services = replace(services, resolution_targets=settings.resolution_targets, calendar=calendar)
    clocks = Clocks(services, store, timers, recorder, UpdateReminders(settings.update_reminders))
    services = replace(services, on_change=clocks.on_change)
    clocks.services = services
    return services, clocks


async def _start_slack(
    app: web.Application,
    settings: Settings,
    client: AsyncWebClient,
    services: Services,
    pager: Pager | None,
    metrics: Metrics,
) -> AsyncSocketModeHandler | None:
    missing = settings.missing_slack()
    if missing:
        log.warning("slack_not_configured", missing=missing, how=MANIFEST_HINT)
        return None
    router = CommandRouter(settings.incident_command, services.outbox)
    bolt = build_bolt_app(settings, client, services, pager, app[POSTMORTEMS], app[REMINDERS], metrics, router)
    app[BOLT] = bolt
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app[ADMISSION] = Admission(settings.slack_concurrency)
    app[DIRECT] = DirectCommand(router.command, router.run, secret, app[ADMISSION], services.seen)
    if settings.slack_app_token is None or settings.process_role == "worker":  # a worker takes no Slack requests
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
    headers = request.headers
    if not well_formed_signature(headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")):
        return json_error(401, "invalid request")  # Bolt's verifier is not made for hostile header values
    try:  # parsed as Bolt will parse it, to refuse what Bolt's request object cannot hold
        text = await request.text()
        body = parse_body(text, request.headers.get("Content-Type"))
    except ValueError:  # malformed JSON, a `payload=` form that is not JSON, or bytes that are not UTF-8
        return json_error(400, "the body is not a Slack request (malformed JSON payload)")
    problem = shape_problem(body)
    if problem is not None:
        return json_error(400, problem)
    direct = request.app[DIRECT]
    if direct.takes(body):  # our slash command, signed: straight to the router, without Bolt's pipeline
        timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        return await to_aiohttp_response(await direct.answer(text, body, timestamp, signature))
    bolt_request = await to_bolt_request(request)
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
