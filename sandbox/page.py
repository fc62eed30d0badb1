"""The sandbox page: a Slack-like channel view of the emulated workspace, served from `sandbox/static/`.

The page reads the workspace as one person sees it (`GET state?user=`), hears of every change on a
server-sent event stream (`GET stream`), and acts through `POST do/<action>` as that person (`People`).
Actions take JSON only, and a browser's cross-site request is refused by its Origin, so another web page
cannot act in the sandbox through the visitor's browser.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from sandbox.blockkit import Json
from sandbox.people import People
from sandbox.slack_api import BOT_USER_ID, SlackEmulator

STATIC = Path(__file__).parent / "static"
_HEARTBEAT = 15.0


@dataclass(frozen=True)
class Webhook:
    """A request the page can send on a person's behalf (e.g. a captured Alertmanager notification)."""

    label: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Play:
    """Something the page can start and leave running (a drill): its label, a hint to show, how to start it."""

    label: str
    hint: str
    start: Callable[[], Coroutine[object, None, object]]


@dataclass
class Sandbox:
    """What the page shows and does: the workspace, its people, shortcuts and the webhooks it can fire."""

    slack: SlackEmulator
    people: People
    cast: list[str]  # the user ids the person switcher offers, in order
    shortcuts: list[tuple[str, str]] = field(default_factory=list)  # (callback_id, name) of message shortcuts
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    plays: dict[str, Play] = field(default_factory=dict)
    title: str = "Sandbox"
    running: set["asyncio.Task[object]"] = field(default_factory=set)


def view_of(sandbox: Sandbox, user: str) -> Json:
    """The workspace as `user` sees it: channels and DMs with their messages, their ephemerals and open modal."""
    slack = sandbox.slack
    visible = [c for c in slack.channels.values() if not c.archived and (not c.is_private or user in c.members)]
    conversations = [
        {"id": c.id, "name": c.name, "kind": "channel", "topic": c.topic, "pins": c.pins, "member": user in c.members}
        for c in sorted(visible, key=lambda c: c.name)
    ]
    dms = [conv for conv in _conversations(slack) if slack.dm_user(conv) == user]
    conversations += [
        {"id": d, "name": "firebreak", "kind": "dm", "topic": "", "pins": [], "member": True} for d in dms
    ]
    ids = {str(c["id"]) for c in conversations}
    messages: dict[str, list[Json]] = {conversation: [] for conversation in ids}
    for (channel, _), message in sorted(slack.messages.items(), key=lambda item: float(item[0][1])):
        if channel in ids:
            messages[channel].append(message)
    open_views = [v for view_id, v in slack.views.items() if slack.view_owners.get(view_id) == user]
    return {
        "me": user,
        "title": sandbox.title,
        "people": [_person(slack, u) for u in sandbox.cast],
        "users": {u: _person(slack, u) for u in slack.users},
        "bot": BOT_USER_ID,
        "conversations": conversations,
        "messages": messages,
        "ephemerals": [e for e in slack.ephemerals if e["user"] == user],
        "view": open_views[-1] if open_views else None,
        "shortcuts": [{"callback_id": c, "name": n} for c, n in sandbox.shortcuts],
        "webhooks": [{"name": name, "label": hook.label} for name, hook in sandbox.webhooks.items()],
        "plays": [{"name": name, "label": play.label, "hint": play.hint} for name, play in sandbox.plays.items()],
        "version": slack.version,
    }


def _conversations(slack: SlackEmulator) -> list[str]:
    return sorted(set(slack.dm_conversations()))


def _person(slack: SlackEmulator, user: str) -> Json:
    found = slack.users[user]
    return {"id": user, "name": found["name"], "real_name": found["real_name"]}


Action = Callable[[Sandbox, Json], Awaitable[Json]]


async def _command(sandbox: Sandbox, body: Json) -> Json:
    answer = await sandbox.people.run_command(_text(body, "user"), _text(body, "channel"), _text(body, "text"))
    return {"status": answer.status}


async def _message(sandbox: Sandbox, body: Json) -> Json:
    ts = await sandbox.people.post_message(_text(body, "user"), _text(body, "channel"), _text(body, "text"))
    return {"ts": ts}


async def _click(sandbox: Sandbox, body: Json) -> Json:
    action = body.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
        raise web.HTTPBadRequest(text="action must be Slack's action object")
    people = sandbox.people
    answer = await people.click(_text(body, "user"), _text(body, "channel"), _text(body, "ts"), action)
    return {"status": answer.status}


async def _click_in_view(sandbox: Sandbox, body: Json) -> Json:
    view_id, action, values = _text(body, "view_id"), body.get("action"), body.get("values") or {}
    if view_id not in sandbox.slack.views or not isinstance(action, dict) or not isinstance(values, dict):
        raise web.HTTPBadRequest(text="view_id must name an open view, with Slack's action object")
    answer = await sandbox.people.click_in_view(_text(body, "user"), view_id, action, values)
    return {"status": answer.status}


