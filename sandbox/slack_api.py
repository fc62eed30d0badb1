"""The Slack emulator: Slack's Web API served over real HTTP, answering from a workspace it keeps.

The tests and the sandbox use this one emulator. `async with SlackEmulator() as slack:` starts it on a free
loopback port (or `application()` is mounted into another aiohttp app, with `base_url` set); give `slack.url`
to `AsyncWebClient(base_url=...)`, then read `slack.calls`, `slack.channels` and `slack.messages`. Answers use
Slack's success shapes and error codes; `fail()` scripts error answers, 429s and 5xx. Block Kit rules live in
`sandbox/blockkit.py`.
"""

import asyncio
import itertools
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self

from aiohttp import web

from sandbox import blockkit as rules
from sandbox.blockkit import Json, SlackError

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "Channel", "SlackEmulator", "SlackError", "start_emulator"]

TEAM_ID, TEAM, WORKSPACE_URL = "T0FAKE", "Firebreak Test", "https://fake.slack.com/"
BOT_USER_ID, BOT_ID, APP_ID = "U0BOT", "B0BOT", "A0FAKE"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_METHOD = re.compile(r"[a-z]+(\.[a-zA-Z]+)+")


@dataclass(frozen=True)
class Call:
    """One recorded Web API call."""

    method: str
    args: dict[str, Any]
    token: str | None
    error: str | None = None  # the error the fake answered with; None when it answered ok
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Channel:
    """A channel as the fake keeps it; `to_json()` is Slack's conversation object."""

    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    archived: bool = False
    topic: str = ""
    members: set[str] = field(default_factory=set)
    pins: list[str] = field(default_factory=list)

    def to_json(self) -> Json:
        flags = dict.fromkeys(("is_group", "is_im", "is_mpim", "is_general", "is_shared", "is_ext_shared"), False)
        names = {"id": self.id, "name": self.name, "name_normalized": self.name, "creator": self.creator}
        state = {"is_channel": True, "is_private": self.is_private, "is_archived": self.archived}
        members = {"is_member": BOT_USER_ID in self.members, "num_members": len(self.members), "created": self.created}
        topic = {"value": self.topic, "creator": BOT_USER_ID if self.topic else "", "last_set": 0}
        texts = {"topic": topic, "purpose": {"value": "", "creator": "", "last_set": 0}}
        return flags | names | state | members | texts


