"""The fake Slack Web API, driven over HTTP by the real slack_sdk AsyncWebClient."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from sandbox.slack_api import BOT_ID, BOT_USER_ID, SlackEmulator

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*SEV-2* Checkout is down"}}
CONFIRM = {
    "title": {"type": "plain_text", "text": "Sure?"},
    "text": {"type": "plain_text", "text": "Really."},
    "confirm": {"type": "plain_text", "text": "Yes"},
    "deny": {"type": "plain_text", "text": "No"},
}


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator() as fake:
        yield fake


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=slack.url)


async def slack_error(call: Any) -> dict[str, Any]:
    """Await a client call that must fail; return Slack's answer."""
    with pytest.raises(SlackApiError) as failure:
        await call
    data: dict[str, Any] = failure.value.response.data
    return data


def button(**overrides: Any) -> dict[str, Any]:
    element = {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "action_id": "ack"}
    return {"type": "actions", "elements": [element | overrides]}


async def test_url_is_a_loopback_api_base(slack: SlackEmulator) -> None:
    """The base URL points at 127.0.0.1 on a free port and ends with /api/."""
    assert slack.url.startswith("http://127.0.0.1:")
    assert slack.url.endswith("/api/")


async def test_auth_test_names_the_bot(client: AsyncWebClient) -> None:
    """auth.test answers with the bot's user and bot ids."""
    response = await client.auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == (BOT_USER_ID, BOT_ID, "T0FAKE")


async def test_records_json_body_and_bearer_token(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """A JSON call (chat.postMessage) is recorded with its parsed body and the bearer token."""
    channel = slack.add_channel("general")
    await client.chat_postMessage(channel=channel, text="hello", blocks=[SECTION])
    [call] = slack.calls_to("chat.postMessage")
    assert call.args == {"channel": channel, "text": "hello", "blocks": [SECTION]}
    assert (call.token, call.ok) == ("xoxb-test", True)


async def test_records_form_body_and_decodes_json_fields(slack: SlackEmulator) -> None:
    """A form body is parsed, its `blocks` JSON string decoded, and a `token` field taken as the token."""
    channel = slack.add_channel("general")
    form = {"token": "xoxb-form", "channel": channel, "text": "hi", "blocks": json.dumps([SECTION])}
    await AsyncWebClient(base_url=slack.url).api_call("chat.postMessage", data=form)
    [call] = slack.calls
    assert (call.token, call.args) == ("xoxb-form", {"channel": channel, "text": "hi", "blocks": [SECTION]})


async def test_missing_token_is_not_authed(slack: SlackEmulator) -> None:
    """A call without a token answers not_authed and is still recorded."""
    answer = await slack_error(AsyncWebClient(base_url=slack.url).auth_test())
    assert answer == {"ok": False, "error": "not_authed"}
    assert (slack.calls[0].token, slack.calls[0].error) == (None, "not_authed")


async def test_unknown_method(client: AsyncWebClient) -> None:
    """A method the fake does not know answers unknown_method."""
    assert (await slack_error(client.api_call("chat.fly")))["error"] == "unknown_method"


async def test_create_channel_answers_slack_shape(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """conversations.create answers the new channel, and the bot is a member of it."""
    response = await client.conversations_create(name="inc-1-checkout")
    channel = response["channel"]
    assert channel["id"].startswith("C")
    assert (channel["name"], channel["is_channel"], channel["is_archived"]) == ("inc-1-checkout", True, False)
    assert slack.channels[channel["id"]].members == {BOT_USER_ID}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Inc-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc.1", "invalid_name_specials"),
        ("i" * 81, "invalid_name_maxlength"),
        ("", "invalid_name_required"),
        ("--", "invalid_name_punctuation"),
    ],
)
async def test_channel_name_rules(slack: SlackEmulator, client: AsyncWebClient, name: str, error: str) -> None:
    """Names must be 1-80 chars of lowercase letters, digits, - and _."""
    assert (await slack_error(client.conversations_create(name=name)))["error"] == error
    assert slack.channels == {}


