"""The background loops every process runs beside its server: the alert worker, the pager, the target clocks,
the repair sweep and the postmortem reminders. Each is an aiohttp cleanup context, started after the
resources it uses and stopped before they close."""

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import structlog
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.appkeys import BOLT, REDIS, REMINDERS, URGENT, WORKER
from bot.background import Overlapping, running_every
from bot.settings import Settings
from handlers import SERVICES
from handlers.alerts import AlertWorker
from handlers.incidents.flows import resume_setups
from handlers.incidents.timeline import backfill_journal, move_timeline, repair_timelines
from handlers.metrics import METRICS
from handlers.paging import PAGER
from handlers.postmortems import POSTMORTEMS
from handlers.postmortems.flows import announce_pending
from storage import Keys
from storage.lease import Lease

log = structlog.get_logger()

PRUNE_EVERY = 3600.0  # seconds between prunings of old Slack effects


def install(app: web.Application, settings: Settings) -> None:
    """Run the loops while the application runs; a web process leaves the alerts to the workers."""
    if settings.process_role != "web":
        app.cleanup_ctx.append(lambda app: _alert_worker(app, settings))
    app.cleanup_ctx.append(lambda app: _pager(app, timedelta(seconds=settings.pager_interval), settings.pager_wake))
    app.cleanup_ctx.append(lambda app: _clocks(app, timedelta(seconds=settings.pager_interval)))
    app.cleanup_ctx.append(lambda app: _repair(app, timedelta(seconds=settings.repair_interval)))
    app.cleanup_ctx.append(lambda app: _reminders(app, timedelta(seconds=settings.reminder_interval)))


_WORKER_LEASE = timedelta(seconds=10)  # a standby worker takes over within about this long of a death


async def _alert_worker(app: web.Application, settings: Settings) -> AsyncIterator[None]:
    """Run the alert worker beside the server; each process is its own consumer, and one at a time is active."""
    consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid4().hex[:6]}"
    lease = Lease(app[REDIS], Keys(settings.redis_prefix).alert_worker_lease(), consumer, _WORKER_LEASE)
    worker = AlertWorker(
        app[SERVICES],
        consumer,
        max_attempts=settings.alert_max_attempts,
        backoff=timedelta(seconds=settings.alert_retry_backoff),
        on_dead_letter=app[METRICS].recorder.dead_letters.inc,
        urgent=app[URGENT],
        lease=lease,
        on_active=app[METRICS].recorder.alert_worker_active.set,
    )
    app[WORKER] = worker
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        await worker.stop()
        await task


async def _pager(app: web.Application, interval: timedelta, wake: bool) -> AsyncIterator[None]:
    """Fire escalation deadlines in the background (every process takes part; each timer fires once); with
    `wake`, a page this process creates is fired at once instead of at the next tick."""
    pager = app.get(PAGER)
    if pager is None:
        yield
        return
    with contextlib.suppress(RedisError, OSError):  # Redis down at start: notices resume on a later start
        await pager.handoffs.schedule_all()
    ticks = Overlapping(pager.tick, "pager")  # a tick waiting on a slow Slack does not hold up the next one
    async with running_every(interval, ticks, "pager", wake=pager.woken if wake else None):
        yield
    await ticks.close()


async def _clocks(app: web.Application, interval: timedelta) -> AsyncIterator[None]:
    """Fire target warnings, breaches and update reminders (every process takes part; each timer fires once)."""
    async with running_every(interval, app[METRICS].clocks.tick, "clocks"):
        yield


async def repair(app: web.Application) -> None:
    """Finish what a failure left half done: timeline entries still only in SQL, timelines and escalations
    Redis lost (rebuilt and re-armed from SQL), and incidents stored without a Slack channel, card or
    announcement (those only while Slack is configured)."""
    services = app[SERVICES]
    moved = await move_timeline(services)
    if moved:
        log.info("timeline_entries_recovered", entries=moved)
    await repair_timelines(services)
    await app[METRICS].store.copy_impact()  # the impact windows postmortems recorded
    armed = await app[METRICS].clocks.rearm_missing()
    if armed:
        log.info("target_clocks_recovered", incidents=armed)
    if services.pages is not None:
        rearmed = await services.pages.rearm()
        if rearmed:
            log.warning("pages_rearmed", pages=rearmed)
    resumed = effects = 0
    if BOLT in app:
        resumed = await resume_setups(services)
        effects = await services.effects.resume()
    log.debug("repair_swept", entries=moved, setups=resumed, effects=effects, clocks=armed)


async def _repair(app: web.Application, interval: timedelta) -> AsyncIterator[None]:
    """Run `repair` every `interval`; after it, until one succeeds, the backfill of SQL from timelines written
    before SQL kept every entry (an upgrade's leftovers; a failure is logged and tried again next round); and
    hourly, the pruning of old Slack effects."""
    backfilled, pruned_at = False, float("-inf")

    async def work() -> None:
        nonlocal backfilled, pruned_at
        await repair(app)
        if not backfilled:
            await backfill_journal(app[SERVICES])
            backfilled = True
        if time.monotonic() - pruned_at > PRUNE_EVERY:
            pruned = await app[SERVICES].effects.prune()
            pruned_at = time.monotonic()
            log.debug("slack_effects_pruned", effects=pruned)

    async with running_every(interval, work, "repair"):
        yield


async def _reminders(app: web.Application, interval: timedelta) -> AsyncIterator[None]:
    """Fire postmortem and action-item reminders and the weekly digest (their own timers; each fires once), and
    finish the posts of publications a failure or a crash left unannounced."""
    reminders = app[REMINDERS]
    with contextlib.suppress(RedisError, SQLAlchemyError, OSError):  # storage down: rebuilt on a later start
        await reminders.arm_digest()
        await reminders.rebuild()

    async def follow_up() -> None:
        await reminders.tick()
        finished = await announce_pending(app[POSTMORTEMS])
        if finished:
            log.info("postmortem_announcements_recovered", postmortems=finished)

    async with running_every(interval, follow_up, "reminders"):
        yield