@dataclass(frozen=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


class SlackEmulator:
    """The fake Web API: its HTTP server, what it recorded, and the workspace state it answers from."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url  # where the emulator is served, ending in "/"; set by `start` when it serves itself
        self.calls: list[Call] = []
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Json] = {}
        self.users: dict[str, Json] = {}
        self.views: dict[str, Json] = {}
        self.ephemerals: list[Json] = []  # {"channel", "user", "ts", "text", "blocks"}: seen by one person only
        self.view_owners: dict[str, str] = {}  # view id -> the user it is open for
        self.triggers: dict[str, str] = {}  # trigger_id -> the user whose action made it
        self.responses: dict[str, tuple[str, str]] = {}  # response_url id -> (channel, user)
        self.version = 0  # goes up with every recorded call: watchers wait on `changed`
        self._ims: dict[str, str] = {}  # sorted, comma-joined user ids -> D... (G... for several users)
        self._homes: dict[str, str] = {}  # user id -> Home tab view id
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._delays: dict[str, tuple[float, str | None]] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0
        self._recorded = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.add_user("firebreak", user_id=BOT_USER_ID)

    @property
    def url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`, ending in "/api/"."""
        if self.base_url is None:
            raise RuntimeError("SlackEmulator is not started")
        return self.base_url + "api/"

    def application(self) -> web.Application:
        """The emulator's routes: the Web API under `api/` and response URLs under `response/`."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)  # slack_sdk sends GET for read methods like users.info
        app.router.add_post("/response/{id}", self._handle_response_url)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the emulator by itself on `host` (a free port unless `port` is given)."""
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, listener).start()
        bound = listener.getsockname()[1]
        self.base_url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call of `method`, failed ones included."""
        return [call for call in self.calls if call.method == method]

    def fail(
        self, method: str, error: str, *, times: int = 1, status: int = 200, retry_after: int | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with `error` (HTTP `status`; 429s send Retry-After, default 1)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.setdefault(method, []).extend([_Failure(error, status, retry_after)] * times)

    def dm_user(self, conversation: str) -> str | None:
        """The person in a one-to-one DM the bot opened, or None if `conversation` is not one."""
        return next((users for users, im in self._ims.items() if im == conversation and "," not in users), None)

    def dm_conversations(self) -> list[str]:
        """The ids of every DM the bot has opened."""
        return list(self._ims.values())

    def hold(self, method: str) -> asyncio.Event:
        """Carry out the next call of `method` but hold its reply until the returned event is set (or the caller
        gives up): the moment a process dies after Slack did the work, before it heard so."""
        self._holds[method] = asyncio.Event()
        return self._holds[method]

    def delay(self, method: str, seconds: float, channel: str | None = None) -> None:
        """Answer every later call of `method` (only those naming `channel`, if given) `seconds` late: a slow
        Slack. The work is done, and recorded, when the answer goes out. `seconds=0` ends it."""
        if seconds > 0:
            self._delays[method] = (seconds, channel)
        else:
            self._delays.pop(method, None)

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        """Wait until `count` successful calls of `method` were recorded and return them."""

        def successes() -> list[Call]:
            return [call for call in self.calls_to(method) if call.ok]

        try:
            async with asyncio.timeout(timeout), self._recorded:
                await self._recorded.wait_for(lambda: len(successes()) >= count)
        except TimeoutError:
            seen = ", ".join(c.method + (f" ({c.error})" if c.error else "") for c in self.calls) or "none"
            msg = f"expected {count} successful {method} call(s) in {timeout}s, got {len(successes())}; seen: {seen}"
            raise AssertionError(msg) from None
        return successes()

    def add_user(
        self, name: str, *, email: str | None = None, real_name: str | None = None, user_id: str | None = None
    ) -> str:
        """Pre-seed a user for users.info / users.lookupByEmail; returns the user id."""
        user_id = user_id or self._new_id("U")
        profile = {"real_name": real_name or name, "display_name": name} | ({"email": email} if email else {})
        self.users[user_id] = {"id": user_id, "team_id": TEAM_ID, "name": name, "real_name": real_name or name} | {
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "tz": "Etc/UTC",
            "profile": profile,
        }
        return user_id

    def add_channel(
        self,
        name: str,
        *,
        archived: bool = False,
        is_private: bool = False,
        members: Iterable[str] = (),
        channel_id: str | None = None,
    ) -> str:
        """Pre-seed a channel; the bot is a member only if `members` holds BOT_USER_ID. Returns the channel id."""
        channel_id = channel_id or self._new_id("C")
        channel = Channel(channel_id, name, int(time.time()), "U0ADMIN", is_private, archived, members=set(members))
        self.channels[channel_id] = channel
        return channel_id

    def add_message(self, channel: str, text: str, user: str, *, thread_ts: str | None = None) -> str:
        """Pre-seed a message from `user` (in a thread if `thread_ts`); returns its ts."""
        message: Json = {"type": "message", "user": user, "text": text, "ts": self._new_ts(), "team": TEAM_ID}
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        if channel.startswith("D"):
            self._ims.setdefault(channel, channel)
        self._store(channel, message)
        return str(message["ts"])

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, parse_error = await rules.read_args(request)
        if (slow := self._delays.get(method)) and slow[1] in (None, args.get("channel")):
            await asyncio.sleep(slow[0])
        form_token = args.pop("token", None)
        token = rules.bearer_token(request.headers.get("Authorization")) or (str(form_token) if form_token else None)
        status, body, headers = self._answer(method, args, token, parse_error)
        await self._record(Call(method, args, token, None if body["ok"] else str(body["error"])))
        if held := self._holds.pop(method, None):
            await held.wait()
        return web.json_response(body, status=status, headers=headers)

    def new_response_url(self, channel: str, user: str) -> str:
        """A response URL for an interaction of `user` in `channel`; what is sent to it shows there."""
        response_id = f"{next(self._ids):09d}{time.time_ns() % 1000:03d}"
        self.responses[response_id] = (channel, user)
        return f"{self.url.removesuffix('api/')}response/{response_id}"

    def new_trigger(self, user: str) -> str:
        """A trigger_id for an interaction of `user`: a view opened with it is shown to them."""
        trigger = f"{next(self._ids)}.{time.time_ns() % 10**9}.{'%032x' % (time.time_ns() & (2**128 - 1))}"
        self.triggers[trigger] = user
        return trigger

    def add_ephemeral(self, channel: str, user: str, content: Json) -> Json:
        """A message only `user` sees in `channel` (a slash command's reply, chat.postEphemeral)."""
        ephemeral = {"channel": channel, "user": user, "ts": self._new_ts(), "text": content.get("text", "")}
        ephemeral |= {"blocks": content["blocks"]} if isinstance(content.get("blocks"), list) else {}
        self.ephemerals.append(ephemeral)
        return ephemeral

    async def changed(self, since: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until something was recorded after version `since` (or `timeout` passed); the version now."""
        try:
            async with asyncio.timeout(timeout), self._recorded:
                await self._recorded.wait_for(lambda: self.version > since)
        except TimeoutError:
            pass
        return self.version

    async def note_change(self) -> None:
        """Tell watchers that the workspace changed outside a Web API call (a person's message, a reaction)."""
        await self._record(None)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        """A message sent to a `response_url` (given out as `<base>/response/<id>`), recorded as "response_url".

        Shown where the interaction happened: to its person alone, or in the channel for `in_channel`."""
        args, error = await rules.read_args(request)
        where = self.responses.get(request.match_info["id"])
        if error is None and (args.get("text") or args.get("blocks")):
            try:  # a message to a response_url meets the same rules as chat.postMessage
                content = rules.check_message(args)
                if where is not None:
                    self._show_response(*where, content, args.get("response_type"))
            except SlackError as refused:
                error = refused.error
        await self._record(Call("response_url", args, None, error))
        return web.json_response({"ok": True} if error is None else {"ok": False, "error": error})

    def _show_response(self, channel: str, user: str, content: Json, response_type: object) -> None:
        if response_type == "in_channel":
            message: Json = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID}
            self._store(channel, message | content | {"ts": self._new_ts()})
        else:
            self.add_ephemeral(channel, user, content)

    async def _record(self, call: Call | None) -> None:
        if call is not None:
            self.calls.append(call)
        async with self._recorded:
            self.version += 1
            self._recorded.notify_all()

    def _answer(
        self, method: str, args: Json, token: str | None, parse_error: str | None
    ) -> tuple[int, Json, dict[str, str]]:
        error = "not_authed" if not token else "invalid_auth" if not token.startswith("xox") else parse_error
        if error is not None:
            return 200, {"ok": False, "error": error}, {}
        if scripted := self._failures.get(method):
            failure = scripted.pop(0)
            headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return failure.status, {"ok": False, "error": failure.error}, headers
        snake_case = re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower().replace(".", "_")
        handler = getattr(self, f"_api_{snake_case}", None) if _METHOD.fullmatch(method) else None
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, {"ok": True, **handler(args)}, {}
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, {}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"

    def _new_ts(self) -> str:
        """A unique, increasing message ts such as "1732500000.000100"."""
        self._last_ts = max(time.time_ns() // 1000, self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _store(self, channel: str, message: Json) -> None:
        self.messages[(channel, message["ts"])] = message
        parent = self.messages.get((channel, message.get("thread_ts", "")))
        if parent is not None and parent is not message:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]

    def _channel(self, args: Json) -> Channel:
        """The channel named by `channel`; private channels the bot is not in are invisible, as in Slack."""
        channel = self.channels.get(rules.arg(args, "channel") or "")
        if channel is None or (channel.is_private and BOT_USER_ID not in channel.members):
            raise SlackError("channel_not_found")
        return channel

    def _conversation(self, args: Json) -> str:
        """The id of a channel or DM the fake knows."""
        conversation = rules.arg(args, "channel") or ""
        return conversation if conversation in self._ims.values() else self._channel(args).id

    def _post_target(self, args: Json) -> str:
        """Where chat.post* goes: a known channel, a DM id, or a user id (which opens a DM)."""
        target = rules.require(args, "channel", "channel_not_found")
        if _USER_ID.fullmatch(target):
            return self._open_im([target])[0]
        if target.startswith("D"):
            return self._ims.setdefault(target, target)
        channel = self._channel(args)
        rules.check(not channel.archived, "is_archived")
        return channel.id

    def _open_im(self, users: list[str]) -> tuple[str, bool]:
        key = ",".join(sorted(users))
        already_open = key in self._ims
        if not already_open:
            self._ims[key] = self._new_id("D" if len(users) == 1 else "G")
        return self._ims[key], already_open

    def _message(self, args: Json, ts_key: str) -> tuple[str, Json]:
        conversation = self._conversation(args)
        ts = rules.require(args, ts_key, "no_item_specified" if ts_key == "timestamp" else "message_not_found")
        message = self.messages.get((conversation, ts))
        if message is None:
            raise SlackError("message_not_found")
        return conversation, message

    def _save_view(self, view: Json, existing: Json | None) -> Json:
        view_id = existing["id"] if existing else self._new_id("V")
        ids = {"id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID, "root_view_id": view_id}
        defaults = {"private_metadata": "", "callback_id": "", "external_id": "", "state": {"values": {}}}
        self.views[view_id] = ids | defaults | view | {"hash": f"{int(time.time())}.{next(self._ids):08x}"}
        return self.views[view_id]

    # -- Web API methods: `_api_<method in snake case>` answers `<method>` ----------------------------------
    def _api_auth_test(self, args: Json) -> Json:
        workspace = {"url": WORKSPACE_URL, "team": TEAM, "team_id": TEAM_ID, "is_enterprise_install": False}
        return workspace | {"user": "firebreak", "user_id": BOT_USER_ID, "bot_id": BOT_ID}

    def _api_conversations_create(self, args: Json) -> Json:
        name = rules.check_channel_name(args.get("name"))
        rules.check(all(channel.name != name for channel in self.channels.values()), "name_taken")
        channel_id = self.add_channel(name, is_private=rules.flag(args, "is_private"), members=[BOT_USER_ID])
        self.channels[channel_id].creator = BOT_USER_ID
        return {"channel": self.channels[channel_id].to_json()}

    def _api_conversations_list(self, args: Json) -> Json:
        types = {kind.strip() for kind in (rules.arg(args, "types") or "public_channel").split(",")}
        channels = [
            channel.to_json()
            for channel in self.channels.values()
            if ("private_channel" if channel.is_private else "public_channel") in types
            and not (channel.archived and rules.flag(args, "exclude_archived"))
            and not (channel.is_private and BOT_USER_ID not in channel.members)
        ]
        page, cursor = rules.paginate(channels, args, default=100, maximum=1000)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def _api_conversations_info(self, args: Json) -> Json:
        return {"channel": self._channel(args).to_json()}

    def _api_conversations_invite(self, args: Json) -> Json:
        channel, users = self._channel(args), rules.user_ids(args)
        rules.check(not channel.archived, "is_archived")
        rules.check(BOT_USER_ID in channel.members, "not_in_channel")
        rules.check(bool(users), "no_user")
        rules.check(BOT_USER_ID not in users, "cant_invite_self")
        rules.check(all(_USER_ID.fullmatch(user) for user in users), "user_not_found")
        rules.check(not channel.members.issuperset(users), "already_in_channel")
        channel.members.update(users)
        return {"channel": channel.to_json()}

    def _api_conversations_set_topic(self, args: Json) -> Json:
        channel, topic = self._channel(args), args.get("topic")
        rules.check(not channel.archived, "is_archived")
        rules.check(BOT_USER_ID in channel.members, "not_in_channel")
        rules.check(isinstance(topic, str), "invalid_arguments")
        rules.check(len(str(topic)) <= 250, "too_long")
        channel.topic = str(topic)
        return {"channel": channel.to_json()}

    def _api_conversations_join(self, args: Json) -> Json:
        channel = self._channel(args)
        rules.check(not channel.is_private, "method_not_supported_for_channel_type")
        rules.check(not channel.archived, "is_archived")
        warning = "already_in_channel" if BOT_USER_ID in channel.members else None
        channel.members.add(BOT_USER_ID)
        result: Json = {"channel": channel.to_json()}
        return result | ({"warning": warning, "response_metadata": {"warnings": [warning]}} if warning else {})

    def _api_conversations_open(self, args: Json) -> Json:
        users = rules.user_ids(args)
        rules.check(bool(users), "users_list_not_supplied")
        rules.check(len(users) <= 8, "too_many_users")
        rules.check(all(_USER_ID.fullmatch(user) for user in users), "user_not_found")
        conversation, already_open = self._open_im(users)
        return {"channel": {"id": conversation}} | ({"no_op": True, "already_open": True} if already_open else {})

    def _api_conversations_history(self, args: Json) -> Json:
        conversation = self._conversation(args)
        oldest, latest, inclusive = (
            rules.ts_bound(args, "oldest"),
            rules.ts_bound(args, "latest"),
            rules.flag(args, "inclusive"),
        )

        def wanted(ts: Decimal) -> bool:
            after = oldest is None or ts > oldest or (inclusive and ts == oldest)
            return after and (latest is None or ts < latest or (inclusive and ts == latest))

        found = [
            message
            for (channel, ts), message in self.messages.items()
            if channel == conversation and message.get("thread_ts", ts) == ts and wanted(Decimal(ts))
        ]
        found.sort(key=lambda message: Decimal(message["ts"]), reverse=True)
        if not rules.flag(args, "include_all_metadata"):
            found = [{k: v for k, v in message.items() if k != "metadata"} for message in found]
        page, cursor = rules.paginate(found, args, default=100, maximum=999)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def _api_conversations_replies(self, args: Json) -> Json:
        conversation, ts = self._conversation(args), rules.require(args, "ts", "thread_not_found")
        thread = [m for (c, _), m in self.messages.items() if c == conversation and ts in (m["ts"], m.get("thread_ts"))]
        rules.check(bool(thread), "thread_not_found")
        thread.sort(key=lambda message: Decimal(message["ts"]))
        page, cursor = rules.paginate(thread, args, default=1000, maximum=1000)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def _api_chat_post_message(self, args: Json) -> Json:
        conversation, content = self._post_target(args), rules.check_message(args)
        message: Json = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID, "text": ""}
        message |= content | {"ts": self._new_ts()}
        if thread_ts := rules.arg(args, "thread_ts"):
            message["thread_ts"] = thread_ts
        self._store(conversation, message)
        return {"channel": conversation, "ts": message["ts"], "message": message}

    def _api_chat_update(self, args: Json) -> Json:
        conversation, message = self._message(args, "ts")
        rules.check(message.get("user") == BOT_USER_ID, "cant_update_message")
        message |= rules.check_message(args) | {"edited": {"user": BOT_USER_ID, "ts": self._new_ts()}}
        return {"channel": conversation, "ts": message["ts"], "text": message.get("text", ""), "message": message}

    def _api_chat_post_ephemeral(self, args: Json) -> Json:
        conversation = self._post_target(args)
        user = rules.require(args, "user", "user_not_found")
        rules.check(bool(_USER_ID.fullmatch(user)), "user_not_found")
        ephemeral = self.add_ephemeral(conversation, user, rules.check_message(args))
        return {"message_ts": ephemeral["ts"]}

    def _api_chat_get_permalink(self, args: Json) -> Json:
        conversation, message = self._message(args, "message_ts")
        permalink = f"{WORKSPACE_URL}archives/{conversation}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            permalink += f"?thread_ts={message['thread_ts']}&cid={conversation}"
        return {"channel": conversation, "permalink": permalink}

    def _api_pins_add(self, args: Json) -> Json:
        channel = self._channel(args)
        rules.check(not channel.archived, "is_archived")
        _, message = self._message(args, "timestamp")
        rules.check(message["ts"] not in channel.pins, "already_pinned")
        channel.pins.append(message["ts"])
        return {}

    def _api_reactions_add(self, args: Json) -> Json:
        name = rules.require(args, "name", "invalid_name")
        _, message = self._message(args, "timestamp")
        reactions: list[Json] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append(reaction := {"name": name, "users": [], "count": 0})
        rules.check(BOT_USER_ID not in reaction["users"], "already_reacted")
        reaction["users"].append(BOT_USER_ID)
        reaction["count"] += 1
        return {}

    def _api_views_open(self, args: Json) -> Json:
        trigger = rules.require(args, "trigger_id")
        view = self._save_view(rules.check_view(args, "modal"), None)
        if trigger in self.triggers:
            self.view_owners[view["id"]] = self.triggers[trigger]
        return {"view": view}

    def _api_views_push(self, args: Json) -> Json:
        """A modal on top of the one open (it closes back to the one below); Slack stacks three at most."""
        trigger = rules.require(args, "trigger_id")
        user = self.triggers.get(trigger)
        rules.check(list(self.view_owners.values()).count(user or "") < 3, "push_limit_reached")
        view = self._save_view(rules.check_view(args, "modal"), None)
        if user is not None:
            self.view_owners[view["id"]] = user
        return {"view": view}

    def _api_views_update(self, args: Json) -> Json:
        view_id, external_id = rules.arg(args, "view_id"), rules.arg(args, "external_id")
        rules.check(view_id is not None or external_id is not None, "invalid_arguments")
        found = [
            v for v in self.views.values() if view_id in (None, v["id"]) and external_id in (None, v["external_id"])
        ]
        rules.check(bool(found), "not_found")
        rules.check(rules.arg(args, "hash") in (None, found[0]["hash"]), "hash_conflict")
        return {"view": self._save_view(rules.check_view(args, found[0]["type"]), found[0])}

    def _api_views_publish(self, args: Json) -> Json:
        user_id, view = rules.require(args, "user_id"), rules.check_view(args, "home")
        saved = self._save_view(view, self.views.get(self._homes.get(user_id, "")))
        self._homes[user_id] = saved["id"]
        return {"view": saved}

    def _api_users_info(self, args: Json) -> Json:
        user = self.users.get(rules.require(args, "user", "user_not_found"))
        rules.check(user is not None, "user_not_found")
        return {"user": user}

    def _api_users_lookup_by_email(self, args: Json) -> Json:
        email = rules.require(args, "email", "users_not_found")
        users = [user for user in self.users.values() if user["profile"].get("email") == email]
        rules.check(bool(users), "users_not_found")
        return {"user": users[0]}


async def start_emulator() -> SlackEmulator:
    """Start a SlackEmulator; the caller closes it with `await fake.close()`."""
    fake = SlackEmulator()
    await fake.start()
    return fake