@pytest.mark.parametrize("archived", [False, True])
async def test_existing_name_is_taken(slack: SlackEmulator, client: AsyncWebClient, archived: bool) -> None:
    """A name used by any channel, archived or not, answers name_taken."""
    slack.add_channel("inc-1-checkout", archived=archived)
    assert (await slack_error(client.conversations_create(name="inc-1-checkout")))["error"] == "name_taken"
    assert len(slack.channels) == 1


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([{"type": "divider"}] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [button(text={"type": "plain_text", "text": "x" * 76})],
            "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        ),
        (
            [button(action_id="a" * 256)],
            "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
        ),
        ([SECTION | {"block_id": "b" * 256}], "must be less than 256 characters [json-pointer:/blocks/0/block_id]"),
        (
            [SECTION | {"block_id": "x"}, SECTION | {"block_id": "x"}],
            "duplicate block_id: x [json-pointer:/blocks/1/block_id]",
        ),
        ([{"type": "fancy"}], "unsupported type: fancy [json-pointer:/blocks/0/type]"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
            "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}],
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            [button(confirm=CONFIRM | {"text": {"type": "plain_text", "text": "x" * 301}})],
            "must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]",
        ),
        (
            [button(value="v" * 2001)],
            "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
    ],
)
async def test_block_kit_limits(
    slack: SlackEmulator, client: AsyncWebClient, blocks: list[dict[str, Any]], expected: str
) -> None:
    """Blocks over Slack's limits answer invalid_blocks with the offending path, and nothing is posted."""
    channel = slack.add_channel("general")
    answer = await slack_error(client.chat_postMessage(channel=channel, text="card", blocks=blocks))
    assert (answer["error"], answer["errors"]) == ("invalid_blocks", [expected])
    assert slack.messages == {}


