"""`kill -9` at the points where alert and paging work meets Slack: each effect is carried out once, by
whichever process is alive.

- an alert-driven card refresh waiting out its pacing;
- an alert group's first message in the alerts channel, stored by Slack but not yet noted;
- a runbook post, stored by Slack but not yet marked done;
- a page's notification-gateway webhook in its retry window.
"""

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.faults.conftest import ALERTS, Start
from tests.faults.scenario import PRIMARY
from tests.fixtures import ALERTMANAGER as FIXTURES
from tests.processes import BotProcess

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return payload


def _with_alert(payload: dict[str, Any], fingerprint: str, **labels: str) -> dict[str, Any]:
    """The notification again, with one more firing alert (its own fingerprint and labels)."""
    grown = copy.deepcopy(payload)
    alert = copy.deepcopy(payload["alerts"][0])
    alert["fingerprint"], alert["labels"] = fingerprint, alert["labels"] | labels
    grown["alerts"].append(alert)
    return grown


async def _alert(bot: BotProcess, payload: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{bot.url}/webhooks/alertmanager", json=payload) as r:
        assert r.status == 200, await r.text()


async def _timeline(bot: BotProcess, number: int = 1) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{bot.url}/api/incidents/{number}/timeline") as r:
        assert r.status == 200, await r.text()
        events: list[dict[str, Any]] = (await r.json())["events"]
        return events


async def _processed(redis: Redis, keys: Keys) -> None:
    """Wait until every admitted notification is processed (acknowledged in both lanes' consumer group)."""
    for _ in range(100):  # bounded: 10 s
        lanes = [keys.alert_inbox(), keys.alert_inbox_priority()]
        pending = [await redis.xpending(lane, "firebreak") for lane in lanes if await redis.exists(lane)]
        if all(info["pending"] == 0 for info in pending):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("notifications still pending after 10 s")


async def _until(done: Callable[[], bool], seconds: float = 15) -> None:
    """Wait until `done()` holds (a bounded wait), then a moment more, so a second delivery would show."""
    for _ in range(int(seconds * 10)):
        if done():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


def _channel_of(slack: SlackEmulator, name: str) -> str:
    return next(c.id for c in slack.channels.values() if c.name == name)


async def test_a_card_refresh_waiting_out_its_pacing_is_rendered_by_the_next_process(
    processes: Start, slack: SlackEmulator, redis: Redis, keys: Keys
) -> None:
    """Killed while an alert's card refresh waited for its turn: the next process renders the card."""
    first = await processes("first", CARD_UPDATE_INTERVAL="60")
    declared = _fixture("01-firing-single-critical")
    await _alert(first, declared)
    [pin] = await slack.wait_for("pins.add", timeout=10)
    card = (str(pin.args["channel"]), str(pin.args["timestamp"]))
    await _alert(first, second := _with_alert(declared, "a000000000000002", instance="checkout-2"))
    await slack.wait_for("chat.update", timeout=10)  # the first refresh goes out at once
    await _alert(first, _with_alert(second, "a000000000000003", instance="checkout-3"))
    await _processed(redis, keys)  # stored; its refresh waits 60 s for its turn
    await first.kill()
    assert "3 firing" not in json.dumps(slack.messages[card]["blocks"])
    await processes("second")
    await slack.wait_for("chat.update", count=2, timeout=15)
    assert "3 firing" in json.dumps(slack.messages[card]["blocks"])


async def test_a_group_message_slack_stored_before_the_kill_is_found_not_posted_again(
    processes: Start, slack: SlackEmulator
) -> None:
    """Killed after Slack stored a group's first message, before the bot noted it: the next process finds
    that message and keeps it current; the alerts channel never gets a second one."""
    alerts = _channel_of(slack, ALERTS)
    first = await processes("first")
    held = slack.hold("chat.postMessage")
    await _alert(first, _fixture("03-firing-group-of-3"))
    [posted] = await slack.wait_for("chat.postMessage", timeout=10)
    await first.kill()
    held.set()
    second = await processes("second")
    await _alert(second, _fixture("04-firing-group-one-resolved"))

    def shown() -> str:  # the message as last updated: the resumed first render may come before the second's
        updates = [call for call in slack.calls_to("chat.update") if call.ok]
        return json.dumps(slack.messages[(alerts, str(updates[-1].args["ts"]))]["blocks"]) if updates else ""

    await _until(lambda: "2 firing" in shown())
    in_alerts = [c for c in slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == alerts]
    assert in_alerts == [posted]
    assert "2 firing" in shown(), shown()


async def test_a_runbook_slack_stored_before_the_kill_is_posted_once(
    processes: Start, slack: SlackEmulator, redis: Redis, keys: Keys
) -> None:
    """Killed after Slack stored a runbook post, before the bot marked it done: posted once, noted once."""
    first = await processes("first")
    declared = _fixture("01-firing-single-critical")
    await _alert(first, declared)
    await slack.wait_for("chat.postMessage", count=3, timeout=10)  # the card, the announcement, its runbook link
    latency = _with_alert(declared, "a000000000000002", alertname="CheckoutLatencyHigh")
    latency["alerts"][1]["annotations"]["runbook_url"] = "https://runbooks.example.com/checkout/latency"
    held = slack.hold("chat.postMessage")
    await _alert(first, latency)
    await slack.wait_for("chat.postMessage", count=4, timeout=10)
    await _processed(redis, keys)
    await first.kill()
    held.set()
    second = await processes("second")
    await slack.wait_for("conversations.history", timeout=15)  # the retry looks for the post before posting
    await _processed(redis, keys)
    await asyncio.sleep(1)  # the second process's repair rounds (every 0.2 s) have had five turns to post again
    posts = [c for c in slack.calls_to("chat.postMessage") if c.ok and "checkout/latency" in str(c.args["text"])]
    assert len(posts) == 1
    runbooks = [e for e in await _timeline(second) if e["kind"] == "runbook" and "latency" in e["text"]]
    assert len(runbooks) == 1


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, list[int]]]:
    """A notification gateway that answers 503 to the first page and 200 after: its URL and the statuses."""
    answered: list[int] = []

    async def sms(request: web.Request) -> web.Response:
        answered.append(503 if not answered else 200)
        return web.Response(status=answered[-1])

    app = web.Application()
    app.router.add_post("/sms", sms)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/sms")), answered


