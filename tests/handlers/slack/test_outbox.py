"""The Slack outbox: serial per key, card refreshes coalesced per key and paced across keys."""

import asyncio

import pytest

from handlers.slack.outbox import Job, SlackOutbox, TokenBucket


@pytest.mark.parametrize(
    ("rate", "burst", "at", "waits"),
    [
        (1.0, 2, [0, 0, 0, 0], [0, 0, 1, 2]),  # two saved up, then one a second, queued in order
        (1.0, 2, [0, 0, 5, 5, 5], [0, 0, 0, 0, 1]),  # five idle seconds refill only up to the burst
        (0.5, 1, [0, 1, 2], [0, 1, 2]),  # the third waits for the second's slot to pass: at 4
        (10.0, 1, [0, 0.1, 0.2], [0, 0, 0]),  # a slow caller never waits
    ],
)
def test_token_bucket(rate: float, burst: int, at: list[float], waits: list[float]) -> None:
    """A reservation waits for its own token, after every earlier reservation's."""
    bucket = TokenBucket(rate, burst)
    assert [pytest.approx(bucket.reserve(now)) for now in at] == waits


class Recorder:
    """Card refreshes that record what state they rendered, optionally held at a gate (a Slack 429 backoff)."""

    def __init__(self) -> None:
        self.rendered: list[tuple[str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def job(self, key: str, state: int) -> Job:
        async def render() -> None:
            await self.gate.wait()
            self.rendered.append((key, state))

        return render


async def test_a_burst_on_one_key_renders_the_latest_state_once_more() -> None:
    """The first change renders at once; the rest of a burst becomes a single render of the latest state."""
    outbox, recorder = SlackOutbox(card_interval=0.05, updates_per_minute=0), Recorder()
    outbox.refresh("incident:1", recorder.job("incident:1", 0))
    await asyncio.sleep(0.01)
    for state in range(1, 30):
        outbox.refresh("incident:1", recorder.job("incident:1", state))
    await outbox.drain()
    assert recorder.rendered == [("incident:1", 0), ("incident:1", 29)]


async def test_a_blocked_key_does_not_pile_up_refreshes() -> None:
    """While a render waits out a backoff, later changes wait as one refresh, not one per interval."""
    outbox, recorder = SlackOutbox(card_interval=0.01, updates_per_minute=0), Recorder()
    recorder.gate.clear()
    outbox.refresh("incident:1", recorder.job("incident:1", 0))
    for state in range(1, 20):
        await asyncio.sleep(0.01)
        outbox.refresh("incident:1", recorder.job("incident:1", state))
    recorder.gate.set()
    await outbox.drain()
    assert recorder.rendered[0] == ("incident:1", 0)
    assert recorder.rendered[-1] == ("incident:1", 19)
    assert len(recorder.rendered) <= 3


async def test_the_budget_spreads_refreshes_across_incidents_and_every_card_catches_up() -> None:
    """Twenty incidents changing together: the burst goes at once, the rest one per token, each at its latest."""
    outbox, recorder = SlackOutbox(card_interval=0, updates_per_minute=1200, burst=5), Recorder()  # 20 a second
    keys = [f"incident:{n}" for n in range(20)]
    for state in range(3):
        for key in keys:
            outbox.refresh(key, recorder.job(key, state))
    await asyncio.sleep(0.25)
    assert 5 <= len(recorder.rendered) <= 11  # the burst, then at most five more in a quarter second
    await outbox.drain()
    assert sorted(recorder.rendered) == sorted((key, 2) for key in keys)


async def test_submitted_jobs_run_in_order_per_key() -> None:
    """Messages for one incident keep their order; a refresh joins the same queue."""
    outbox, recorder = SlackOutbox(card_interval=0, updates_per_minute=0), Recorder()
    for state in range(5):
        outbox.submit("incident:1", recorder.job("incident:1", state))
    outbox.refresh("incident:1", recorder.job("incident:1", 99))
    await outbox.drain()
    assert recorder.rendered == [("incident:1", state) for state in [0, 1, 2, 3, 4, 99]]
