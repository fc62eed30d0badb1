"""Reminders and the weekly digest on durable timers of their own family (the pager never claims them).

An action item's owner gets a DM the day before it is due, on its due date, and weekly while it is overdue;
a required postmortem's owner the same about the postmortem's due date. Each reminder looks at what is stored
when it fires, so a done item or a published postmortem is reminded of no more. Times come from the clock
in `Services`, so tests move time by hand.

A firing timer queues its DM (or the digest) as a durable effect before it is completed, so a process that
dies in between loses nothing; the timer then fires again, and queues nothing more (the effect is queued
`once` per reminder and day). A Slack failure is retried by the effect queue.
"""

from datetime import UTC, date, datetime, time, timedelta

import structlog

from domain.postmortem import ActionItem, ItemStatus, Postmortem, State, is_overdue
from handlers.postmortems import effects, messages
from handlers.postmortems.flows import Postmortems
from handlers.postmortems.values import ReminderBody, ReminderKind
from storage.timers import Timer

log = structlog.get_logger()

LEASE = timedelta(seconds=60)
WEEK = timedelta(days=7)
HOUR = time(9, 0, tzinfo=UTC)  # reminders go out at 09:00 UTC on their day
_MAX_PER_TICK = 200

_ITEM_KINDS = {ReminderKind.ITEM_SOON, ReminderKind.ITEM_DUE, ReminderKind.ITEM_OVERDUE}
_WHEN = {
    ReminderKind.ITEM_SOON: "due tomorrow",
    ReminderKind.ITEM_DUE: "due today",
    ReminderKind.ITEM_OVERDUE: "overdue",
    ReminderKind.POSTMORTEM_SOON: "due tomorrow",
    ReminderKind.POSTMORTEM_DUE: "due today",
    ReminderKind.POSTMORTEM_OVERDUE: "overdue",
}


def at_nine(day: date) -> datetime:
    return datetime.combine(day, HOUR)


def next_monday(now: datetime) -> datetime:
    """The next Monday 09:00 UTC after `now`, when the digest goes out."""
    day = now.date() + timedelta(days=(7 - now.weekday()) % 7 or 7)
    return at_nine(day)


