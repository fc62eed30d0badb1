"""On-call overrides: only members or admins, capped, announced to everyone concerned, listed and undone."""

from collections.abc import Awaitable, Callable

import pytest

from domain.paging_config import load_config
from tests.bot.harness import Bot

PRIMARY, STANDIN, ADMIN, EVE, OTHER = "U0PRIMARY", "U0STANDIN", "U0ADMIN", "U0EVE", "U0OTHER"
ONCALL_CHANNEL = "C0ONCALL"
CONFIG = load_config(
    {
        "rotations": {"primary": {"members": [PRIMARY, STANDIN], "shift": "1w", "handoff": "2026-01-05T09:00"}},
        "escalation_policies": {"p": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "5m"}]}},
        "default_escalation_policy": "p",
        "admins": [ADMIN],
        "max_override": "3d",
        "oncall_channel": ONCALL_CHANNEL,
    },
    "oncall.yaml",
)


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    bot = await start_bot(oncall=CONFIG, pager_interval=3600, pager_wake=False)
    bot.slack.add_channel("oncall", channel_id=ONCALL_CHANNEL, members=["U0BOT"])
    return bot


def _dm_texts(bot: Bot, user: str) -> list[str]:
    return [
        str(c.args["text"])
        for c in bot.slack.calls_to("chat.postMessage")
        if bot.slack.dm_user(c.args["channel"]) == user
    ]


@pytest.mark.parametrize("text", [f"oncall override primary <@{EVE}> 2h", f"oncall override primary <@{PRIMARY}> 1h"])
async def test_a_stranger_cannot_take_or_give_a_shift(bot: Bot, text: str) -> None:
    """Someone neither in the rotation nor an admin is refused, and nothing is stored."""
    reply = await bot.command(text, user=EVE)
    assert "Only members of rotation `primary`" in reply
    assert "No overrides" in await bot.command("oncall overrides")


@pytest.mark.parametrize(("length", "answer"), [("4d", "at most 3 d"), ("99999999w", "is too long"), ("1e9w", "not a")])
async def test_an_override_is_capped(bot: Bot, length: str, answer: str) -> None:
    """Longer than max_override (or absurd) gets a clear ephemeral answer, never an error."""
    reply = await bot.command(f"oncall override primary <@{STANDIN}> {length}", user=PRIMARY)
    assert reply.startswith("⚠️")
    assert answer in reply


async def test_an_override_is_announced_and_dmed_to_both(bot: Bot) -> None:
    """A member's override is announced in the on-call channel and DMed to the stand-in and the displaced."""
    reply = await bot.command(f"oncall override primary <@{STANDIN}> 2h", user=ADMIN)
    assert "override 1;" in reply
    announced = [c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == ONCALL_CHANNEL]
    assert announced == [next(iter(_dm_texts(bot, STANDIN)))]
    assert f"<@{STANDIN}> on call for *primary* instead of <@{PRIMARY}>" in announced[0]
    assert len(_dm_texts(bot, PRIMARY)) == 1


async def test_overrides_are_listed_and_cancelled_by_those_concerned(bot: Bot) -> None:
    """`oncall overrides` lists ids; a stranger may not cancel one, the displaced person may."""
    await bot.command(f"oncall override primary <@{STANDIN}> 2h", user=STANDIN)
    assert f"• 1: <@{STANDIN}> for *primary*" in await bot.command("oncall overrides primary")
    assert "may be cancelled by" in await bot.command("oncall override cancel 1", user=OTHER)
    assert (await bot.command("oncall override cancel 1", user=PRIMARY)).startswith("✓ Override 1 is cancelled")
    assert "No overrides" in await bot.command("oncall overrides")
    assert "cancelled override 1" in _dm_texts(bot, STANDIN)[-1]
    assert "There is no override 7" in await bot.command("oncall override cancel 7", user=ADMIN)
