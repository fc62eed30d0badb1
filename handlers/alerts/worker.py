"""The alert worker: drains the intake streams through `alert_flows`, in order within each group.

Two lanes: a group's first notification, or one that raises its severity, goes in the priority lane, which is
read in the same command as the inbox, its groups started first; so a new critical group does not wait behind
thousands of repeats. While a batch is worked on, the priority lane is read again every `watch`: an entry of
a group with nothing in hand is processed at once, beside the batch; one of a group in hand joins that group's
entries, after them (a severity raise waits for its own group, not for the batch). While such a new group is
processed, the batch's groups start no further run (for at most `yield_for`): its declaration does not share
the event loop with sixteen runs of the storm. Each batch is split by group: the groups are processed
concurrently (at most `parallel` at once), each group's entries in the order admitted, a run of them at once
while they follow an open incident (`alert_flows.process_run`: one SQL read, one timeline INSERT, one
acknowledgement); a retried entry holds up its own group only. A batch is large (4,096 entries: a storm's
hundred groups then have runs of about forty, where 1,024 gave runs of ten and cost the worker a sixth more
CPU per notification); it waits as JSON, each entry parsed by its run. Should a full batch of priority entries
come back, the inbox entries read with it wait until the priority lane has been read to its end, so a group's
later notification never overtakes its first.

One worker is active at a time (`lease`, renewed by it; the others wait as standbys): two workers reading
one stream would each take part of a group's notifications and process them at once, out of order (39 of
101 groups in a storm with two worker processes). The active worker stops starting runs before its lease
can lapse; the worker that takes the lease over first claims everything left pending, then reads on.

Entries stay pending in the consumer group until processed, so a worker that dies loses nothing: on start,
and every `reclaim_idle`, a worker takes over entries another consumer left unfinished. An entry whose
processing fails (the database refused it, or anything else) is retried with backoff; after `max_attempts`
it goes to the dead-letter stream with its alert states admitted again, and the alerts channel is told.
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from uuid import uuid4

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from handlers.alerts import flows as alert_flows
from handlers.alerts import messages
from handlers.incidents.effects import post
from handlers.services import Services
from storage.alerts import InboxEntry, InboxReader
from storage.lease import Lease

log = structlog.get_logger()

_MAX_BACKOFF = 10.0  # seconds: well under the 30 s after which another worker reclaims the entry


class AlertWorker:
    def __init__(
        self,
        services: Services,
        consumer: str,
        batch: int = 4096,  # entries read at once: a group's run is at most its share of them (see `run`)
        block: timedelta = timedelta(seconds=1),
        reclaim_idle: timedelta = timedelta(seconds=30),
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=0.5),
        parallel: int = 16,
        run: int = 64,  # at most this many of one group's notifications processed together
        watch: timedelta = timedelta(seconds=0.05),
        yield_for: timedelta = timedelta(seconds=2),  # the longest a batch waits for a new group's processing
        on_dead_letter: Callable[[], None] | None = None,  # counts it (bot wires the Prometheus counter)
        urgent: Services | None = None,  # `services` on connections of their own, for new groups (default: the same)
        lease: Lease | None = None,  # which worker is active (None: this one, alone)
        on_active: Callable[[bool], None] | None = None,  # told after each renewal whether it is active (a gauge)
    ) -> None:
        self._lease, self._on_active = lease, on_active
        self._active_until = 0.0  # (loop time) with a lease: start no run after this
        self._term = 0  # how many times this worker became the active one (none with no lease: always active)
        self._urgent_services = urgent or services
        self._on_dead_letter = on_dead_letter
        self._parallel = parallel
        self._run = run
        self._watch = watch
        self._yield_for = yield_for
        self._urgent = 0  # new groups the watch is processing
        self._clear = asyncio.Event()  # set while it processes none
        self._clear.set()
        self._opens_at = 0.0  # (loop time) the batch's groups go on by then at the latest
        self._held: list[InboxEntry] = []  # inbox entries read beside a full priority batch
        self._in_hand: dict[str, list[InboxEntry]] = {}  # each group being processed: its entries not yet done
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._services = services
        self._consumer = consumer
        self._batch = batch
        self._block = block
        self._reclaim_idle = reclaim_idle
        self._progress = asyncio.Condition()
        self._processed = 0
        self._stopping = asyncio.Event()
        self._reader: InboxReader | None = None

    async def run(self) -> None:
        """Process entries until `stop` (with a lease: while this worker holds it)."""
        keeper = asyncio.create_task(self._keep_lease()) if self._lease is not None else None
        try:
            await self._serve()
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            if self._lease is not None:
                with contextlib.suppress(RedisError, OSError):  # else it lapses on its own
                    await self._lease.let_go()
            if self._on_active is not None:
                self._on_active(False)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        next_reclaim = loop.time()
        taken_over = 0  # the term whose predecessor's leftovers are processed (none with no lease)
        while not self._stopping.is_set():
            try:
                async with self._services.alerts.reader() as reader:
                    self._reader = reader
                    await self._services.alerts.ensure_consumer_group()
                    while not self._stopping.is_set():
                        if not self._active() and not await self._lease_held():
                            break
                        if taken_over != self._term:  # newly active: first what the worker before it left
                            term, self._held = self._term, []
                            pending = await self._services.alerts.reclaim(
                                self._consumer, timedelta(0), self._batch, every=True
                            )
                            await self._handle(pending)  # a failure tries again: nothing newer is read first
                            taken_over, next_reclaim = term, loop.time() + self._reclaim_idle.total_seconds()
                        if not self._active():
                            continue
                        if loop.time() >= next_reclaim:
                            await self._handle(await self._services.alerts.reclaim(self._consumer, self._reclaim_idle))
                            next_reclaim = loop.time() + self._reclaim_idle.total_seconds()
                        await self._read_and_handle(reader)
            except (RedisError, SQLAlchemyError, OSError) as error:
                log.warning("alert_worker_storage_unavailable", error=type(error).__name__, detail=str(error))
                with contextlib.suppress(TimeoutError):  # storage is down; the entries wait in Redis
                    await asyncio.wait_for(self._stopping.wait(), timeout=1)
            finally:
                self._reader = None

    def _active(self) -> bool:
        """Whether this worker may start a run: it holds the lease, or has none."""
        return self._lease is None or asyncio.get_running_loop().time() < self._active_until

    async def _lease_held(self) -> bool:
        """Wait until this worker holds the lease; False if stopped meanwhile."""
        assert self._lease is not None
        pause = self._lease.ttl.total_seconds() / 10
        while not self._active():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)
            if self._stopping.is_set():
                return False
        return True

    async def _keep_lease(self) -> None:
        """Take the lease when it is free and renew it while held (every tenth of its time to live); a worker
        counts as active for two thirds of the time to live from each renewal's start, so it stops starting
        runs well before another worker can take over."""
        assert self._lease is not None
        loop, ttl = asyncio.get_running_loop(), self._lease.ttl.total_seconds()
        while True:
            asked, was = loop.time(), self._active()
            try:
                if await self._lease.hold():
                    self._active_until = asked + ttl * 2 / 3
                    if not was:
                        self._term += 1
                        log.info("alert_worker_active", consumer=self._consumer)
            except (RedisError, OSError) as error:  # Redis down: the lease lapses, and so does this worker
                log.warning("alert_worker_lease_unavailable", error=type(error).__name__)
            if self._on_active is not None:
                self._on_active(self._active())
            await asyncio.sleep(ttl / 10)

    async def stop(self) -> None:
        """Finish the entry in hand and return from `run` (a blocked read is woken at once)."""
        self._stopping.set()
        if self._reader is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._reader.interrupt()

    async def idle(self) -> None:
        """Wait until every admitted entry is processed and its Slack work is done (tests, shutdown)."""
        await self.caught_up()
        await self._services.outbox.drain()

    async def caught_up(self) -> None:
        """Wait until every admitted entry is processed: stored, with its Slack work handed to the outbox."""
        redis_has_work = True
        while redis_has_work:
            async with self._progress:
                seen = self._processed
                redis_has_work = await self._services.alerts.pending() > 0
                if redis_has_work:
                    await self._progress.wait_for(self._past(seen))

    def _past(self, seen: int) -> Callable[[], bool]:
        return lambda: self._processed > seen

    async def _read_and_handle(self, reader: InboxReader) -> None:
        held = self._held
        lanes, block = (1, None) if held else (2, self._block)
        priority, inbox = await reader.read(self._consumer, self._batch, block, lanes)
        later = held + inbox
        if len(priority) == self._batch:  # more priority entries may wait: read them before these
            await self._handle(priority)
            self._held = later
            return
        self._held = []
        await self._watching(reader, priority + later)  # the priority lane's groups start first

    async def _watching(self, reader: InboxReader, entries: list[InboxEntry]) -> None:
        """Process the entries while reading the priority lane every `watch`. An entry of a group in hand
        joins its group's entries, after those read before it (a severity raise waits for its own group only);
        one of a group with nothing in hand is processed at once, beside them: a new group waits for no batch."""
        if not entries:
            return
        tasks = {asyncio.create_task(self._process(self._take(entries)))}
        try:
            while not all(task.done() for task in tasks) and not self._stopping.is_set():
                await asyncio.wait(tasks, timeout=self._watch.total_seconds(), return_when=asyncio.ALL_COMPLETED)
                priority, _ = await reader.read(self._consumer, self._batch, None, lanes=1)
                new = []
                for entry in priority:
                    in_hand = self._in_hand.get(entry.group_key)
                    if in_hand is not None:
                        in_hand.append(entry)
                    else:
                        new.append(entry)
                if new:
                    tasks.add(asyncio.create_task(self._urgently(self._take(new))))
        finally:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            self._in_hand.clear()  # every group is done or left pending (also one whose task never started)
        _raise_first(outcomes)

    async def _urgently(self, groups: dict[str, list[InboxEntry]]) -> None:
        """`_process` new groups' entries (with the urgent services) while the batch's groups wait before their
        next run."""
        if not self._urgent:
            self._opens_at = asyncio.get_running_loop().time() + self._yield_for.total_seconds()
            self._clear.clear()
        self._urgent += 1
        try:
            await self._process(groups, gated=False)
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._clear.set()

    async def _handle(self, entries: list[InboxEntry]) -> None:
        """Process the entries, nothing read beside them (a takeover's, a reclaim's, a full priority batch)."""
        try:
            await self._process(self._take(entries))
        finally:
            self._in_hand.clear()  # a group left pending must not hold the next batch's entries of it

    def _take(self, entries: list[InboxEntry]) -> dict[str, list[InboxEntry]]:
        """The entries by group, in order, each group now in hand (`_in_hand`) until its entries are processed:
        taken at once, so that an entry of the group read meanwhile joins them."""
        groups: dict[str, list[InboxEntry]] = {}
        for entry in entries:
            groups.setdefault(entry.group_key, []).append(entry)
        for group in groups.values():
            # In the order admitted: a raise admitted after inbox entries of its group, and read with them,
            # follows them. The sort is stable: within one millisecond the priority lane's entries stay first.
            group.sort(key=lambda entry: entry.admitted)
        self._in_hand.update(groups)
        return groups

    async def _process(self, groups: dict[str, list[InboxEntry]], gated: bool = True) -> None:
        """Each group's entries in order (including those that join it meanwhile), the groups concurrently;
        raises the first storage failure. `gated`: each run first waits (up to `yield_for`) while the watch
        processes a new group; not `gated` (the watch's new groups), they are processed with the urgent
        services."""
        services = self._services if gated else self._urgent_services
        room = asyncio.Semaphore(self._parallel)

        async def in_order(key: str, group: list[InboxEntry]) -> None:
            try:
                async with room:
                    while group:
                        if gated:
                            await self._yielded()
                        if not self._active():
                            return  # the lease may lapse: the rest stay pending for the worker that takes it over
                        applied = await self._settle_run(services, group[: self._run])
                        if not applied:
                            return  # stopping: the rest stay pending for the next worker
                        del group[:applied]
                        async with self._progress:
                            self._processed += applied
                            self._progress.notify_all()
            finally:
                # No await since `group` was found empty, so nothing joined it unseen. A group left with entries
                # (a failure, the lease, a stop) stays in hand: an entry read later waits, pending, behind them.
                if not group:
                    self._in_hand.pop(key, None)

        _raise_first(await asyncio.gather(*(in_order(*item) for item in groups.items()), return_exceptions=True))

    async def _yielded(self) -> None:
        """Until no new group is being processed, or `yield_for` after one began (a failing one holds up the
        batch that long only)."""
        remaining = self._opens_at - asyncio.get_running_loop().time()
        if not self._clear.is_set() and remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._clear.wait(), remaining)

    async def _settle_run(self, services: Services, run: list[InboxEntry]) -> int:
        """Process a run of one group's entries together (`alert_flows.process_run`), else its first entry
        alone with retries (`_settle`); how many were settled, 0 if stopped meanwhile."""
        if len(run) > 1:
            try:
                applied = await alert_flows.process_run(services, run)
            except (RedisError, OSError):
                log.warning("alert_processing_deferred", entry=run[0].id, run=len(run))  # left pending
                raise
            except Exception as error:  # the first entry goes on alone, with its retries and its dead letter
                log.warning("alert_run_failed", entry=run[0].id, run=len(run), error=type(error).__name__)
            else:
                await self._services.alerts.done_all(run[:applied])
                return applied
        return 1 if await self._settle(services, run[0]) else 0

    async def _settle(self, services: Services, entry: InboxEntry) -> bool:
        """Process the entry, retrying failures with backoff, else bury it; False if stopped meanwhile."""
        while True:
            try:
                await alert_flows.process(services, entry)
            except (RedisError, OSError):
                log.warning("alert_processing_deferred", entry=entry.id)  # left pending: reclaimed later
                raise
            except Exception as error:  # the database (any error of it) or a bug: never dropped silently
                attempts = await self._services.alerts.failed(entry.id)
                if attempts >= self._max_attempts:
                    await self._bury(entry, error, attempts)
                    return True
                log.warning("alert_processing_retried", entry=entry.id, attempt=attempts, error=type(error).__name__)
                delay = min(self._backoff.total_seconds() * 2 ** (attempts - 1), _MAX_BACKOFF)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                if self._stopping.is_set():
                    return False
                continue
            await self._services.alerts.done(entry)
            return True

    async def _bury(self, entry: InboxEntry, error: Exception, attempts: int) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        group, channel = entry.group_key, self._services.alerts_channel
        if channel is not None:  # told first (once): a death before the burial buries it again, told once
            text = messages.dead_lettered(group, attempts, type(error).__name__)
            await self._tell(channel, group, text, once=f"dead-letter:{entry.id}")
        await self._services.alerts.bury(entry, reason)
        log.error("alert_dead_lettered", entry=entry.id, attempts=attempts, error=reason, error_id=uuid4().hex[:8])
        if self._on_dead_letter is not None:
            self._on_dead_letter()

    async def _tell(self, channel: str, group: str, text: str, once: str) -> None:
        """Post the notice durably; with the database refusing (the likely reason for the dead letter), at
        once from memory, since a notice that waits for the database helps nobody."""
        queue = alert_flows.group_queue(group)
        try:
            await self._services.effects.queue(queue, [post(None, text, channel=channel)], once=once)
        except SQLAlchemyError:
            self._services.outbox.submit(queue, lambda: _post(self._services, channel, text))


def _raise_first(outcomes: Sequence[object]) -> None:
    """Raise the first failure among gathered outcomes (each was logged where it happened)."""
    failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
    if failure is not None:
        raise failure


async def _post(services: Services, channel: str, text: str) -> None:
    await services.slack.post(channel, text)
