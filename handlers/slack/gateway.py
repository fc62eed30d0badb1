"""SlackGateway: the only code that calls the Slack Web API. Small verbs, our own return types."""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

log = structlog.get_logger()

Block = Mapping[str, object]
_CREATE_ATTEMPTS = 3
_TIMEOUT = 10  # seconds a Web API call may take


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


@dataclass(frozen=True)
class Message:
    channel: str
    ts: str


@dataclass(frozen=True)
class FetchedMessage:
    ts: str
    user: str | None
    text: str
    from_bot: bool

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(float(self.ts), UTC)


class SlackCalls(Protocol):
    """Counts Web API calls per method, and failures per method and error code (the metrics recorder)."""

    def slack_called(self, method: str, error: str | None) -> None: ...


class _CountedClient(AsyncWebClient):
    """Every Web API call goes through `api_call`: count it there, once per call (retries included)."""

    calls: SlackCalls | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            if self.calls is not None:
                self.calls.slack_called(api_method, error_code(error))
            raise
        if self.calls is not None:
            self.calls.slack_called(api_method, None)
        return response


def http_session() -> aiohttp.ClientSession:
    """The HTTP session for `build_client`, to be closed by its owner: Web API calls then reuse kept-alive
    connections (without one, slack_sdk opens and closes a connection per call)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT))


def build_client(
    token: str, base_url: str, calls: SlackCalls | None = None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """An AsyncWebClient that retries 429 (honouring Retry-After), 5xx and connection errors; with `calls`,
    each call is counted; with `session` (`http_session`), calls go over its connections."""
    client = _CountedClient(
        token=token,
        base_url=base_url,
        timeout=_TIMEOUT,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    client.calls = calls
    return client


def error_code(error: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`, `ratelimited`, ...) from a failed call."""
    data = error.response.data
    code = data.get("error") if isinstance(data, dict) else None
    return str(code or f"http_{error.response.status_code}")


def describe_failure(error: SlackApiError) -> str:
    """`method: error`, e.g. `chat.update: message_not_found`, for logs and for telling the user."""
    method = str(error.response.api_url).rstrip("/").rsplit("/", 1)[-1]
    return f"{method}: {error_code(error)}"


class SlackGateway:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def create_channel(self, name: str) -> Channel:
        """Create a public channel. A taken name is never adopted (anyone may create `inc-2-…` in advance, or an
        archived channel keeps it): the channel gets a name with a random suffix instead."""
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                response = await self._client.conversations_create(name=name if attempt == 0 else _suffixed(name))
            except SlackApiError as error:
                if error_code(error) != "name_taken" or attempt + 1 == _CREATE_ATTEMPTS:
                    raise
                continue
            return _channel(response)
        raise AssertionError("unreachable")

    async def invite(self, channel: str, users: Sequence[str]) -> None:
        """Invite users; people already in the channel (or the bot itself) are fine."""
        try:
            await self._client.conversations_invite(channel=channel, users=",".join(users))
        except SlackApiError as error:
            if error_code(error) not in {"already_in_channel", "cant_invite_self"}:
                raise

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._client.conversations_setTopic(channel=channel, topic=topic[:250])

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        tag: tuple[str, str] | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """Post a message (in a thread, with `thread_ts`); `tag` (kind, key) goes with it as message metadata,
        for `find_tagged` to find."""
        metadata = {"event_type": tag[0], "event_payload": {"key": tag[1]}} if tag else None
        response = await self._client.chat_postMessage(
            channel=channel, text=text, blocks=_blocks(blocks), metadata=metadata, thread_ts=thread_ts
        )
        return Message(channel=str(response["channel"]), ts=str(response["ts"]))

    async def find_posted(self, channel: str, tag: tuple[str, str], thread_ts: str | None = None) -> Message | None:
        """`find_tagged` for a retry deciding whether to post again: a history Slack will not show (a missing
        `*:history` scope) counts as not posted, and is logged. Better twice than never."""
        try:
            return await self.find_tagged(channel, tag, thread_ts=thread_ts)
        except SlackApiError as error:
            log.warning("history_unreadable", failure=describe_failure(error))
            return None

    async def find_tagged(
        self, channel: str, tag: tuple[str, str], within: int = 50, thread_ts: str | None = None
    ) -> Message | None:
        """The newest of the last `within` messages in `channel` (or the first of the thread at `thread_ts`)
        posted with `tag`, if any."""
        if thread_ts is None:
            response = await self._client.conversations_history(
                channel=channel, limit=within, include_all_metadata=True
            )
        else:
            response = await self._client.conversations_replies(
                channel=channel, ts=thread_ts, limit=within, include_all_metadata=True
            )
        wanted = {"event_type": tag[0], "event_payload": {"key": tag[1]}}
        messages: list[dict[str, object]] = response.get("messages", [])
        found = next((message for message in messages if message.get("metadata") == wanted), None)
        return None if found is None else Message(channel, str(found["ts"]))

    async def update(self, message: Message, text: str, blocks: Sequence[Block] | None = None) -> None:
        await self._client.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=_blocks(blocks))

    async def pin(self, message: Message) -> None:
        try:
            await self._client.pins_add(channel=message.channel, timestamp=message.ts)
        except SlackApiError as error:
            if error_code(error) != "already_pinned":
                raise

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Sequence[Block] | None = None) -> None:
        await self._client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=_blocks(blocks))

    async def open_dm(self, user: str) -> str:
        """The id of the bot's direct-message channel with `user`."""
        response = await self._client.conversations_open(users=user)
        return str(response["channel"]["id"])

    async def find_user(self, email: str) -> str | None:
        """The Slack user ID for an email address, or None if there is no such user."""
        try:
            response = await self._client.users_lookupByEmail(email=email)
        except SlackApiError as error:
            if error_code(error) == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    async def open_modal(self, trigger_id: str, view: Block) -> None:
        await self._client.views_open(trigger_id=trigger_id, view=dict(view))

    async def update_modal(self, view_id: str, view: Block, hash: str | None = None) -> None:
        """Replace an open modal's view; with `hash`, only if nobody changed it since (else `hash_conflict`)."""
        await self._client.views_update(view_id=view_id, view=dict(view), hash=hash)

    async def permalink(self, message: Message) -> str:
        response = await self._client.chat_getPermalink(channel=message.channel, message_ts=message.ts)
        return str(response["permalink"])

    async def fetch_message(self, channel: str, ts: str) -> FetchedMessage | None:
        """The message at `ts` in `channel`, or None if it is gone."""
        response = await self._client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
        for raw in response.get("messages") or []:
            if raw.get("ts") == ts:
                user = raw.get("user")
                return FetchedMessage(ts, user, str(raw.get("text", "")), from_bot="bot_id" in raw)
        return None


def _channel(response: AsyncSlackResponse) -> Channel:
    raw = response["channel"]
    return Channel(id=str(raw["id"]), name=str(raw["name"]))


def _suffixed(name: str) -> str:
    """`name` with an unpredictable suffix, within Slack's 80 characters."""
    suffix = f"-{secrets.token_hex(3)}"
    return name[: 80 - len(suffix)] + suffix


def _blocks(blocks: Sequence[Block] | None) -> list[dict[str, object]] | None:
    return [dict(block) for block in blocks] if blocks is not None else None
