"""Cross-cutting Bolt middleware: log context, Slack retry de-duplication, the one error handler, and the
fallbacks that answer an action or view no capability registered."""

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import aiohttp
import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from structlog.contextvars import bind_contextvars, clear_contextvars

from handlers.slack import messages
from handlers.slack.gateway import describe_failure
from storage import SeenStore

log = structlog.get_logger()

Next = Callable[[], Awaitable[BoltResponse | None]]
# A timestamp up to five minutes off either way is accepted, so one signature can verify for ten minutes.
REPLAY_WINDOW = timedelta(minutes=11)


def register(app: AsyncApp, seen: SeenStore) -> None:
    async def bind_log_context(body: dict[str, Any], next_: Next) -> BoltResponse | None:
        bind_request(body)
        return await next_()

    async def skip_repeated_events(body: dict[str, Any], next_: Next) -> BoltResponse | None:
        """Slack re-sends an event it thinks we missed (X-Slack-Retry-Num); handle each event_id once."""
        event_id = body.get("event_id")
        repeated = (
            body.get("type") == "event_callback"
            and isinstance(event_id, str)
            and not await _first_time(seen, "event", event_id)
        )
        if repeated:
            log.info("slack_event_repeated", event_id=event_id)
            return BoltResponse(status=200, body="")
        return await next_()

    app.middleware(bind_log_context)
    app.middleware(_replay_guard(seen))
    app.middleware(skip_repeated_events)
    app.error(report_failure)


def bind_request(body: dict[str, Any]) -> None:
    """A request's log context, in place of the one before: its id, Slack user and channel."""
    clear_contextvars()
    bind_contextvars(request_id=_request_id(body), slack_user=_user(body), channel_id=_channel(body))


async def report_failure(
    error: Exception, body: dict[str, Any], respond: AsyncRespond | None, response: BoltResponse | None
) -> None:
    """The one error handler: a payload missing fields is a 400, a Slack refusal and anything else are told
    to the person (with an error id, logged with its traceback)."""
    if isinstance(error, ValidationError):
        log.warning("slack_payload_invalid", errors=error.error_count())
        if response is not None:
            response.status, response.body = 400, '{"error": "the Slack payload is missing required fields"}'
            response.headers["content-type"] = ["application/json"]
        return
    if isinstance(error, SlackApiError):
        log.warning("slack_call_failed", failure=describe_failure(error))
        text = messages.slack_refused(describe_failure(error))
    else:
        error_id = uuid4().hex[:8]
        log.exception("listener_failed", error_id=error_id)
        text = messages.unexpected_error(error_id)
    await _tell(text, isinstance(body.get("command"), str), respond, response)


async def _tell(text: str, is_command: bool, respond: AsyncRespond | None, response: BoltResponse | None) -> None:
    """Say what failed: a slash command in the HTTP reply itself (listeners run before the reply), anything
    else through its response URL (the reply to a click shows nothing)."""
    if response is not None:
        response.status, response.body = 200, ""
        if is_command:
            response.body = json.dumps({"response_type": "ephemeral", "text": text})
            response.headers["content-type"] = ["application/json"]
            return
    if respond is not None and respond.response_url:
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except (aiohttp.ClientError, TimeoutError) as failure:
            log.warning("slack_respond_failed", error=type(failure).__name__)


def _replay_guard(seen: SeenStore) -> Callable[[AsyncBoltRequest, Next], Awaitable[BoltResponse | None]]:
    async def refuse_replays(req: AsyncBoltRequest, next_: Next) -> BoltResponse | None:
        """A signed HTTP request runs at most once: its signature is remembered for as long as Bolt would
        accept it (Bolt has checked it, and the timestamp, before this runs). A replayed capture is refused."""
        signature = (req.headers.get("x-slack-signature") or [""])[0]
        if req.mode == "http" and await replayed(seen, signature):
            return BoltResponse(status=401, body='{"error": "this request was already handled"}')
        return await next_()

    return refuse_replays


async def replayed(seen: SeenStore, signature: str) -> bool:
    """Whether a request with this (checked) signature ran before; remembered for as long as it verifies."""
    if await _first_time(seen, "signature", signature, REPLAY_WINDOW):
        return False
    log.warning("slack_request_replayed")
    return True


def register_fallbacks(app: AsyncApp) -> None:
    """Answer actions and views that no capability registered; call it after every capability's `register`.

    Bolt runs the first listener that matches, so these catch-alls only see what nobody else claimed."""

    async def handle_unknown_action(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action_id = ((body.get("actions") or [{}])[0] or {}).get("action_id")
        log.warning("slack_action_unknown", action_id=str(action_id)[:100])
        if respond.response_url:
            await respond(
                text=messages.unknown_interaction("button"), response_type="ephemeral", replace_original=False
            )

    async def handle_unknown_view(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        log.warning("slack_view_unknown", callback_id=str((body.get("view") or {}).get("callback_id"))[:100])

    app.action(re.compile(".*"))(handle_unknown_action)
    app.view(re.compile(".*"))(handle_unknown_view)


def _request_id(body: dict[str, Any]) -> str:
    for key in ("event_id", "trigger_id"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return uuid4().hex


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user_id") or body.get("user") or _object(body.get("event")).get("user")
    if isinstance(user, dict):
        user = user.get("id")
    return user if isinstance(user, str) else None


def _event_channel(body: dict[str, Any]) -> str | None:
    event = _object(body.get("event"))
    channel = event.get("channel") or event.get("channel_id") or _object(event.get("item")).get("channel")
    return channel if isinstance(channel, str) else None


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel_id") or _object(body.get("channel")).get("id") or _event_channel(body)
    return channel if isinstance(channel, str) else None


def _object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: these payload parts are only read for log context."""
    return value if isinstance(value, dict) else {}


async def _first_time(seen: SeenStore, scope: str, token: str, ttl: timedelta | None = None) -> bool:
    """`seen.first_time`, but with Redis down the request goes on (logged): what it changes is refused twice
    by SQL (a declaration by its trigger, a capture by its message), and an outage must not lock everyone out."""
    try:
        return await seen.first_time(scope, token, ttl)
    except (RedisError, OSError) as error:
        log.warning("once_check_unavailable", scope=scope, error=type(error).__name__)
        return True
