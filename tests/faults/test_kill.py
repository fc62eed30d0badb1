"""`kill -9` between the reply and the Slack post, and between posting a card and noting it: each is done once."""

import aiohttp
import pytest

from sandbox.slack_api import SlackEmulator
from tests.faults.conftest import INCIDENTS, Start
from tests.faults.scenario import command_to

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _posts(slack: SlackEmulator, text: str) -> list[str]:
    """The channels where a message containing `text` was posted."""
    return [str(c.args["channel"]) for c in slack.calls_to("chat.postMessage") if c.ok and text in str(c.args["text"])]


async def test_an_update_cut_off_by_kill_9_is_posted_once_by_the_next_process(
    processes: Start, slack: SlackEmulator
) -> None:
    incidents = next(c.id for c in slack.channels.values() if c.name == INCIDENTS)
    """Killed while Slack held the reply to its post: the next process finds that post and sends the rest."""
    first = await processes("first")
    async with aiohttp.ClientSession() as session:
        await command_to(session, first, "declare Checkout is down sev2")
        [card] = await slack.wait_for("pins.add")
        channel = str(card.args["channel"])
        await slack.wait_for("chat.postMessage", count=2)  # the card and the announcement
        held = slack.hold("chat.postMessage")
        reply = await command_to(session, first, "update Rolled back the deploy", channel=channel)
        assert "#1" in reply
        await slack.wait_for("chat.postMessage", count=3)  # the update is in the channel; its answer is held
        await first.kill()
        held.set()
        await processes("second")
        await slack.wait_for("chat.postMessage", count=4, timeout=15)  # the announcement of the update
    posts = _posts(slack, "Rolled back the deploy")
    assert sorted(posts) == sorted([channel, incidents])


async def test_a_card_posted_by_a_killed_setup_is_found_not_posted_again(
    processes: Start, slack: SlackEmulator
) -> None:
    """Killed after Slack stored the card and before the bot noted it: the next process pins that card."""
    first = await processes("first")
    held = slack.hold("chat.postMessage")
    async with aiohttp.ClientSession() as session:
        assert "#1" in await command_to(session, first, "declare Checkout is down sev2")
    [card] = await slack.wait_for("chat.postMessage")
    await first.kill()
    held.set()
    await processes("second")
    [pin] = await slack.wait_for("pins.add", timeout=15)
    await slack.wait_for("chat.postMessage", count=2, timeout=15)  # the announcement
    channel = str(card.args["channel"])
    in_channel = [c for c in slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == channel]
    assert len(in_channel) == 1  # one live card
    assert pin.args["channel"] == channel
    assert len(slack.calls_to("conversations.create")) == 1
