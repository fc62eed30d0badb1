"""Paging and escalation through the running bot: pages go out once, escalate on time, stop on acknowledgement."""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.appkeys import ENGINE
from domain.paging_config import load_config
from handlers.paging import LEASE, PAGER
from handlers.slack import ActionId
from tests.bot.harness import ALICE, Bot, pool_taken
from tests.faults.scenario import with_webhook

PRIMARY, SECONDARY, MANAGER, PAYMENTS_LEAD = "U0PRIMARY", "U0SECOND", "U0MANAGER", "U0PAYLEAD"

CONFIG = load_config(
    {
        "timezone": "Europe/Berlin",
        "rotations": {
            "primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"},
            "secondary": {"members": [SECONDARY], "shift": "1d", "handoff": "2026-01-05T09:00"},
        },
        "escalation_policies": {
            "platform": {
                "steps": [
                    {"targets": ["rotation:primary"], "ack_timeout": "5m"},
                    {"targets": ["rotation:secondary", f"user:{MANAGER}"], "ack_timeout": "10m"},
                ],
                "repeat": 1,
            },
            "payments": {"steps": [{"targets": [f"user:{PAYMENTS_LEAD}"], "ack_timeout": "5m"}]},
        },
        "services": {"checkout": {"escalation_policy": "payments"}},
        "default_escalation_policy": "platform",
        "page_on_declare": [1, 2],
    },
    "test-oncall.yaml",
)


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    """A bot whose own pager loop stays out of the way: the tests fire timers with `tick`."""
    return await start_bot(oncall=CONFIG, pager_interval=3600, pager_wake=False)


async def tick(bot: Bot, after: timedelta = timedelta(0)) -> int:
    """Move the clock on and let the pager handle what is due."""
    bot.clock.advance(after)
    handled: int = await bot.http.app[PAGER].tick()
    await bot.settle()
    return handled


def dms(bot: Bot) -> list[str]:
    """Who got a page DM, in order (hand-off notices and other DMs are not pages)."""
    posts = bot.slack.calls_to("chat.postMessage")
    return [
        str(bot.slack.dm_user(c.args["channel"])) for c in posts if c.ok and str(c.args["text"]).startswith("Paged:")
    ]


async def kinds(bot: Bot, number: int = 1) -> list[str]:
    return [e["kind"] for e in (await bot.api(f"/api/incidents/{number}/timeline"))["events"]]