async def test_a_page_webhook_in_its_retry_window_is_delivered_once_by_the_next_process(
    processes: Start, slack: SlackEmulator, gateway: tuple[str, list[int]], tmp_path: Path
) -> None:
    """Killed while a gateway's 503 waited out its backoff: the next process delivers the page, once."""
    url, answered = gateway
    oncall = {
        "rotations": {"primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"}},
        "escalation_policies": {"p": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "30m"}]}},
        "default_escalation_policy": "p",
        "page_on_declare": [1],
        "users": {PRIMARY: {"notify_webhook": url}},
    }
    (tmp_path / "oncall.yaml").write_text(json.dumps(oncall))
    paging = {
        "ONCALL_CONFIG": str(tmp_path / "oncall.yaml"),
        "PAGE_ACK_SECRET": "faults-page-ack-secret",
        "PUBLIC_URL": "https://bot.example",
        "SLACK_EFFECT_BACKOFF": "3",
    }
    first = await processes("first", **paging)
    await _alert(first, _fixture("01-firing-single-critical"))
    for _ in range(100):  # bounded: 10 s: the DM is out, and the gateway's 503 waits out its 3 s backoff
        if answered and "paged" in [event["kind"] for event in await _timeline(first)]:
            break
        await asyncio.sleep(0.1)
    await first.kill()
    assert answered == [503]
    second = await processes("second", **paging)
    await _until(lambda: len(answered) >= 2)
    assert answered == [503, 200]
    kinds = [event["kind"] for event in await _timeline(second)]
    assert (kinds.count("paged"), kinds.count("page_failed")) == (1, 0)
    dms = [c for c in slack.calls_to("chat.postMessage") if c.ok and slack.dm_user(c.args["channel"]) == PRIMARY]
    assert len(dms) == 1
