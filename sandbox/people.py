"""What people do in the emulated workspace, sent to the app as Slack sends it: signed and shaped like Slack's.

A person types a slash command, clicks a button, submits a modal, posts a message, reacts, pins, or uses a
message shortcut. Each is stored in the workspace the way Slack would show it and delivered to the app's
request URL with Slack's signature; what the app answers (a command's reply, a modal's errors) is shown as
Slack shows it.
"""

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from sandbox.blockkit import Json
from sandbox.slack_api import APP_ID, TEAM_ID, SlackEmulator

SLACK_TIMEOUT = 3.0  # Slack gives up on the app after three seconds
_MENTION = re.compile(r"(?<![\w<])@([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    """The app's answer to one request: its HTTP status and JSON body (None when the body was not JSON)."""

    status: int
    body: Json | None
    text: str


@dataclass
class AppLink:
    """The app the emulator hosts: where Slack sends its requests, and the secret it signs them with."""

    request_url: str
    signing_secret: str
    http: aiohttp.ClientSession | None = None  # opened with the page's application (`page.application`)

    async def send(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Answer:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(timestamp=timestamp, body=body)
        signed = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": str(signature)}
        all_headers = {"Content-Type": content_type, **signed, **(headers or {})}
        if self.http is None:
            raise RuntimeError("the app link is not open")
        try:
            async with self.http.post(
                self.request_url,
                data=body.encode(),
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT),
            ) as response:
                raw = await response.text()
                parsed = _json_object(raw) if response.content_type == "application/json" else None
                return Answer(response.status, parsed, raw)
        except (TimeoutError, aiohttp.ClientError):
            return Answer(0, None, "")


def _json_object(raw: str) -> Json | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def slash_text(typed: str, users: dict[str, Json]) -> str:
    """What Slack sends for typed command text: `&`, `<`, `>` escaped and `@name` turned into `<@ID|name>`."""
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    by_name = {str(user["name"]).lower(): user_id for user_id, user in users.items()}

    def mention(match: re.Match[str]) -> str:
        user_id = by_name.get(match.group(1).lower())
        return f"<@{user_id}|{match.group(1)}>" if user_id else match.group(0)

    return _MENTION.sub(mention, escaped)


class People:
    """The people of the workspace acting on it; each action reaches the app as Slack would send it."""

    def __init__(self, slack: SlackEmulator, app: AppLink, command: str = "/incident") -> None:
        self.slack = slack
        self.app = app
        self.command = command

    def _user(self, user: str) -> Json:
        found = self.slack.users.get(user)
        if found is None:
            raise ValueError(f"there is no user {user}")
        return {"id": user, "username": found["name"], "name": found["name"], "team_id": TEAM_ID}

    def _common(self) -> Json:
        return {"token": "sandbox", "api_app_id": APP_ID, "team": {"id": TEAM_ID, "domain": "sandbox"}}

    async def run_command(self, user: str, channel: str, typed: str) -> Answer:
        """Type `/command text` in `channel`; the reply (or Slack's timeout notice) is shown to `user` alone."""
        command, _, text = typed.strip().partition(" ")
        form = {
            "token": "sandbox",
            "team_id": TEAM_ID,
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": self._user(user)["name"],
            "command": command,
            "text": slash_text(text, self.slack.users),
            "api_app_id": APP_ID,
            "response_url": self.slack.new_response_url(channel, user),
            "trigger_id": self.slack.new_trigger(user),
        }
        answer = await self.app.send(urlencode(form), "application/x-www-form-urlencoded")
        if answer.status != 200:
            self.slack.add_ephemeral(channel, user, {"text": f'{command} failed with the error "{_failure(answer)}"'})
        elif answer.body and (answer.body.get("text") or answer.body.get("blocks")):
            self.slack.add_ephemeral(channel, user, answer.body)
        elif not answer.body and answer.text.strip():
            self.slack.add_ephemeral(channel, user, {"text": answer.text})
        await self.slack.note_change()
        return answer

    async def click(self, user: str, channel: str, message_ts: str, action: Json) -> Answer:
        """Click a button (or choose a select option) of a message; `action` is Slack's action object."""
        message = self.slack.messages.get((channel, message_ts)) or next(
            (e for e in self.slack.ephemerals if e["ts"] == message_ts), {"ts": message_ts}
        )
        payload = self._common() | {
            "type": "block_actions",
            "user": self._user(user),
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": self.slack.new_trigger(user),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "message": message,
            "state": {"values": {}},
            "response_url": self.slack.new_response_url(channel, user),
            "actions": [action | {"action_ts": f"{time.time():.6f}"}],
        }
        return await self._interact(payload)

    async def click_in_view(self, user: str, view_id: str, action: Json, values: Json) -> Answer:
        """Click a button (or choose an option) inside the open modal `view_id`, its inputs as they are now."""
        view = self.slack.views[view_id]
        payload = self._common() | {
            "type": "block_actions",
            "user": self._user(user),
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.slack.new_trigger(user),
            "view": view | {"state": {"values": values}},
            "actions": [action | {"action_ts": f"{time.time():.6f}"}],
        }
        return await self._interact(payload)

    async def submit(self, user: str, view_id: str, values: Json) -> Answer:
        """Submit the modal `view_id` with `values` (Slack's `state.values`); the app may keep it open with errors."""
        view = self.slack.views[view_id]
        payload = self._common() | {
            "type": "view_submission",
            "user": self._user(user),
            "trigger_id": self.slack.new_trigger(user),
            "view": view | {"state": {"values": values}},
            "response_urls": [],
        }
        answer = await self._interact(payload)
        if answer.status == 200:
            self._after_submission(view_id, answer.body or {})
        await self.slack.note_change()
        return answer

    def _after_submission(self, view_id: str, body: Json) -> None:
        action = body.get("response_action")
        view = self.slack.views[view_id]
        if action == "errors":
            view["errors"] = body.get("errors") or {}
        elif action == "update" and isinstance(body.get("view"), dict):
            self.slack.views[view_id] = view | body["view"] | {"errors": {}}
        else:  # closed ("clear" closes the whole stack, which the emulator keeps one deep)
            self.slack.view_owners.pop(view_id, None)

    def close_view(self, user: str, view_id: str) -> None:
        if self.slack.view_owners.get(view_id) == user:
            del self.slack.view_owners[view_id]

    async def post_message(self, user: str, channel: str, text: str) -> str:
        """Post a plain message; the app gets the `message` event."""
        ts = self.slack.add_message(channel, slash_text(text, self.slack.users), user)
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": self.slack.messages[(channel, ts)]["text"],
        }
        await self._event(event | {"ts": ts, "channel_type": "im" if channel.startswith("D") else "channel"})
        return ts

    async def react(self, user: str, channel: str, ts: str, name: str) -> None:
        """Add a reaction; the app gets `reaction_added`."""
        message = self.slack.messages[(channel, ts)]
        reactions: list[Json] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append(reaction := {"name": name, "users": [], "count": 0})
        if user in reaction["users"]:
            return
        reaction["users"].append(user)
        reaction["count"] += 1
        item = {"type": "message", "channel": channel, "ts": ts}
        await self._event(
            {"type": "reaction_added", "user": user, "reaction": name, "item": item, "item_user": message.get("user")}
        )

    async def pin(self, user: str, channel: str, ts: str) -> None:
        """Pin a message; the app gets `pin_added` with the message."""
        pins = self.slack.channels[channel].pins
        if ts in pins:
            return
        pins.append(ts)
        message = self.slack.messages[(channel, ts)]
        item = {
            "type": "message",
            "channel": channel,
            "message": message,
            "created": int(time.time()),
            "created_by": user,
        }
        await self._event({"type": "pin_added", "user": user, "channel_id": channel, "item": item})

    async def shortcut(self, user: str, channel: str, ts: str, callback_id: str) -> Answer:
        """Use a message shortcut on a message (`message_action`)."""
        payload = self._common() | {
            "type": "message_action",
            "callback_id": callback_id,
            "trigger_id": self.slack.new_trigger(user),
            "response_url": self.slack.new_response_url(channel, user),
            "user": self._user(user),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "message": self.slack.messages[(channel, ts)],
            "message_ts": ts,
        }
        return await self._interact(payload)

    async def _interact(self, payload: Json) -> Answer:
        answer = await self.app.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        await self.slack.note_change()
        return answer

    async def _event(self, event: Json) -> None:
        now = time.time()
        body: dict[str, Any] = {
            "token": "sandbox",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns():x}",
            "event_time": int(now),
            "event": event | {"event_ts": f"{now:.6f}"},
        }
        await self.slack.note_change()
        await self.app.send(json.dumps(body), "application/json")

    def _channel_name(self, channel: str) -> str:
        found = self.slack.channels.get(channel)
        return found.name if found else "directmessage"


def _failure(answer: Answer) -> str:
    return "operation_timeout" if answer.status in (0, 404) else f"http_{answer.status}"
