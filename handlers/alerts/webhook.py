"""POST /webhooks/alertmanager: authenticate, parse, store durably, then answer. Slow work happens later."""

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import RedisError

from domain.alerts import Notification
from domain.errors import where_and_what
from handlers.http import TokenGate, json_error
from handlers.services import SERVICES, Services

log = structlog.get_logger()


def routes(gate: TokenGate, max_body: int, counted: Callable[[str], None] = lambda outcome: None) -> list[web.RouteDef]:
    """The Alertmanager webhook view, behind `gate` (ALERTMANAGER_TOKEN). `counted` is told each notification's
    outcome: admitted, duplicate, malformed or unavailable (metrics). Admitted and duplicate ones are logged at
    debug only: a storm sends hundreds a second, and the counts say how many."""

    async def receive_alertmanager_webhook(request: web.Request) -> web.Response:
        refusal = _refusal(request, gate, max_body)
        if refusal is not None:
            return refusal
        body = await request.read()
        if len(body) > max_body:
            return json_error(413, f"the body is larger than {max_body} bytes")
        if b"\x00" in body or b"\\u0000" in body:  # JSON spells the escape with a lowercase u only
            return json_error(400, "the body contains NUL characters")
        try:
            group_key, admitted = _admit(request.app[SERVICES], body)
        except ValidationError as error:
            counted("malformed")
            log.info("alert_webhook_refused", reason="malformed", errors=error.error_count())
            return json_error(400, _describe(error))
        try:
            entry_id = await admitted
        except (RedisError, OSError) as error:
            counted("unavailable")
            log.warning("alert_webhook_unavailable", error=type(error).__name__)
            return json_error(503, "storage is unavailable; Alertmanager will retry")
        if entry_id is None:
            counted("duplicate")
            log.debug("alert_deduplicated", group_key=group_key)
            return web.json_response({"status": "duplicate"})
        counted("admitted")
        log.debug("alert_admitted", group_key=group_key, entry=entry_id)
        return web.json_response({"status": "accepted", "id": entry_id})

    return [web.post("/webhooks/alertmanager", receive_alertmanager_webhook)]


def _admit(services: Services, body: bytes) -> tuple[str, Awaitable[str | None]]:
    """Parse `body` and start its admission: its group key and the admission to wait for. The parsed
    notification ends here, before the handler waits on Redis (see `AlertStore.admit`)."""
    notification = Notification.model_validate_json(body)
    severity = services.alert_policy.severity(notification)
    return notification.group_key, services.alerts.admit(notification, severity, body)


def _refusal(request: web.Request, gate: TokenGate, max_body: int) -> web.Response | None:
    refusal = gate.refusal(request)
    if refusal is not None:
        return refusal
    if request.content_length is not None and request.content_length > max_body:
        return json_error(413, f"the body is larger than {max_body} bytes")
    return None


def _describe(error: ValidationError) -> str:
    """The first problem, naming where it is: `alerts.0.fingerprint: Field required`."""
    first = error.errors()[0]
    where, problem = where_and_what(first)
    if first["type"] == "json_invalid":
        return f"the body is not valid JSON: {problem}"
    return f"{where}: {problem}" if where else problem
