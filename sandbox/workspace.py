"""The emulated workspace: its channels, messages, people, DMs, modals and ephemeral messages, and the
lookups Slack's Web API methods answer from. No HTTP here: `WebApi` and `SlackEmulator` build on it."""

import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sandbox import blockkit as rules
from sandbox.blockkit import Json, SlackError

TEAM_ID, TEAM, WORKSPACE_URL = "T0FAKE", "Firebreak Test", "https://fake.slack.com/"
BOT_USER_ID, BOT_ID, APP_ID = "U0BOT", "B0BOT", "A0FAKE"
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


@dataclass
class Channel:
    """A channel as the emulator keeps it; `to_json()` is Slack's conversation object."""

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


class Workspace:
    """What the emulator knows: every channel, message, person, DM, modal and ephemeral message."""

    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Json] = {}
        self.users: dict[str, Json] = {}
        self.views: dict[str, Json] = {}
        self.ephemerals: list[Json] = []  # {"channel", "user", "ts", "text", "blocks"}: seen by one person only
        self.view_owners: dict[str, str] = {}  # view id -> the user it is open for
        self.triggers: dict[str, str] = {}  # trigger_id -> the user whose action made it
        self._ims: dict[str, str] = {}  # sorted, comma-joined user ids -> D... (G... for several users)
        self._homes: dict[str, str] = {}  # user id -> Home tab view id
        self._ids = itertools.count(1)
        self._last_ts = 0
        self.add_user("firebreak", user_id=BOT_USER_ID)

    def dm_user(self, conversation: str) -> str | None:
        """The person in a one-to-one DM the bot opened, or None if `conversation` is not one."""
        return next((users for users, im in self._ims.items() if im == conversation and "," not in users), None)

    def dm_conversations(self) -> list[str]:
        """The ids of every DM the bot has opened."""
        return list(self._ims.values())

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

    def delete_message(self, channel: str, ts: str) -> None:
        """A workspace admin deletes a message (the bot's, say): it is gone from history, pins and updates."""
        del self.messages[(channel, ts)]
        if channel in self.channels and ts in self.channels[channel].pins:
            self.channels[channel].pins.remove(ts)

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
        if USER_ID.fullmatch(target):
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
