"""Drive the real server like Slack does: signed commands, clicks, modal submissions and events."""

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.appkeys import WORKER
from handlers.slack import BlockId
from sandbox.slack_api import SlackEmulator
from tests.fixtures import ALERTMANAGER as FIXTURES

SIGNING_SECRET = "test-signing-secret"
ALERTMANAGER_TOKEN = "test-webhook-token"  # what the shared fixtures were captured with
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GENERAL = "C0GENERAL"


class FakeClock:
    """The bot's clock in tests: set and advanced by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


class LogEvents:
    """A structlog processor (for `capture_logs(processors=[...])`) that lets a test wait for the n-th event."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, _logger: object, _method: str, event: Any) -> Any:
        self.seen.append(dict(event))
        self._changed.set()
        return event

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.seen if event["event"] == name]

    async def wait_for(self, name: str, count: int) -> list[dict[str, Any]]:
        """Wait (at most 5 s) until `count` events called `name` were logged; returns them."""
        async with asyncio.timeout(5):
            while len(self.named(name)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.named(name)


@contextlib.asynccontextmanager
async def pool_taken(engine: AsyncEngine) -> AsyncIterator[None]:
    """Every connection of `engine`'s pool held (as an alert storm's runs and Slack work hold them) until the
    context ends: whatever needs one of them waits for the end."""
    held = []
    for _ in range(40):  # the pool's size and overflow, whatever they are
        held.append(engine.connect())
        waiting = asyncio.create_task(held[-1].start())
        if not (await asyncio.wait({waiting}, timeout=0.5))[0]:
            break  # the pool has no connection left: this one waits for one
    else:
        raise AssertionError("the pool never ran out")
    try:
        yield
    finally:
        for connection in held[:-1]:
            await connection.close()
        await waiting
        await held[-1].close()


@dataclass
class Bot:
    http: TestClient[Any, Any]
    slack: SlackEmulator
    clock: FakeClock
    incidents_channel: str
    alerts_channel: str = ""
    replies: list[str] = field(default_factory=list)

    async def post_signed(
        self, body: str, content_type: str, headers: Mapping[str, str] | None = None, **signing: Any
    ) -> ClientResponse:
        all_headers = {"Content-Type": content_type, **sign(body, **signing), **(headers or {})}
        return await self.http.post("/slack/events", data=body.encode(), headers=all_headers)

    async def command(self, text: str, user: str = ALICE, channel: str = GENERAL, trigger_id: str = "") -> str:
        """Type `/incident <text>`; returns the ephemeral reply, after the work behind it settled."""
        return str((await self.command_reply(text, user, channel, trigger_id)).get("text", ""))

    async def command_reply(
        self, text: str, user: str = ALICE, channel: str = GENERAL, trigger_id: str = ""
    ) -> dict[str, Any]:
        """Type `/incident <text>`; returns the whole reply (its text and any blocks)."""
        form = {
            "token": "legacy",
            "team_id": "T0TEAM",
            "channel_id": channel,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": self.response_url(),
            "trigger_id": trigger_id or f"trigger-{uuid4().hex}",
        }
        response = await self.post_signed(urlencode(form), "application/x-www-form-urlencoded")
        assert response.status == 200, await response.text()
        raw = await response.text()
        is_json = response.content_type == "application/json"
        reply: dict[str, Any] = json.loads(raw) if is_json else {"text": raw}
        await self.settle()
        return reply

    async def interact(self, payload: dict[str, Any]) -> ClientResponse:
        body = urlencode({"payload": json.dumps(payload)})
        response = await self.post_signed(body, "application/x-www-form-urlencoded")
        await self.settle()
        return response

    async def click(
        self,
        action_id: str,
        value: str,
        user: str = ALICE,
        selected: bool = False,
        view: Mapping[str, Any] | None = None,
        channel: str = GENERAL,
    ) -> ClientResponse:
        """Click a button (or choose a select option) in a message, or in the open modal `view`."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "action_ts": str(time.time())}
        if selected:
            action |= {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text"}}}
        else:
            action |= {"type": "button", "value": value}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T0TEAM"},
            "api_app_id": "A0APP",
            "trigger_id": f"trigger-{uuid4().hex}",
            "actions": [action],
        }
        if view is None:
            payload |= {
                "response_url": self.response_url(),
                "channel": {"id": channel},
                "container": {"type": "message"},
            }
        else:
            payload |= {"view": dict(view), "container": {"type": "view", "view_id": view["id"]}}
        return await self.interact(payload)

    async def submit(
        self, view: Mapping[str, Any], state: Mapping[str, Mapping[str, Any]], user: str = ALICE
    ) -> ClientResponse:
        """Submit an opened modal `view` (as the fake recorded it) with these input values: block_id -> the
        element's state, e.g. `{"value": {"type": "plain_text_input", "value": "text"}}`."""
        submitted = {
            "id": view["id"],
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""),
            "hash": view.get("hash", ""),
            "state": {"values": {block: dict(element) for block, element in state.items()}},
        }
        payload = {"type": "view_submission", "user": {"id": user}, "team": {"id": "T0TEAM"}, "api_app_id": "A0APP"}
        return await self.interact(payload | {"view": submitted})

    async def shortcut(self, callback_id: str, channel: str, message_ts: str, user: str = ALICE) -> ClientResponse:
        """Choose a message shortcut on the message at `message_ts`."""
        message = self.slack.messages[(channel, message_ts)]
        return await self.interact(
            {
                "type": "message_action",
                "callback_id": callback_id,
                "trigger_id": f"trigger-{uuid4().hex}",
                "user": {"id": user},
                "team": {"id": "T0TEAM"},
                "api_app_id": "A0APP",
                "channel": {"id": channel},
                "message_ts": message_ts,
                "message": message,
                "response_url": self.response_url(),
            }
        )

    async def submit_view(
        self, callback_id: str, values: Mapping[BlockId, str], view_id: str = "V0VIEW", user: str = ALICE
    ) -> ClientResponse:
        state = {
            block: {"value": {"type": "plain_text_input", "value": value}}
            if block is not BlockId.SEVERITY
            else {"value": {"type": "static_select", "selected_option": {"value": value}}}
            for block, value in values.items()
        }
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user},
                "team": {"id": "T0TEAM"},
                "api_app_id": "A0APP",
                "view": {"id": view_id, "type": "modal", "callback_id": callback_id, "state": {"values": state}},
            }
        )

    async def event(self, event: dict[str, Any], event_id: str = "", retry_num: int | None = None) -> ClientResponse:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0TEAM",
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid4().hex}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        response = await self.post_signed(body, "application/json", headers)
        await self.settle()
        return response

    def response_url(self) -> str:
        return self.slack.url.removesuffix("api/") + f"response/{uuid4().hex}"

    async def settle(self) -> None:
        """Wait until the alert worker is idle and the Slack outbox has carried out its work (listeners run
        before the reply, `process_before_response`, so Bolt leaves nothing running after it)."""
        await self.http.app[WORKER].idle()

    async def alert(
        self, payload: str | bytes, token: str | None = ALERTMANAGER_TOKEN, headers: Mapping[str, str] | None = None
    ) -> ClientResponse:
        """POST a webhook body as Alertmanager does; waits until the worker has processed it."""
        response = await self.admit(payload, token, headers)
        await self.settle()
        return response

    async def admit(
        self, payload: str | bytes, token: str | None = ALERTMANAGER_TOKEN, headers: Mapping[str, str] | None = None
    ) -> ClientResponse:
        """POST a webhook body as Alertmanager does; returns once it is answered (admitted, not yet processed)."""
        body = payload.encode() if isinstance(payload, str) else payload
        all_headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.http.post("/webhooks/alertmanager", data=io.BytesIO(body), headers=all_headers)

    async def fixture(self, name: str) -> ClientResponse:
        """POST one of the shared real Alertmanager payloads, e.g. `01-firing-single-critical`."""
        return await self.alert((FIXTURES / f"{name}.json").read_bytes())

    async def api(self, path: str, status: int = 200) -> Any:
        response = await self.http.get(path)
        assert response.status == status, await response.text()
        return await response.json()

    async def declare(self, text: str = "Checkout is down sev2", user: str = ALICE) -> dict[str, Any]:
        """Declare through the command and return the incident as the API shows it."""
        reply = await self.command(f"declare {text}", user=user)
        number = int(reply.split("#", 1)[1].split()[0])
        incident: dict[str, Any] = await self.api(f"/api/incidents/{number}")
        return incident