async def _submit(sandbox: Sandbox, body: Json) -> Json:
    view_id, values = _text(body, "view_id"), body.get("values")
    if view_id not in sandbox.slack.views or not isinstance(values, dict):
        raise web.HTTPBadRequest(text="view_id must name an open view and values must be an object")
    answer = await sandbox.people.submit(_text(body, "user"), view_id, values)
    return {"status": answer.status, "body": answer.body}


async def _close(sandbox: Sandbox, body: Json) -> Json:
    sandbox.people.close_view(_text(body, "user"), _text(body, "view_id"))
    await sandbox.slack.note_change()
    return {}


async def _react(sandbox: Sandbox, body: Json) -> Json:
    channel, ts = _message_ref(sandbox, body)
    await sandbox.people.react(_text(body, "user"), channel, ts, _text(body, "name"))
    return {}


async def _pin(sandbox: Sandbox, body: Json) -> Json:
    channel, ts = _message_ref(sandbox, body)
    await sandbox.people.pin(_text(body, "user"), channel, ts)
    return {}


async def _shortcut(sandbox: Sandbox, body: Json) -> Json:
    channel, ts = _message_ref(sandbox, body)
    answer = await sandbox.people.shortcut(_text(body, "user"), channel, ts, _text(body, "callback_id"))
    return {"status": answer.status}


async def _webhook(sandbox: Sandbox, body: Json) -> Json:
    hook = sandbox.webhooks.get(_text(body, "name"))
    if hook is None:
        raise web.HTTPBadRequest(text="there is no such webhook")
    http = sandbox.people.app.http
    if http is None:
        raise web.HTTPServiceUnavailable(text="the sandbox is starting")
    return {"status": await fire(http, hook)}


async def _play(sandbox: Sandbox, body: Json) -> Json:
    play = sandbox.plays.get(_text(body, "name"))
    if play is None:
        raise web.HTTPBadRequest(text="there is no such drill")
    task: asyncio.Task[object] = asyncio.create_task(play.start())
    sandbox.running.add(task)
    task.add_done_callback(sandbox.running.discard)
    return {"started": play.label, "hint": play.hint}


_ACTIONS: dict[str, Action] = {
    "play": _play,
    "command": _command,
    "message": _message,
    "click": _click,
    "click_in_view": _click_in_view,
    "submit": _submit,
    "close": _close,
    "react": _react,
    "pin": _pin,
    "shortcut": _shortcut,
    "webhook": _webhook,
}


def _text(body: Json, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise web.HTTPBadRequest(text=f"{key} must be a non-empty string")
    return value


def _message_ref(sandbox: Sandbox, body: Json) -> tuple[str, str]:
    channel, ts = _text(body, "channel"), _text(body, "ts")
    if (channel, ts) not in sandbox.slack.messages:
        raise web.HTTPBadRequest(text="there is no such message")
    return channel, ts


def application(sandbox: Sandbox) -> web.Application:
    """The page's routes, to mount beside the emulator (`add_subapp`)."""

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def state(request: web.Request) -> web.Response:
        user = request.query.get("user") or sandbox.cast[0]
        if user not in sandbox.slack.users:
            raise web.HTTPBadRequest(text="there is no such user")
        return web.json_response(view_of(sandbox, user))

    streams: set[asyncio.Task[Any]] = set()  # the open event streams, ended on shutdown

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        version = -1
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs each request's handler in a task of its own
        streams.add(task)
        try:
            while True:
                version = await sandbox.slack.changed(version, _HEARTBEAT)
                await response.write(f"event: changed\ndata: {version}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        finally:
            streams.discard(task)

    async def end_streams(app: web.Application) -> None:
        """On shutdown the server waits for every handler: an open page's stream would hold it up to a heartbeat."""
        for task in streams:
            task.cancel()

    async def act(request: web.Request) -> web.Response:
        action = _ACTIONS.get(request.match_info["action"])
        if action is None:
            raise web.HTTPNotFound(text="no such action")
        return web.json_response(await action(sandbox, await _action_body(request, sandbox)))

    async def session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            sandbox.people.app.http = http
            yield
            for task in list(sandbox.running):
                task.cancel()
            await asyncio.gather(*sandbox.running, return_exceptions=True)
            sandbox.people.app.http = None

    app = web.Application(client_max_size=256 * 1024)
    app.cleanup_ctx.append(session)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/state", state)
    app.router.add_get("/stream", stream)
    app.router.add_post("/do/{action}", act)
    return app


async def _action_body(request: web.Request, sandbox: Sandbox) -> Json:
    """An action's JSON body, sent by the page itself, naming a person of the workspace."""
    if request.content_type != "application/json" or not _same_origin(request):
        raise web.HTTPForbidden(text="actions take JSON from the sandbox page itself")
    try:
        body: Any = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    if not isinstance(body.get("user"), str) or body["user"] not in sandbox.slack.users:
        raise web.HTTPBadRequest(text="user must name a person of the workspace")
    return body


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def fire(http: aiohttp.ClientSession, hook: Webhook) -> int:
    """Send a webhook as the page's button does; the HTTP status."""
    async with http.post(hook.url, data=hook.body, headers=hook.headers) as response:
        await response.read()
        return response.status


__all__ = ["Play", "Sandbox", "Webhook", "application", "fire", "view_of"]
