"""The doors of the HTTP server: which token guards which route, body limits per route, and what startup
says about doors left without a token. No decision rests on the client's address: a door whose token is
unset is open only while the bot listens on loopback (`HOST`)."""

import re
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import SecretStr

from bot.settings import Settings
from handlers.http import TokenGate, json_error

log = structlog.get_logger()

SLACK_MAX_BODY = 64 * 1024  # /slack/events, /api and the health routes; the alert webhook has its own setting
MOUNTED_MAX_BODY = 1024 * 1024  # what others mount under /sandbox/ (the emulated Web API, loopback only)
ALERT_PATH = "/webhooks/alertmanager"
_ACK_PATH = re.compile(r"^/api/pages/[^/]+/ack$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_gates(settings: Settings) -> dict[str, TokenGate]:
    """Each token-guarded door: open without its token only while the bot listens on loopback (`HOST`)."""

    def gate(setting: str, token: SecretStr | None) -> TokenGate:
        return TokenGate(setting, token.get_secret_value() if token else None, settings.on_loopback)

    return {
        "api": gate("API_TOKEN", settings.api_token),
        "alertmanager": gate("ALERTMANAGER_TOKEN", settings.alertmanager_token),
        "metrics": gate("METRICS_TOKEN", settings.metrics_token),
    }


def doors_without_token(settings: Settings) -> tuple[list[str], bool]:
    """The token-guarded doors whose token is unset, and whether they are closed (listening publicly) or open."""
    paths = {"api": "/api", "alertmanager": ALERT_PATH, "metrics": "/metrics"}
    gates = token_gates(settings)
    unset = [f"{paths[name]} ({gate.setting} unset)" for name, gate in gates.items() if gate.token is None]
    return unset, not settings.on_loopback


def log_doors(settings: Settings) -> None:
    """Say at startup which doors are closed (no token while listening publicly) or open without a token."""
    doors, closed = doors_without_token(settings)
    if doors and closed:
        log.warning("endpoints_closed", endpoints=doors, host=settings.host, hint="set their tokens to open them")
    elif doors:
        log.info("endpoints_open_on_loopback", endpoints=doors, host=settings.host)


def largest_body(settings: Settings) -> int:
    """The application's own bound (`client_max_size`): the largest of the per-route limits."""
    return max(SLACK_MAX_BODY, MOUNTED_MAX_BODY, settings.alert_max_body)


def body_limit(settings: Settings) -> Middleware:
    """64 KiB per request, except the alert webhook (ALERT_MAX_BODY) and what is mounted under /sandbox/ (1 MiB);
    a larger body gets 413 before it is read. A route whose limit is the application's own is not cloned (a
    clone per request is a measurable share of the alert webhook's cost in a storm)."""
    largest = largest_body(settings)

    @web.middleware
    async def limit_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = SLACK_MAX_BODY
        if request.path == ALERT_PATH:
            limit = settings.alert_max_body
        elif request.path.startswith("/sandbox/"):
            limit = MOUNTED_MAX_BODY
        if request.content_length is not None and request.content_length > limit:
            return json_error(413, f"the body is larger than {limit} bytes")
        try:
            return await handler(request if limit == largest else request.clone(client_max_size=limit))
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"the body is larger than {limit} bytes")

    return limit_body


def api_auth(gate: TokenGate, metrics: TokenGate) -> Middleware:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/metrics":  # the scrape: the API's rule, with its own token
            refusal = metrics.refusal(request)
        elif not request.path.startswith("/api") or _ACK_PATH.match(request.path):
            return await handler(request)  # acknowledge links carry their own signed token
        else:
            refusal = gate.refusal(request)
        return refusal if refusal is not None else await handler(request)

    return check_token