async def test_long_text_is_msg_too_long(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """Message text over 40,000 characters answers msg_too_long."""
    channel = slack.add_channel("general")
    assert (await slack_error(client.chat_postMessage(channel=channel, text="x" * 40001)))["error"] == "msg_too_long"


async def test_message_needs_text_or_blocks(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """chat.postMessage without text, blocks or attachments answers no_text."""
    channel = slack.add_channel("general")
    answer = await slack_error(client.api_call("chat.postMessage", json={"channel": channel}))
    assert answer["error"] == "no_text"


async def test_post_to_unknown_channel(client: AsyncWebClient) -> None:
    """Posting to a channel that does not exist answers channel_not_found."""
    answer = await slack_error(client.chat_postMessage(channel="C0NOPE", text="hi"))
    assert answer["error"] == "channel_not_found"


async def test_modal_block_limit_is_100(client: AsyncWebClient) -> None:
    """A modal holds 100 blocks; 101 answers invalid_arguments (Slack's code for views) with the path."""
    title = {"type": "plain_text", "text": "Declare"}
    view: dict[str, Any] = {"type": "modal", "title": title, "blocks": [{"type": "divider"}] * 100}
    opened = await client.views_open(trigger_id="t1", view=view)
    assert opened["view"]["id"].startswith("V")
    answer = await slack_error(client.views_open(trigger_id="t2", view=view | {"blocks": view["blocks"] * 2}))
    assert (answer["error"], answer["errors"]) == (
        "invalid_arguments",
        ["no more than 100 items allowed [json-pointer:/view/blocks]"],
    )


async def test_post_then_update_changes_the_stored_message(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """chat.postMessage answers a unique increasing ts; chat.update replaces the stored text and blocks."""
    channel = slack.add_channel("general")
    first = await client.chat_postMessage(channel=channel, text="one")
    second = await client.chat_postMessage(channel=channel, text="two")
    assert float(second["ts"]) > float(first["ts"])
    await client.chat_update(channel=channel, ts=first["ts"], text="one, edited", blocks=[SECTION])
    stored = slack.messages[(channel, first["ts"])]
    assert (stored["text"], stored["blocks"], stored["user"]) == ("one, edited", [SECTION], BOT_USER_ID)


async def test_update_of_unknown_ts_is_message_not_found(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """chat.update of a ts that was never posted answers message_not_found."""
    channel = slack.add_channel("general")
    answer = await slack_error(client.chat_update(channel=channel, ts="1732500000.000100", text="x"))
    assert answer["error"] == "message_not_found"


async def test_scripted_error_then_success(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """fail() makes the next call answer the scripted error; the call after it succeeds."""
    slack.fail("conversations.create", "restricted_action")
    assert (await slack_error(client.conversations_create(name="inc-1")))["error"] == "restricted_action"
    await client.conversations_create(name="inc-1")
    assert [call.error for call in slack.calls_to("conversations.create")] == ["restricted_action", None]


async def test_scripted_server_error_status(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """fail(status=503) answers that HTTP status."""
    slack.fail("chat.postMessage", "service_unavailable", status=503)
    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel="D0DM", text="hi")
    assert failure.value.response.status_code == 503


async def test_rate_limit_is_retried_by_the_sdk_handler(slack: SlackEmulator) -> None:
    """A scripted 429 with Retry-After: 1 is retried by AsyncRateLimitErrorRetryHandler and then succeeds."""
    slack.fail("conversations.create", "ratelimited", status=429, retry_after=1)
    client = AsyncWebClient(
        token="xoxb-test", base_url=slack.url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    response = await client.conversations_create(name="inc-1")
    assert response["channel"]["name"] == "inc-1"
    assert [call.error for call in slack.calls_to("conversations.create")] == ["ratelimited", None]


async def test_wait_for_returns_successful_calls(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """wait_for wakes when the awaited call is recorded and returns only the successful calls."""
    slack.fail("chat.postMessage", "ratelimited")

    async def post_twice() -> None:
        await slack_error(client.chat_postMessage(channel="D0DM", text="first"))
        await client.chat_postMessage(channel="D0DM", text="second")

    task = asyncio.create_task(post_twice())
    calls = await slack.wait_for("chat.postMessage", timeout=2)
    await task
    assert [call.args["text"] for call in calls] == ["second"]


async def test_wait_for_times_out_listing_calls_seen(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """wait_for raises AssertionError naming the methods seen when the call never succeeds."""
    await client.auth_test()
    await slack_error(client.chat_update(channel="D0DM", ts="1.000001", text="x"))
    with pytest.raises(AssertionError, match=r"got 0; seen: auth.test, chat.update \(channel_not_found\)"):
        await slack.wait_for("chat.update", timeout=0.05)


async def test_list_paginates_with_cursor(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """conversations.list pages by limit and cursor, next_cursor is "" at the end, exclude_archived filters."""
    for n in range(5):
        slack.add_channel(f"c{n}", archived=n == 4)
    first = await client.conversations_list(limit=3, exclude_archived=True)
    cursor = first["response_metadata"]["next_cursor"]
    last = await client.conversations_list(limit=3, cursor=cursor, exclude_archived=True)
    assert [channel["name"] for channel in first["channels"]] == ["c0", "c1", "c2"]
    assert cursor != ""
    assert [channel["name"] for channel in last["channels"]] == ["c3"]
    assert last["response_metadata"]["next_cursor"] == ""


async def test_invite_adds_members_once(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """conversations.invite adds users; inviting only members answers already_in_channel."""
    channel = (await client.conversations_create(name="inc-1"))["channel"]["id"]
    await client.conversations_invite(channel=channel, users=["U0ALICE", "U0BOB"])
    assert slack.channels[channel].members == {BOT_USER_ID, "U0ALICE", "U0BOB"}
    answer = await slack_error(client.conversations_invite(channel=channel, users="U0ALICE"))
    assert answer["error"] == "already_in_channel"


async def test_topic_pin_and_permalink(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """setTopic stores the topic; pins.add pins once (then already_pinned); getPermalink links the message."""
    channel = (await client.conversations_create(name="inc-1"))["channel"]["id"]
    await client.conversations_setTopic(channel=channel, topic="SEV-2 checkout")
    ts = (await client.chat_postMessage(channel=channel, text="card"))["ts"]
    await client.pins_add(channel=channel, timestamp=ts)
    assert (await slack_error(client.pins_add(channel=channel, timestamp=ts)))["error"] == "already_pinned"
    link = (await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"]
    assert (slack.channels[channel].topic, slack.channels[channel].pins) == ("SEV-2 checkout", [ts])
    assert link == f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"


async def test_history_is_newest_first_and_replies_follow_threads(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """conversations.history lists top-level messages newest first; replies lists a thread oldest first."""
    channel = slack.add_channel("general")
    first = slack.add_message(channel, "first", "U0ALICE")
    reply = slack.add_message(channel, "in thread", "U0BOB", thread_ts=first)
    slack.add_message(channel, "second", "U0BOB")
    history = await client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["second", "first"]
    older = history["messages"][1]
    assert (older["type"], older["user"], older["ts"], older["reply_count"]) == ("message", "U0ALICE", first, 1)
    oldest = await client.conversations_history(channel=channel, oldest=first, inclusive=True, limit=1)
    assert (oldest["messages"][0]["text"], oldest["has_more"]) == ("second", True)
    replies = await client.conversations_replies(channel=channel, ts=first)
    assert [m["ts"] for m in replies["messages"]] == [first, reply]


async def test_dm_to_a_user_opens_one_conversation(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """conversations.open gives a D... id, and posting to the user id lands in that DM."""
    opened = await client.conversations_open(users="U0ALICE")
    dm = opened["channel"]["id"]
    posted = await client.chat_postMessage(channel="U0ALICE", text="you are commander")
    assert dm.startswith("D")
    assert posted["channel"] == dm
    assert slack.messages[(dm, posted["ts"])]["text"] == "you are commander"


async def test_users_are_found_only_when_seeded(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """users.lookupByEmail finds a seeded user and answers users_not_found otherwise."""
    alice = slack.add_user("alice", email="alice@example.com")
    assert (await client.users_lookupByEmail(email="alice@example.com"))["user"]["id"] == alice
    assert (await client.users_info(user=alice))["user"]["name"] == "alice"
    answer = await slack_error(client.users_lookupByEmail(email="bob@example.com"))
    assert answer["error"] == "users_not_found"


async def test_response_url_posts_meet_message_limits(slack: SlackEmulator) -> None:
    """A response_url message over Slack's limits is refused with the same error as chat.postMessage."""
    webhook = AsyncWebhookClient(slack.url.removesuffix("api/") + "response/abc")
    await webhook.send(text="x", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    assert slack.calls_to("response_url")[0].error == "invalid_blocks"


async def test_response_url_posts_are_recorded(slack: SlackEmulator) -> None:
    """A post to <base>/response/<id> (as Bolt's respond() sends it) is recorded as a "response_url" call."""
    webhook = AsyncWebhookClient(slack.url.removesuffix("api/") + "response/abc")
    response = await webhook.send(text="Already acknowledged", response_type="ephemeral")
    assert response.status_code == 200
    assert slack.calls_to("response_url")[0].args == {"text": "Already acknowledged", "response_type": "ephemeral"}


async def test_delay_slows_one_method_for_one_channel(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """A delayed method answers late for the channel named, and at once for every other channel."""
    slow, fast = slack.add_channel("slow", members=[BOT_USER_ID]), slack.add_channel("fast", members=[BOT_USER_ID])
    slack.delay("chat.postMessage", 0.5, channel=slow)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.chat_postMessage(channel=fast, text="quick")
    quick = loop.time() - started
    await client.chat_postMessage(channel=slow, text="late")
    late = loop.time() - started - quick
    slack.delay("chat.postMessage", 0)
    await client.chat_postMessage(channel=slow, text="quick again")
    assert quick < 0.4
    assert late >= 0.45
    assert [call.args["text"] for call in slack.calls_to("chat.postMessage")] == ["quick", "late", "quick again"]


async def test_views_push_stacks_at_most_three_modals() -> None:
    """views.push shows a modal above the open one, to the person whose action it answers; a fourth is refused."""
    async with SlackEmulator() as slack:
        user = slack.add_user("casey")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
        view = {"type": "modal", "title": {"type": "plain_text", "text": "Step"}, "blocks": []}
        opened = await client.views_open(trigger_id=slack.new_trigger(user), view=view)
        for _ in range(2):
            await client.views_push(trigger_id=slack.new_trigger(user), view=view)
        assert list(slack.view_owners.values()) == [user, user, user]
        assert slack.view_owners[opened["view"]["id"]] == user
        with pytest.raises(SlackApiError) as refused:
            await client.views_push(trigger_id=slack.new_trigger(user), view=view)
        assert refused.value.response["error"] == "push_limit_reached"
