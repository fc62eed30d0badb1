"""The sandbox page's actions: what a person does reaches the app signed and shaped as Slack sends it."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from sandbox.page import Sandbox, Webhook, application
from sandbox.people import AppLink, People, slash_text
from sandbox.slack_api import SlackEmulator

SECRET = "page-test-secret"


class RecordingApp:
    """A stand-in for the hosted app: verifies Slack's signature and records what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.reply: dict[str, Any] = {"text": "Got it"}

    async def handle(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        verified = SignatureVerifier(SECRET).is_valid_request(body, dict(request.headers))
        form = {key: values[0] for key, values in parse_qs(body).items()}
        parsed = json.loads(form["payload"]) if "payload" in form else form if form else json.loads(body)
        self.received.append({"verified": verified, "body": parsed})
        return web.json_response(self.reply)


@pytest.fixture
async def page() -> AsyncIterator[tuple[TestClient[Any, Any], SlackEmulator, RecordingApp]]:
    recorder = RecordingApp()
    hosted = web.Application()
    hosted.router.add_post("/slack/events", recorder.handle)
    hosted.router.add_post("/hook", recorder.handle)
    async with TestServer(hosted, host="127.0.0.1") as app_server, SlackEmulator() as slack:
        casey = slack.add_user("casey", real_name="Casey", user_id="U0CASEY")
        slack.add_user("priya", real_name="Priya", user_id="U0PRIYA")
        slack.add_channel("general", channel_id="C0GENERAL", members=[casey])
        link = AppLink(str(app_server.make_url("/slack/events")), SECRET)
        hook = Webhook(
            "Fire", str(app_server.make_url("/hook")), b'{"alert": true}', {"Content-Type": "application/json"}
        )
        sandbox = Sandbox(slack, People(slack, link), [casey], webhooks={"fire": hook})
        async with TestClient(TestServer(application(sandbox), host="127.0.0.1")) as client:
            yield client, slack, recorder


def test_typed_text_is_escaped_and_mentions_become_ids() -> None:
    """Slack escapes &, < and > in command text and turns @name into <@ID|name> (should_escape)."""
    users = {"U0PRIYA": {"name": "priya"}}
    assert slash_text("page @priya <now> & @nobody", users) == "page <@U0PRIYA|priya> &lt;now&gt; &amp; @nobody"


async def test_a_command_reaches_the_app_signed_and_its_reply_is_ephemeral(page) -> None:
    """A typed slash command is a signed form POST; the app's reply is shown to the typing person only."""
    client, slack, recorder = page
    response = await client.post(
        "/do/command", json={"user": "U0CASEY", "channel": "C0GENERAL", "text": "/incident help"}
    )
    assert response.status == 200
    [received] = recorder.received
    assert received["verified"]
    assert (received["body"]["command"], received["body"]["text"]) == ("/incident", "help")
    assert received["body"]["trigger_id"] in slack.triggers
    assert [(e["user"], e["text"]) for e in slack.ephemerals] == [("U0CASEY", "Got it")]
    state = await (await client.get("/state?user=U0PRIYA")).json()
    assert state["ephemerals"] == []


async def test_a_reaction_is_stored_and_sent_as_an_event(page) -> None:
    """A reaction shows on the message and reaches the app as a signed reaction_added event."""
    client, slack, recorder = page
    ts = slack.add_message("C0GENERAL", "rolled back", "U0CASEY")
    response = await client.post(
        "/do/react", json={"user": "U0CASEY", "channel": "C0GENERAL", "ts": ts, "name": "pushpin"}
    )
    assert response.status == 200
    assert slack.messages[("C0GENERAL", ts)]["reactions"] == [{"name": "pushpin", "users": ["U0CASEY"], "count": 1}]
    event = recorder.received[-1]
    assert event["verified"]
    assert event["body"]["event"]["type"] == "reaction_added"
    assert event["body"]["event"]["item"] == {"type": "message", "channel": "C0GENERAL", "ts": ts}


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "application/x-www-form-urlencoded"}, "user=U0CASEY", 403),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, '{"user": "U0CASEY"}', 403),
        ({"Content-Type": "application/json"}, "not json", 400),
        ({"Content-Type": "application/json"}, '{"user": "U0NOBODY", "channel": "C0GENERAL", "text": "/x"}', 400),
        ({"Content-Type": "application/json"}, '{"user": "U0CASEY", "channel": "C0GENERAL"}', 400),
    ],
)
async def test_actions_refuse_other_pages_and_bad_bodies(page, headers, body, status) -> None:
    """Only JSON from the page itself, naming a person, is acted on; nothing reaches the app otherwise."""
    client, _, recorder = page
    response = await client.post("/do/command", data=body, headers=headers)
    assert response.status == status
    assert recorder.received == []


async def test_fire_sends_the_webhook_and_says_its_status(page) -> None:
    """A page webhook button posts its body to its URL and answers with the HTTP status."""
    client, _, recorder = page
    response = await client.post("/do/webhook", json={"user": "U0CASEY", "name": "fire"})
    assert await response.json() == {"status": 200}
    assert recorder.received[-1]["body"] == {"alert": True}


async def test_the_stream_says_when_the_workspace_changed(page) -> None:
    """The event stream sends `changed` at once, then again when something happens."""
    client, slack, _ = page
    response = await client.get("/stream")
    first = await response.content.readuntil(b"\n\n")
    assert first.startswith(b"event: changed")
    await slack.note_change()
    second = await response.content.readuntil(b"\n\n")
    assert second.startswith(b"event: changed")
    assert int(second.split(b"data: ")[1]) > int(first.split(b"data: ")[1])
    response.close()


async def test_an_open_stream_does_not_hold_the_server_stopping(page) -> None:
    """A page left open does not keep the bot from stopping until the stream's 15 s heartbeat: the stream ends
    as the server shuts down (Ctrl-C on `make run`, or SIGTERM, with the sandbox open in a browser)."""
    client, _, _ = page
    response = await client.get("/stream")
    await response.content.readuntil(b"\n\n")
    async with asyncio.timeout(5):  # the heartbeat is 15 s: without the shutdown hook, the stop waits for it
        await client.server.close()
        assert await response.content.read() == b""  # the stream ended, it was not cut off
