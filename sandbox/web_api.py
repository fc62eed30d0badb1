"""Slack's Web API methods as the emulator answers them: `_api_<method in snake case>` answers `<method>`,
checking arguments and Block Kit as Slack does and answering with Slack's shapes and error names."""

from decimal import Decimal

from sandbox import blockkit as rules
from sandbox.blockkit import Json
from sandbox.workspace import BOT_ID, BOT_USER_ID, TEAM, TEAM_ID, USER_ID, WORKSPACE_URL, Workspace


class WebApi(Workspace):
    """The Web API methods, answering from the workspace."""

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
        rules.check(all(USER_ID.fullmatch(user) for user in users), "user_not_found")
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
        rules.check(all(USER_ID.fullmatch(user) for user in users), "user_not_found")
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
        rules.check(bool(USER_ID.fullmatch(user)), "user_not_found")
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
