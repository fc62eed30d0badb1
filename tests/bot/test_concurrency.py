"""Many people at once on one incident: every action succeeds and reaches the timeline."""

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from tests.bot.harness import Bot


async def test_fifty_concurrent_mixed_actions_all_succeed_and_reach_the_timeline(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """20 notes, 10 updates, 10 roles and 10 leads by 50 people at once: 50 answers of done, 50 entries."""
    bot = await start_bot(slack_concurrency=64)  # all 50 at once within the overload bound (tests/bot/test_overload)
    incident = await bot.declare("Checkout is down sev2")
    channel = incident["channel_id"]
    texts = [f"note observation {n}" for n in range(20)]
    texts += [f"update progress {n}" for n in range(10)]
    texts += [f"role scribe{n} <@U0ROLE{n}>" for n in range(10)]
    texts += [f"lead <@U0LEAD{n}>" for n in range(10)]
    replies = await asyncio.gather(
        *(bot.command(text, user=f"U0USER{n}", channel=channel) for n, text in enumerate(texts))
    )
    assert all(reply.startswith(":white_check_mark:") or "#1" in reply for reply in replies), replies
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    kinds = Counter(event["kind"] for event in events)
    assert (kinds["note"], kinds["update"], kinds["role_assigned"]) == (20, 10, 20)
    actors = {event["actor"] for event in events if event["kind"] != "declared"}
    assert actors == {f"U0USER{n}" for n in range(50)}