class Reminders:
    def __init__(self, pms: Postmortems) -> None:
        self._pms = pms

    async def schedule_item(self, item: ActionItem) -> None:
        await self._schedule_pair(item.due, ReminderKind.ITEM_SOON, ReminderKind.ITEM_DUE, item.number, item.id)

    async def schedule_postmortem(self, pm: Postmortem) -> None:
        if pm.required and pm.due is not None:
            soon, due = ReminderKind.POSTMORTEM_SOON, ReminderKind.POSTMORTEM_DUE
            await self._schedule_pair(pm.due, soon, due, pm.number, 0)

    async def arm_digest(self) -> None:
        """Schedule the weekly digest unless it is scheduled already (every process calls this on start)."""
        body = ReminderBody(kind=ReminderKind.DIGEST)
        if self._pms.digest and not await self._pms.timers.scheduled(body.timer_id()):
            await self._pms.timers.schedule(body.timer_id(), next_monday(self._pms.services.clock()), body.dump())

    async def rebuild(self) -> int:
        """Schedule again, from SQL, every reminder still to come: Redis may have lost its timers. Scheduling
        an existing reminder again only sets it to the same time. How many items and postmortems it covered."""
        pms = self._pms
        items = await pms.store.items(status=ItemStatus.OPEN)
        for item in items:
            await self.schedule_item(item)
            await self._overdue_if_lost(
                ReminderKind.ITEM_DUE, ReminderKind.ITEM_OVERDUE, item.number, item.id, item.due
            )
        drafts = [pm for pm in await pms.store.all() if pm.state is not State.PUBLISHED and pm.required]
        for pm in drafts:
            await self.schedule_postmortem(pm)
            if pm.due is not None:
                due, overdue = ReminderKind.POSTMORTEM_DUE, ReminderKind.POSTMORTEM_OVERDUE
                await self._overdue_if_lost(due, overdue, pm.number, 0, pm.due)
        return len(items) + len(drafts)

    async def _overdue_if_lost(
        self, on: ReminderKind, overdue: ReminderKind, number: int, item: int, due: date
    ) -> None:
        """Past its due date with neither its due-day nor its weekly reminder scheduled: the weekly one is lost."""
        if at_nine(due) > self._pms.services.clock():
            return
        ids = [ReminderBody(kind=kind, number=number, item=item).timer_id() for kind in (on, overdue)]
        if not any([await self._pms.timers.scheduled(timer_id) for timer_id in ids]):
            await self._again(ReminderBody(kind=overdue, number=number, item=item), overdue, at_nine(due) + WEEK)

    async def _schedule_pair(self, due: date, soon: ReminderKind, on: ReminderKind, number: int, item: int) -> None:
        now = self._pms.services.clock()
        for kind, when in ((soon, at_nine(due - timedelta(days=1))), (on, at_nine(due))):
            body = ReminderBody(kind=kind, number=number, item=item)
            if when > now:
                await self._pms.timers.schedule(body.timer_id(), when, body.dump())

    async def tick(self) -> int:
        """Fire every due reminder, one claim at a time; how many fired."""
        fired = 0
        while fired < _MAX_PER_TICK:
            due = await self._pms.timers.claim(self._pms.services.clock(), LEASE, limit=1)
            if not due:
                break
            await self.fire(due[0])
            fired += 1
        return fired

    async def fire(self, timer: Timer) -> None:
        body = ReminderBody.load(timer.body)
        once = f"{timer.id}@{self._pms.services.clock().date().isoformat()}"  # this reminder, today
        if body.kind is ReminderKind.DIGEST:
            await self._digest(body, once)
        elif body.kind in _ITEM_KINDS:
            await self._item(body, once)
        else:
            await self._postmortem(body, once)
        await self._pms.timers.complete(timer.id)

    async def _send(self, channel: str, text: str, once: str) -> None:
        """Queue the message durably, once per reminder and day: a timer that fires again (its process died
        before completing it) queues nothing more."""
        body = effects.message(channel, text, once)
        await self._pms.services.effects.queue(f"reminders:{channel}", [body], once=once)

    async def _item(self, body: ReminderBody, once: str) -> None:
        item = await self._pms.store.item(body.item)
        if item is None or item.status is not ItemStatus.OPEN or item.owner is None:
            return
        await self._send(item.owner, messages.item_reminder(item, _WHEN[body.kind]), once)
        log.info("action_item_reminded", item=item.id, reminder=body.kind.value)
        if body.kind is not ReminderKind.ITEM_SOON:
            await self._again(body, ReminderKind.ITEM_OVERDUE, at_nine(item.due) + WEEK)

    async def _postmortem(self, body: ReminderBody, once: str) -> None:
        pm = await self._pms.store.get(body.number)
        if pm is None or pm.state is State.PUBLISHED or pm.owner is None or pm.due is None:
            return
        await self._send(pm.owner, messages.postmortem_reminder(pm, _WHEN[body.kind]), once)
        log.info("postmortem_reminded", incident=pm.number, reminder=body.kind.value)
        if body.kind is not ReminderKind.POSTMORTEM_SOON:
            await self._again(body, ReminderKind.POSTMORTEM_OVERDUE, at_nine(pm.due) + WEEK)

    async def _again(self, body: ReminderBody, kind: ReminderKind, first: datetime) -> None:
        """Weekly while overdue: the next reminder a week after the first overdue one (or after this one)."""
        now = self._pms.services.clock()
        when = first if first > now else now + WEEK
        following = ReminderBody(kind=kind, number=body.number, item=body.item)
        await self._pms.timers.schedule(following.timer_id(), when, following.dump())

    async def _digest(self, body: ReminderBody, once: str) -> None:
        pms, now = self._pms, self._pms.services.clock()
        channel = pms.services.incidents_channel
        if pms.digest and channel:
            items = [i for i in await pms.store.items(status=ItemStatus.OPEN) if i.overdue(now.date())]
            overdue = [p for p in await pms.store.all() if is_overdue(p, now.date())]
            await self._send(channel, messages.digest(items, overdue), once)
            log.info("postmortem_digest_posted", items=len(items), postmortems=len(overdue))
        await pms.timers.schedule(body.timer_id(), next_monday(now), body.dump())