async def test_a_new_page_is_fired_without_waiting_for_the_tick(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """With the pager's loop an hour apart, a SEV-1 declaration still pages at once: creating the page wakes it."""
    bot = await start_bot(oncall=CONFIG, pager_interval=3600)
    await bot.declare("Checkout is down sev1")
    await asyncio.wait_for(_paged(bot), timeout=5)
    assert dms(bot) == [PRIMARY]


async def test_a_page_goes_out_while_the_shared_pool_is_taken(bot: Bot) -> None:
    """The pager has connections of its own: with every connection of the shared pool held (an alert storm's
    runs and Slack work), a due page still reads what it needs and its DM goes out."""
    await bot.declare("Checkout is down sev1")
    async with pool_taken(bot.http.app[ENGINE]):
        ticking = asyncio.create_task(bot.http.app[PAGER].tick())
        await asyncio.wait_for(_paged(bot), timeout=10)  # what follows the DM (its notices) may wait its turn
    assert await ticking == 1
    assert dms(bot) == [PRIMARY]


async def _paged(bot: Bot) -> None:
    while not dms(bot):
        await bot.slack.changed(bot.slack.version, timeout=1)


async def test_sev1_pages_the_first_step_once(bot: Bot) -> None:
    """A SEV-1 declaration pages the primary on-call by DM with an Acknowledge button, in the channel too."""
    incident = await bot.declare("Checkout is down sev1")
    assert await tick(bot) == 1
    assert await tick(bot) == 0
    assert dms(bot) == [PRIMARY]
    dm = next(c for c in bot.slack.calls_to("chat.postMessage") if str(c.args["text"]).startswith("Paged:"))
    assert ActionId.PAGE_ACKNOWLEDGE in json.dumps(dm.args["blocks"])
    posts = [
        c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == incident["channel_id"]
    ]
    assert any(f"<@{PRIMARY}>" in text for text in posts)
    assert PRIMARY in bot.slack.channels[incident["channel_id"]].members
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [e["text"] for e in events if e["kind"] == "paged"] == [f"Paged <@{PRIMARY}> (escalation policy platform)"]


async def test_sev3_pages_nobody(bot: Bot) -> None:
    """Severities outside page_on_declare page no one."""
    await bot.declare("Slow search sev3")
    assert await tick(bot, timedelta(hours=1)) == 0
    assert dms(bot) == []


async def test_unacknowledged_page_escalates_repeats_and_gives_up(bot: Bot) -> None:
    """No acknowledgement: each step on its deadline, the policy once more, then everyone hears nobody answered."""
    incident = await bot.declare("Checkout is down sev1")
    await tick(bot)
    await tick(bot, timedelta(minutes=4, seconds=59))
    assert dms(bot) == [PRIMARY]
    await tick(bot, timedelta(seconds=1))  # step 1's deadline: the pager moves to step 2
    step_2 = {SECONDARY, MANAGER}  # a step's people are paged at once, in no particular order
    assert dms(bot)[0] == PRIMARY
    assert set(dms(bot)[1:]) == step_2
    await tick(bot, timedelta(minutes=10))  # repeat: step 1 again
    await tick(bot, timedelta(minutes=5))
    assert dms(bot)[3] == PRIMARY
    assert set(dms(bot)[4:]) == step_2
    assert len(dms(bot)) == 6
    await tick(bot, timedelta(minutes=10))
    assert (await kinds(bot)).count("escalated") == 3
    assert (await kinds(bot))[-1] == "unanswered"
    texts = [(c.args["channel"], c.args["text"]) for c in bot.slack.calls_to("chat.postMessage")]
    assert (
        incident["channel_id"],
        "🚨 Nobody acknowledged incident #1 Checkout is down after the whole escalation policy.",
    ) in texts
    assert any(ch == bot.incidents_channel and "Nobody acknowledged" in t for ch, t in texts)
    assert await tick(bot, timedelta(hours=1)) == 0


@pytest.mark.parametrize("how", ["dm_button", "command", "card_button"])
async def test_acknowledgement_stops_escalation(bot: Bot, how: str) -> None:
    """Acknowledging by the DM button, /incident ack or the card stops the escalation and sets acknowledged_at."""
    incident = await bot.declare("Checkout is down sev1")
    await tick(bot, timedelta(minutes=1))
    value = json.dumps({"number": 1})
    if how == "dm_button":
        assert (await bot.click(ActionId.PAGE_ACKNOWLEDGE, value, user=PRIMARY)).status == 200
    elif how == "command":
        await bot.command("ack", user=PRIMARY, channel=incident["channel_id"])
    else:
        await bot.click(ActionId.ACKNOWLEDGE, value, user=PRIMARY)
    stored = await bot.api("/api/incidents/1")
    assert stored["acknowledged_at"] == "2026-11-25T03:01:00Z"
    await tick(bot, timedelta(hours=2))
    assert dms(bot) == [PRIMARY]
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [(e["kind"], e["actor"]) for e in events if e["kind"] == "acknowledged"] == [("acknowledged", PRIMARY)]


async def test_concurrent_ticks_page_once(bot: Bot) -> None:
    """Several pagers ticking at the same moment (several processes) page each person once."""
    await bot.declare("Checkout is down sev1")
    await bot.declare("Payments are down sev2")
    pager = bot.http.app[PAGER]
    await asyncio.gather(*(pager.tick() for _ in range(5)))
    await bot.settle()
    assert sorted(dms(bot)) == [PRIMARY, PRIMARY]


async def test_a_live_pager_keeps_its_timer_however_long_slack_takes(bot: Bot) -> None:
    """A pager stuck on Slack for longer than a lease renews it: another pager leaves that page alone (it would
    send the DM a second time) and takes only the next incident's page, whose lease had not begun."""
    await bot.declare("Checkout is down sev1")
    await bot.declare("Payments are down sev2")
    await bot.settle()
    pager = bot.http.app[PAGER]
    slow = replace(pager, renew_every=timedelta(milliseconds=20), concurrency=1)  # one timer at a time
    release = bot.slack.hold("conversations.open")
    slow_tick = asyncio.create_task(slow.tick())
    await bot.slack.wait_for("conversations.open")  # the slow pager is paging incident 1 ...
    bot.clock.advance(LEASE + timedelta(seconds=1))  # ... for longer than a lease
    for _ in range(250):  # bounded: 5 s
        lease = await pager.timers.lease_of("1:declared")
        if lease is not None and lease > bot.clock():
            break
        await asyncio.sleep(0.02)
    assert await pager.tick() == 1  # the other pager takes incident 2's page only
    release.set()
    assert await slow_tick == 1
    await bot.settle()
    assert sorted(dms(bot)) == [PRIMARY, PRIMARY]
    assert [(await kinds(bot, number)).count("paged") for number in (1, 2)] == [1, 1]


async def test_a_pager_that_dies_mid_page_loses_nothing(bot: Bot) -> None:
    """A timer claimed by a process that died is handed out again after its lease, and paged once."""
    await bot.declare("Checkout is down sev1")
    pager = bot.http.app[PAGER]
    [taken] = await pager.timers.claim(bot.clock(), LEASE)  # the dying process takes the first step ...
    assert dms(bot) == []  # ... and pages nobody
    assert await tick(bot, LEASE - timedelta(seconds=1)) == 0
    assert await tick(bot, timedelta(seconds=2)) == 1
    assert dms(bot) == [PRIMARY]
    assert taken.id == "1:declared"


async def fire_and_die_during(bot: Bot, method: str) -> None:
    """Fire the due page timer, and kill that work once Slack has carried out `method` but before its reply
    arrives: a process killed at the worst moment, holding the timer's lease."""
    release, earlier = bot.slack.hold(method), len(bot.slack.calls_to(method))
    pager = bot.http.app[PAGER]
    [timer] = await pager.timers.claim(bot.clock(), LEASE)
    dying = asyncio.create_task(pager.fire(timer))
    await bot.slack.wait_for(method, earlier + 1)
    dying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await dying
    release.set()


@pytest.mark.parametrize(("held", "slack_got_the_page"), [("conversations.open", False), ("chat.postMessage", True)])
async def test_a_pager_killed_while_paging_pages_exactly_once(bot: Bot, held: str, slack_got_the_page: bool) -> None:
    """A process dies while a page DM is on its way. The process that takes the timer over sends the DM if Slack
    never got it, and does not send it again if Slack did (it finds the page's tag in the DM history)."""
    await bot.declare("Checkout is down sev1")  # its page waits on a timer that no pager has fired yet
    await bot.settle()  # the channel and card are set up
    await fire_and_die_during(bot, held)
    assert dms(bot) == ([PRIMARY] if slack_got_the_page else [])
    assert await tick(bot, LEASE + timedelta(seconds=1)) == 1
    assert dms(bot) == [PRIMARY]
    assert (await kinds(bot)).count("paged") == 1
    history = bot.slack.calls_to("conversations.history")
    assert [c.args["include_all_metadata"] for c in history] == ["1"]  # only the takeover had to look


async def test_without_dm_history_a_takeover_pages_again_rather_than_not_at_all(bot: Bot) -> None:
    """An app installed without `im:history` cannot tell whether the dead process's DM went out: it sends it."""
    await bot.declare("Checkout is down sev1")
    await bot.settle()
    await fire_and_die_during(bot, "chat.postMessage")
    bot.slack.fail("conversations.history", "missing_scope")
    assert await tick(bot, LEASE + timedelta(seconds=1)) == 1
    assert dms(bot) == [PRIMARY, PRIMARY]
    assert (await kinds(bot)).count("paged") == 1


async def test_a_page_slack_refuses_is_on_the_timeline_and_in_the_channel(bot: Bot) -> None:
    """A DM Slack refuses is not reported as a page: the timeline and the incident channel say who was not reached."""
    await bot.declare("Checkout is down sev1")
    await bot.settle()
    bot.slack.fail("chat.postMessage", "internal_error")  # the next post is the page DM
    channel = (await bot.api("/api/incidents/1"))["channel_id"]
    assert await tick(bot) == 1
    assert dms(bot) == []
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [e["text"] for e in events if e["kind"] == "page_failed"] == [
        f"Could not page <@{PRIMARY}>: chat.postMessage: internal_error"
    ]
    assert "paged" not in [e["kind"] for e in events]
    said = [c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == channel and c.ok]
    assert f"⚠️ Could not page <@{PRIMARY}>: Slack refused the DM." in said


@pytest.mark.parametrize(
    ("target", "paged"),
    [(f"<@{MANAGER}>", [MANAGER]), ("rotation:secondary", [SECONDARY]), ("service:checkout", [PAYMENTS_LEAD])],
)
async def test_page_by_hand(bot: Bot, target: str, paged: list[str]) -> None:
    """`/incident page` pages a person, a rotation's on-call, or a service's escalation policy."""
    incident = await bot.declare("Queue backlog sev3")
    reply = await bot.command(f"page {target}", channel=incident["channel_id"])
    assert reply.startswith("📟 Paging")
    await tick(bot)
    assert dms(bot) == paged


@pytest.mark.parametrize(
    ("text", "message"),
    [("page bob", "is not a page target"), ("page service:nope", "No escalation policy covers service `nope`")],
)
async def test_bad_page_commands(bot: Bot, text: str, message: str) -> None:
    """Bad targets are answered with what is wrong, and nobody is paged."""
    incident = await bot.declare("Queue backlog sev3")
    assert message in await bot.command(text, channel=incident["channel_id"])
    await tick(bot)
    assert dms(bot) == []


async def test_without_oncall_config_paging_is_explained(start_bot: Callable[..., Awaitable[Any]]) -> None:
    """Without an on-call config, `/incident page` says how to set it up."""
    bot = await start_bot()
    incident = await bot.declare("Queue backlog sev1")
    assert "Paging is not set up" in await bot.command(f"page <@{ALICE}>", channel=incident["channel_id"])


async def test_oncall_shows_now_and_next(bot: Bot) -> None:
    """`/incident oncall` lists each rotation's on-call and who is next, with hand-off times."""
    reply = await bot.command("oncall")
    assert reply.startswith(f"*primary*: <@{PRIMARY}> until <!date^")
    assert f"*secondary*: <@{SECONDARY}> until" in reply
    assert reply.count("then") == 2
    assert "*primary*" in await bot.command("oncall primary")


async def test_override_is_stored_shown_and_paged(bot: Bot) -> None:
    """An override takes the shift: it is shown, stored in SQL, and the rotation's pages go to its holder."""
    reply = await bot.command(f"oncall override primary <@{MANAGER}> 2h", user=PRIMARY)
    assert reply.startswith(f"✓ <@{MANAGER}> is on call for *primary* until <!date^")
    assert f"<@{MANAGER}> (override)" in await bot.command("oncall primary")
    await bot.declare("Checkout is down sev1")
    await tick(bot)
    assert dms(bot) == [MANAGER]
    bot.clock.advance(timedelta(hours=3))
    assert f"*primary*: <@{PRIMARY}> until" in await bot.command("oncall primary")


async def test_override_until_a_local_time(bot: Bot) -> None:
    """`until 09:00` means the next 09:00 in the rotation's timezone (Berlin: 08:00 UTC in winter)."""
    reply = await bot.command(f"oncall override secondary <@{ALICE}> until 09:00", user=SECONDARY)
    assert "|2026-11-25 08:00 UTC> (override 1;" in reply


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oncall nope", "There is no rotation `nope`"),
        (f"oncall override nope <@{ALICE}> 1h", "There is no rotation `nope`"),
        ("oncall override primary bob 1h", "is not a Slack mention"),
        (f"oncall override primary <@{ALICE}> 1y", "`1y` is not a duration"),
        (f"oncall override primary <@{ALICE}> until tea", "`tea` is not a time"),
        (f"oncall override primary <@{ALICE}> until 2020-01-01T00:00", "is in the past"),
        ("oncall a b", "Wrong arguments for `oncall`"),
    ],
)
async def test_bad_oncall_commands(bot: Bot, text: str, message: str) -> None:
    """Bad oncall commands are answered with what is wrong and store nothing."""
    assert message in await bot.command(text)
    assert "(override)" not in await bot.command("oncall")


