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


class ManualTime:
    """Monotonic seconds that move only when the test advances them; a sleeper wakes once its deadline is reached."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def deadlines(self) -> list[float]:
        return sorted(deadline for deadline, _ in self._sleepers)

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            return
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + delay, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move time on, wake the sleepers that are due, and let every ready task take its next step first."""
        self.now += seconds
        due = [woken for deadline, woken in self._sleepers if deadline <= self.now]
        self._sleepers = [(deadline, woken) for deadline, woken in self._sleepers if deadline > self.now]
        for woken in due:
            woken.set_result(None)
        await asyncio.sleep(0)  # ready tasks were scheduled before us, so they run their step before we return


class Recorder:
    """Card refreshes that record what state they rendered, optionally held at a gate (a Slack 429 backoff)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.rendered: list[tuple[str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self._changed = asyncio.Condition()

    def job(self, key: str, state: int) -> Job:
        async def render() -> None:
            await self._record(self.started, (key, state))
            await self.gate.wait()
            await self._record(self.rendered, (key, state))

        return render

    async def until(self, what: list[tuple[str, int]], count: int) -> None:
        """Wait until `what` (started or rendered) holds `count` entries."""
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: len(what) >= count)

    async def _record(self, into: list[tuple[str, int]], entry: tuple[str, int]) -> None:
        async with self._changed:
            into.append(entry)
            self._changed.notify_all()


def make_outbox(time: ManualTime, card_interval: float, updates_per_minute: int, burst: int = 20) -> SlackOutbox:
    return SlackOutbox(card_interval, updates_per_minute, burst, monotonic=time, sleep=time.sleep)


async def test_a_burst_on_one_key_renders_the_latest_state_once_more() -> None:
    """The first change renders at once; the rest of a burst waits one interval and renders the latest state."""
    time, recorder = ManualTime(), Recorder()
    outbox = make_outbox(time, card_interval=0.05, updates_per_minute=0)
    outbox.refresh("incident:1", recorder.job("incident:1", 0))
    await recorder.until(recorder.rendered, 1)
    for state in range(1, 30):
        outbox.refresh("incident:1", recorder.job("incident:1", state))
    await time.advance(0)
    assert (time.deadlines, recorder.rendered) == ([0.05], [("incident:1", 0)])
    await time.advance(0.05)
    await outbox.drain()
    assert recorder.rendered == [("incident:1", 0), ("incident:1", 29)]


async def test_a_blocked_key_does_not_pile_up_refreshes() -> None:
    """While a render waits out a backoff, changes over many intervals wait as one refresh of the latest state."""
    time, recorder = ManualTime(), Recorder()
    outbox = make_outbox(time, card_interval=0.01, updates_per_minute=0)
    recorder.gate.clear()
    outbox.refresh("incident:1", recorder.job("incident:1", 0))
    await recorder.until(recorder.started, 1)
    for state in range(1, 20):
        await time.advance(0.01)
        outbox.refresh("incident:1", recorder.job("incident:1", state))
    await time.advance(0.01)
    recorder.gate.set()
    await outbox.drain()
    assert recorder.started == recorder.rendered == [("incident:1", 0), ("incident:1", 19)]


async def test_the_budget_spreads_refreshes_across_incidents_and_every_card_catches_up() -> None:
    """Twenty incidents changing together: the burst goes at once, the rest one per token, each at its latest."""
    time, recorder = ManualTime(), Recorder()
    outbox = make_outbox(time, card_interval=0, updates_per_minute=1200, burst=5)  # 20 a second
    keys = [f"incident:{n}" for n in range(20)]
    for state in range(3):
        for key in keys:
            outbox.refresh(key, recorder.job(key, state))
    await recorder.until(recorder.rendered, 5)
    assert time.deadlines == pytest.approx([n / 20 for n in range(1, 16)])
    await time.advance(0.25)
    await recorder.until(recorder.rendered, 10)
    assert (len(recorder.rendered), len(time.deadlines)) == (10, 10)  # five more in a quarter second, not more
    await time.advance(1)
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


async def test_closing_lets_the_job_under_way_finish_and_drops_the_rest() -> None:
    """A job under way (its Slack call, then its SQL write) finishes; the ones behind it, waiting refreshes and
    work submitted after the close never start: durable effects are resumed by the next process."""
    outbox, ran, started, release = SlackOutbox(card_interval=3600), [], asyncio.Event(), asyncio.Event()

    async def under_way() -> None:
        started.set()
        await release.wait()
        ran.append("under way")

    def job(name: str) -> Job:
        async def run() -> None:
            ran.append(name)

        return run

    outbox.submit("incident:1", under_way)
    outbox.submit("incident:1", job("behind it"))
    outbox.refresh("incident:2", job("first refresh"))
    await started.wait()
    outbox.refresh("incident:2", job("waiting refresh"))
    closing = asyncio.create_task(outbox.close())
    await asyncio.sleep(0)
    outbox.submit("incident:3", job("after the close"))
    release.set()
    await closing
    assert ran[-1] == "under way"
    assert not {"behind it", "after the close", "waiting refresh"} & set(ran)


async def test_closing_cancels_a_job_that_outlasts_the_grace() -> None:
    """A job stuck past the grace period is cancelled, so a stopping process does not hang."""
    outbox, cancelled = SlackOutbox(), []

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    outbox.submit("incident:1", stuck)
    await asyncio.sleep(0)
    await asyncio.wait_for(outbox.close(grace=0.05), timeout=5)
    assert cancelled == [True]