async def test_members_named_by_email_are_looked_up(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Rotation members given as emails are found with users.lookupByEmail (once) and paged; unknown ones are not."""
    config = load_config(
        {
            "rotations": {"mail": {"members": ["carol@example.com"], "shift": "1d", "handoff": "2026-01-05T09:00"}},
            "escalation_policies": {
                "mail": {"steps": [{"targets": ["rotation:mail", "user:ghost@example.com"], "ack_timeout": "5m"}]}
            },
            "default_escalation_policy": "mail",
            "page_on_declare": [1],
        },
        "test-oncall.yaml",
    )
    bot = await start_bot(oncall=config, pager_interval=3600, pager_wake=False)  # the test ticks
    bot.slack.add_user("carol", email="carol@example.com", user_id="U0CAROL")
    await bot.declare("Checkout is down sev1")
    await bot.declare("Payments are down sev1")
    await tick(bot)
    assert dms(bot) == ["U0CAROL", "U0CAROL"]
    lookups = sorted(c.args["email"] for c in bot.slack.calls_to("users.lookupByEmail"))
    assert lookups == ["carol@example.com", "ghost@example.com"]
    assert (await kinds(bot, 1)).count("page_failed") == 1  # the ghost is a failure, not a page to nobody
    warned = [c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if "ghost@example.com" in c.args["text"]]
    assert len(warned) == 2  # one warning in each incident's channel
    assert "*mail*: <@U0CAROL> until" in await bot.command("oncall mail")  # shown as the person, not the email


async def test_notify_webhook_gets_the_page_and_a_signed_acknowledge_link(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """A person's notify_webhook is POSTed the page (retried after a failure); its link acknowledges once."""
    received: list[dict[str, Any]] = []

    async def gateway(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=503 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/sms", gateway)
    async with TestServer(app, host="127.0.0.1") as server:
        bot = await start_bot(
            oncall=with_webhook(str(server.make_url("/sms"))),
            slack_effect_backoff=0.01,
            page_ack_secret="test-page-ack-secret",
            public_url="https://bot.example",
            pager_interval=3600,
            pager_wake=False,  # the test ticks by hand: a background tick racing it changed what its ticks return
        )
        await bot.declare("Checkout is down sev1")
        await tick(bot)
    assert len(received) == 2  # the 503 was retried
    payload = received[-1]
    assert (payload["user"], payload["incident"]["number"], payload["page_id"]) == (PRIMARY, 1, "1:declared")
    link = urlsplit(payload["acknowledge_url"])
    assert link.netloc == "bot.example"
    forged = link.query.replace("token=", "token=0")
    assert (await bot.http.post(f"{link.path}?{forged}")).status == 403
    assert (await bot.api("/api/incidents/1"))["acknowledged_at"] is None
    response = await bot.http.post(f"{link.path}?{link.query}")
    assert response.status == 200
    await bot.settle()
    stored = await bot.api("/api/incidents/1")
    assert (stored["status"], stored["acknowledged_at"]) == ("acknowledged", "2026-11-25T03:00:00Z")
    assert await tick(bot, timedelta(hours=1)) == 0


async def test_handoff_notice_reaches_the_incoming_on_call_once(bot: Bot) -> None:
    """At a shift change the incoming on-call gets one DM, and the next notice is armed."""
    await tick(bot)  # nothing due yet: the secondary's next hand-off is 2026-11-25 09:00 Berlin
    assert dms(bot) == []
    await tick(bot, timedelta(hours=5))  # 08:00 UTC = 09:00 Berlin
    notices = [c for c in bot.slack.calls_to("chat.postMessage") if "You are now on call" in str(c.args["text"])]
    assert [n.args["text"].split("*")[1] for n in notices] == ["secondary"]
    await tick(bot, timedelta(minutes=1))
    assert len([c for c in bot.slack.calls_to("chat.postMessage") if "You are now on call" in str(c.args["text"])]) == 1
    await tick(bot, timedelta(days=1))
    later = [c for c in bot.slack.calls_to("chat.postMessage") if "You are now on call" in str(c.args["text"])]
    assert len(later) == 2


async def test_the_on_call_back_from_an_override_gets_the_handoff_notice(bot: Bot) -> None:
    """An override's end is a hand-off too: the person whose shift resumes is told, once."""
    await bot.command(f"oncall override primary <@{MANAGER}> 2h", user=PRIMARY)
    await tick(bot, timedelta(hours=2))
    notices = [c for c in bot.slack.calls_to("chat.postMessage") if "You are now on call" in str(c.args["text"])]
    assert [bot.slack.dm_user(n.args["channel"]) for n in notices] == [PRIMARY]
    await tick(bot, timedelta(minutes=1))
    assert len([c for c in bot.slack.calls_to("chat.postMessage") if "You are now on call" in str(c.args["text"])]) == 1
